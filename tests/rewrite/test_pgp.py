"""decrypt-pgp over the real gpg: PGP/MIME, inline PGP, signatures, wrong keys, passphrases, broken mail."""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver import mail
from archiver.errors import AuthError
from archiver.ops.rewrite.pgp import DECRYPTED_FROM, decrypt_pgp
from archiver.ops.rewrite.transform import Failed, Rewritten, Unchanged
from tests.conftest import CORPUS
from tests.helpers.gpg import (
    Keyring,
    encrypt,
    inline_pgp_message,
    make_keyring,
    pgp_mime_message,
    share_public,
    stop_agent,
)

BLOB = "ab" * 32
SECRET = "correct horse battery staple"
HEAD = ("Received: from mx.example.org by mx.example.com; Mon, 1 Jan 2024 10:00:05 +0000\r\n"
        "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
        "From: =?utf-8?q?Jos=C3=A9?= <alice@example.org>\r\n"
        "To: Bob <bob@example.org>\r\n"
        "Subject: Grüße, geheim\r\n"
        "Message-ID: <secret-1@example.org>\r\n"
        "References: <parent@example.org>\r\n").encode()
INNER = (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
         + "Héllo, the plan is ready.\r\n".encode())


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Keyring]]:
    base = tmp_path_factory.mktemp("gpg")
    made = {"alice": make_keyring(base / "a", "alice"), "bob": make_keyring(base / "b", "bob"),
            "carol": make_keyring(base / "c", "carol", passphrase=SECRET)}
    share_public(made["bob"], made["alice"])
    share_public(made["alice"], made["bob"])
    share_public(made["carol"], made["alice"])
    yield made
    for k in made.values():
        stop_agent(k.home)


def pgp_mime(armored: bytes, head: bytes = HEAD) -> bytes:
    return pgp_mime_message(head, armored)


def header_lines(data: bytes) -> list[bytes]:
    return mail.header_block(data).split(b"\r\n")


def test_pgp_mime_keeps_the_headers_and_gains_the_marker(keys: dict[str, Keyring]) -> None:
    alice = keys["alice"]
    original = pgp_mime(encrypt(alice, INNER, alice))
    out = decrypt_pgp(alice.home)(original, blob_id=BLOB)
    assert isinstance(out, Rewritten), out
    lines = header_lines(out.data)
    # every top-level header but the content ones, byte for byte and in order, then the payload's
    assert lines[:7] == HEAD.rstrip(b"\r\n").split(b"\r\n")
    assert b"MIME-Version: 1.0" in lines and f"{DECRYPTED_FROM}: {BLOB}".encode() in lines
    assert [x for x in lines if x.lower().startswith(b"content-")] == [
        b"Content-Type: text/plain; charset=utf-8", b"Content-Transfer-Encoding: 8bit"]
    assert out.data.endswith(b"\r\n\r\n" + "Héllo, the plan is ready.\r\n".encode())
    assert b"\n" not in out.data.replace(b"\r\n", b"")  # CRLF kept throughout
    parsed = email.message_from_bytes(out.data, policy=email.policy.default)
    assert parsed["Subject"] == "Grüße, geheim" and parsed["From"].addresses[0].display_name == "José"
    assert parsed.get_content().replace("\r\n", "\n") == "Héllo, the plan is ready.\n"
    assert "not signed" in out.note and out.freed == 0
    # a second run finds nothing to do
    assert isinstance(decrypt_pgp(alice.home)(out.data, blob_id="cd" * 32), Unchanged)


def test_signature_status_in_the_note(keys: dict[str, Keyring]) -> None:
    alice, bob = keys["alice"], keys["bob"]
    good = decrypt_pgp(alice.home)(pgp_mime(encrypt(alice, INNER, alice, sign=alice)), blob_id=BLOB)
    assert isinstance(good, Rewritten) and "signature good" in good.note
    assert alice.fingerprint[-16:] in good.note
    out = decrypt_pgp(bob.home)(pgp_mime(encrypt(alice, INNER, bob, sign=alice)), blob_id=BLOB)
    assert isinstance(out, Rewritten) and "signature good" in out.note  # bob holds alice's public key


def test_signature_by_an_unknown_key(keys: dict[str, Keyring], tmp_path: Path) -> None:
    alice = keys["alice"]
    dave = make_keyring(tmp_path / "d", "dave")
    try:
        share_public(alice, dave)
        out = decrypt_pgp(alice.home)(pgp_mime(encrypt(dave, INNER, alice, sign=dave)), blob_id=BLOB)
    finally:
        stop_agent(dave.home)
    assert isinstance(out, Rewritten), out
    assert "signature" in out.note and "good" not in out.note and dave.fingerprint[-16:] in out.note


def test_inline_pgp_in_a_plain_message(keys: dict[str, Keyring]) -> None:
    alice = keys["alice"]
    armored = encrypt(alice, "Grüße aus Köln\n".encode(), alice, sign=alice).rstrip(b"\n")
    for nl in (b"\r\n", b"\n"):
        original = inline_pgp_message(HEAD, armored, b"Hello Bob,\r\n\r\n", b"-- \r\nAlice\r\n"
                                      ).replace(b"\r\n", nl)
        out = decrypt_pgp(alice.home)(original, blob_id=BLOB)
        assert isinstance(out, Rewritten), out
        assert "signature good" in out.note
        assert out.data.startswith(HEAD.replace(b"\r\n", nl))
        parsed = email.message_from_bytes(out.data, policy=email.policy.default)
        text = parsed.get_content().replace("\r\n", "\n")
        assert text == "Hello Bob,\n\nGrüße aus Köln\n-- \nAlice\n"
        assert parsed[DECRYPTED_FROM] == BLOB and b"BEGIN PGP" not in out.data
        assert nl == b"\n" or b"\n" not in out.data.replace(b"\r\n", b"")
        assert isinstance(decrypt_pgp(alice.home)(out.data, blob_id=BLOB), Unchanged)


def test_inline_pgp_in_a_multipart_keeps_the_other_parts(keys: dict[str, Keyring]) -> None:
    alice = keys["alice"]
    attachment = (b"--b1\r\nContent-Type: application/octet-stream; name=\"x.bin\"\r\n"
                  b"Content-Disposition: attachment; filename=\"x.bin\"\r\n"
                  b"Content-Transfer-Encoding: base64\r\n"
                  b"\r\nAAECAwQFBgcICQ==\r\n")
    original = (HEAD + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
                b"--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n"
                b"Content-Transfer-Encoding: 7bit\r\n\r\n"
                + encrypt(alice, "naïve secret\n".encode(), alice).replace(b"\n", b"\r\n") + b"\r\n"
                + attachment + b"--b1--\r\n")
    out = decrypt_pgp(alice.home)(original, blob_id=BLOB)
    assert isinstance(out, Rewritten), out
    assert attachment in out.data and out.data.startswith(HEAD)
    parsed = email.message_from_bytes(out.data, policy=email.policy.default)
    text, att = [p for p in parsed.walk() if not p.is_multipart()]
    assert text.get_content().strip() == "naïve secret" and text.get_content_charset() == "utf-8"
    assert text["Content-Transfer-Encoding"] == "quoted-printable"  # 8-bit text in a 7-bit part
    assert att.get_payload(decode=True) == bytes(range(10))
    assert isinstance(decrypt_pgp(alice.home)(out.data, blob_id=BLOB), Unchanged)


def test_undecryptable_messages_fail_with_the_reason(keys: dict[str, Keyring]) -> None:
    alice, bob = keys["alice"], keys["bob"]
    to_bob = decrypt_pgp(alice.home)(pgp_mime(encrypt(alice, INNER, bob)), blob_id=BLOB)
    assert isinstance(to_bob, Failed) and "no secret key" in to_bob.reason
    armored = bytearray(encrypt(alice, INNER, alice))
    middle = armored.index(b"\n\n") + 20
    armored[middle:middle + 8] = b"AAAAAAAA"
    broken = decrypt_pgp(alice.home)(pgp_mime(bytes(armored)), blob_id=BLOB)
    assert isinstance(broken, Failed) and broken.reason
    lone = (HEAD + b"Content-Type: multipart/encrypted; boundary=x\r\n\r\n"
            b"--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n")
    assert isinstance(decrypt_pgp(alice.home)(lone, blob_id=BLOB), Failed)


def test_plain_mail_is_unchanged(keys: dict[str, Keyring]) -> None:
    out = decrypt_pgp(keys["alice"].home)(HEAD + b"\r\nnothing secret\r\n", blob_id=BLOB)
    assert out == Unchanged("not encrypted")


def test_passphrase_through_the_command(keys: dict[str, Keyring], caplog: pytest.LogCaptureFixture,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    alice, carol = keys["alice"], keys["carol"]
    original = pgp_mime(encrypt(alice, INNER, carol))
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "GPG_TTY"):
        monkeypatch.delenv(name, raising=False)
    stop_agent(carol.home)  # nothing cached: without a command nobody can give the passphrase
    alone = decrypt_pgp(carol.home)(original, blob_id=BLOB)
    assert isinstance(alone, Failed) and "passphrase" in alone.reason
    caplog.set_level(logging.DEBUG)
    wrong = decrypt_pgp(carol.home, passphrase_command="printf '%s\\n' 'not it'")
    out = wrong(original, blob_id=BLOB)
    assert isinstance(out, Failed) and "passphrase" in out.reason
    right = decrypt_pgp(carol.home, passphrase_command=f"printf '%s\\n' '{SECRET}' | cat")
    out = right(original, blob_id=BLOB)
    assert isinstance(out, Rewritten), out
    assert SECRET not in repr(right) and SECRET not in out.note and SECRET not in caplog.text
    with pytest.raises(AuthError) as err:
        decrypt_pgp(carol.home, passphrase_command="exit 3")(original, blob_id=BLOB)
    assert "exit 3" in str(err.value)


def test_corpus_never_crashes(keys: dict[str, Keyring]) -> None:
    """Every corpus message: encrypted ones (to keys we do not hold) fail with the reason, others are
    unchanged; none raises."""
    transform = decrypt_pgp(keys["alice"].home)
    seen = {"Failed": 0, "Unchanged": 0}
    for path in sorted(CORPUS.rglob("*.eml")):
        data = path.read_bytes()
        out = transform(data, blob_id=BLOB)
        assert not isinstance(out, Rewritten), path
        seen[type(out).__name__] += 1
        encrypted = b"multipart/encrypted" in mail.header_block(data).lower()
        if encrypted:
            assert isinstance(out, Failed) and out.reason, path
    assert seen["Failed"] >= 10 and seen["Unchanged"] > 500


def signed_entity(by: Keyring, body: bytes) -> tuple[bytes, bytes]:
    """(the part, its RFC 3156 multipart/signed entity) with a detached signature made by the real gpg."""
    part = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
    sig = by.gpg.sign(part, keyid=by.fingerprint, detach=True, binary=False)
    assert sig.data, sig.status
    entity_ = (b'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; '
               b'boundary="sig"\r\n\r\n--sig\r\n' + part + b"\r\n--sig\r\n"
               b'Content-Type: application/pgp-signature; name="signature.asc"\r\n\r\n'
               + bytes(sig.data).replace(b"\n", b"\r\n") + b"\r\n--sig--\r\n")
    return part, entity_


def test_signed_then_encrypted_good_and_bad(keys: dict[str, Keyring]) -> None:
    """RFC 3156 6.1: a multipart/signed payload; its signature is checked after decryption, and a payload
    changed after signing is reported bad."""
    alice = keys["alice"]
    _part, signed = signed_entity(alice, b"Unterschrieben.\r\n")
    out = decrypt_pgp(alice.home)(pgp_mime(encrypt(alice, signed, alice)), blob_id=BLOB)
    assert isinstance(out, Rewritten), out
    assert "signature good" in out.note and "multipart/signed" in out.note
    assert b"Content-Type: multipart/signed" in header_lines(out.data)[-1]
    tampered = signed.replace(b"Unterschrieben.", b"Unterschrieben!")
    bad = decrypt_pgp(alice.home)(pgp_mime(encrypt(alice, tampered, alice)), blob_id=BLOB)
    assert isinstance(bad, Rewritten) and "signature bad" in bad.note, bad
    assert alice.fingerprint[-16:] in bad.note


def test_protected_subject_replaces_the_placeholder(keys: dict[str, Keyring]) -> None:
    """Thunderbird's protected headers: the outer Subject is "...", the real one is inside."""
    alice = keys["alice"]
    inner = (b'Content-Type: multipart/mixed; boundary="in"; protected-headers="v1"\r\n'
             b"From: Alice <alice@example.org>\r\nSubject: Die echte Betreffzeile\r\n\r\n"
             b"--in\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ngeheim\r\n--in--\r\n")
    head = HEAD.replace("Subject: Grüße, geheim".encode(), b"Subject: ...")
    out = decrypt_pgp(alice.home)(pgp_mime(encrypt(alice, inner, alice), head), blob_id=BLOB)
    assert isinstance(out, Rewritten), out
    assert mail.get_all(out.data, "Subject") == ["Die echte Betreffzeile"]
    assert mail.get(out.data, "X-Archiver-Original-Subject") == "..."
    assert "protected headers" in out.note
    # without protected-headers="v1" the outer Subject stays
    plain_inner = inner.replace(b'; protected-headers="v1"', b"")
    out = decrypt_pgp(alice.home)(pgp_mime(encrypt(alice, plain_inner, alice), head), blob_id=BLOB)
    assert isinstance(out, Rewritten) and mail.get_all(out.data, "Subject") == ["..."]
