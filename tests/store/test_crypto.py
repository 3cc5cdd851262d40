"""Encryption at rest at the backend level (formats/encryption.md): sealed files round-trip and detect
every change, range reads open only what they need, keyed ids, key files, and no plaintext of real messages
in any stored file."""

from __future__ import annotations

import email
import email.policy
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver.errors import AuthError, FormatError, IntegrityError, UsageError
from archiver.store import Archive
from archiver.store.backend import LocalBackend
from archiver.store.crypto import (
    EncryptedBackend,
    MasterKey,
    add_key,
    change_password,
    cheap_kdf_for_tests,
    encrypt_new_archive,
    encryption_of,
    forget_unlocked_keys,
    list_keys,
    open_encrypted,
    remove_key,
    stream,
)
from archiver.store.crypto.keyring import key_ids
from archiver.store.crypto.keys import keyed_id

KIND_NAMES = ("packs/ab/" + "ab" * 32, "index/" + "cd" * 32, "snapshots/" + "ef" * 32, "dicts/" + "01" * 32,
              "damage.json")
"""One name of every kind of sealed file."""


@pytest.fixture(autouse=True)
def _cheap_kdf() -> Iterator[None]:
    with cheap_kdf_for_tests():
        yield
    forget_unlocked_keys()


def _enc(tmp_path: Path) -> tuple[LocalBackend, EncryptedBackend]:
    inner = LocalBackend(tmp_path / "a")
    return inner, EncryptedBackend(inner, MasterKey.generate())


SIZES = (0, 1, 1023, 1024, 1025, 2048, 3000, 5 * 1024)


@pytest.mark.parametrize("size", SIZES)
def test_sealed_files_round_trip_and_range_reads_cross_chunk_boundaries(tmp_path: Path, size: int) -> None:
    inner, enc = _enc(tmp_path)
    data = os.urandom(size)
    name = "packs/ab/" + "ab" * 32
    # 1 KiB chunks (the header names the size) so that a small file has many boundaries
    inner.write_if_absent(name, stream.seal(enc._seal_key, name, data, chunk_log2=10))
    assert enc.read(name) == data
    assert inner.size(name) == stream.sealed_size(size, 1024)
    points = sorted({0, 1, 1023, 1024, 1025, 2047, 2048, 2049, size - 1, size, size + 1} - {-1})
    for offset in points:
        for length in (1, 2, 1024, 1025, 4096):
            assert enc.read_range(name, offset, length) == data[offset:offset + length], (offset, length)
    assert enc.read_range(name, size + 5000, 10) == b""


def test_default_chunks_and_size(tmp_path: Path) -> None:
    _, enc = _enc(tmp_path)
    data = os.urandom(200_000)  # 4 chunks of 64 KiB, the last partial
    enc.write_if_absent("packs/aa/x", data)
    assert enc.size("packs/aa/x") == len(data)
    assert enc.read_range("packs/aa/x", 65536 - 3, 6) == data[65533:65539]
    assert enc.read("packs/aa/x") == data


def test_two_seals_of_the_same_bytes_differ(tmp_path: Path) -> None:
    """Fresh salt and nonce prefix per file: equal plaintexts are not visible as equal files."""
    inner, enc = _enc(tmp_path)
    enc.write_if_absent("index/a", b"same bytes" * 100)
    enc.write_if_absent("index/b", b"same bytes" * 100)
    assert inner.read("index/a")[stream.HEADER:] != inner.read("index/b")[stream.HEADER:]
    assert inner.read("index/a")[5:stream.HEADER] != inner.read("index/b")[5:stream.HEADER]


@pytest.mark.parametrize("name", KIND_NAMES)
def test_a_flipped_byte_anywhere_in_any_kind_of_file_is_detected_and_named(tmp_path: Path, name: str) -> None:
    inner, enc = _enc(tmp_path)
    data = os.urandom(1500)  # two chunks of 1 KiB
    inner.write_if_absent(name, stream.seal(enc._seal_key, name, data, chunk_log2=10))
    path = inner.root / name
    good = path.read_bytes()
    for i in range(len(good)):
        bad = bytearray(good)
        bad[i] ^= 0x01
        path.write_bytes(bytes(bad))
        with pytest.raises(IntegrityError, match=re.escape(name)):
            enc.read(name)
        with pytest.raises(IntegrityError, match=re.escape(name)):
            enc.read_range(name, (max(0, i - stream.HEADER) // 1040) * 1024, 1)
    path.write_bytes(good)
    assert enc.read(name) == data


def test_truncation_extension_reordering_and_renaming_are_detected(tmp_path: Path) -> None:
    inner, enc = _enc(tmp_path)
    name, data = "packs/ab/one", os.urandom(3 * 1024)  # exactly three full chunks
    sealed = stream.seal(enc._seal_key, name, data, chunk_log2=10)
    step, h = 1024 + stream.TAG, stream.HEADER
    chunks = [sealed[h + i * step:h + (i + 1) * step] for i in range(3)]
    variants = {
        "truncated at a chunk boundary": sealed[:h + 2 * step],
        "truncated mid-chunk": sealed[:h + 2 * step + 100],
        "header only": sealed[:h],
        "extended by a copy of a chunk": sealed + chunks[2],
        "extended by a byte": sealed + b"\0",
        "chunks swapped": sealed[:h] + chunks[1] + chunks[0] + chunks[2],
    }
    for why, bad in variants.items():
        inner.replace(name, bad)
        with pytest.raises(IntegrityError, match=name):
            enc.read(name)
        with pytest.raises(IntegrityError, match=name):
            enc.read_range(name, 0, len(data))
        if why.startswith("truncated"):  # a range read of the end alone sees it too
            with pytest.raises(IntegrityError, match=name):
                enc.read_range(name, 2 * 1024 - 10, 20 + 1024)
    inner.replace(name, sealed)
    inner.write_if_absent("packs/ab/two", sealed)  # the same sealed bytes under another name
    with pytest.raises(IntegrityError, match="packs/ab/two"):
        enc.read("packs/ab/two")
    with pytest.raises(IntegrityError, match="packs/ab/two"):
        enc.read_range("packs/ab/two", 1024, 10)
    assert enc.read(name) == data


def test_another_archives_key_reads_nothing(tmp_path: Path) -> None:
    inner, enc = _enc(tmp_path)
    enc.write_if_absent("snapshots/s", b"record")
    with pytest.raises(IntegrityError, match="snapshots/s"):
        EncryptedBackend(inner, MasterKey.generate()).read("snapshots/s")


def test_keyed_ids_depend_on_the_key_and_are_not_the_sha256() -> None:
    m1, m2 = MasterKey.generate(), MasterKey.generate()
    msg = b"Subject: hello\r\n\r\nbody\r\n"
    ids = {keyed_id(m1.id_key, msg), keyed_id(m2.id_key, msg), hashlib.sha256(msg).hexdigest()}
    assert len(ids) == 3
    assert all(re.fullmatch(r"[0-9a-f]{64}", i) for i in ids)
    assert keyed_id(m1.id_key, msg) == keyed_id(m1.id_key, msg)
    assert m1.id_key != m1.seal_key


def _new_encrypted(tmp_path: Path, password: str = "correct horse") -> Path:
    path = tmp_path / "arch"
    Archive.init(path)
    encrypt_new_archive(path, password)
    forget_unlocked_keys()
    return path


def test_init_open_and_wrong_password(tmp_path: Path) -> None:
    path = _new_encrypted(tmp_path)
    doc = encryption_of(path)
    assert doc is not None and doc["aead"] == "aes-256-gcm" and doc["ids"] == "hmac-sha256"
    assert "correct horse" not in (path / "archive.json").read_text()
    with pytest.raises(AuthError) as err:
        open_encrypted(path, "wrong horse")
    assert err.value.exit_code == 12 and "wrong horse" not in str(err.value)
    with pytest.raises(UsageError, match="no archive password"):
        open_encrypted(path, None)
    enc = open_encrypted(path, "correct horse")
    assert isinstance(enc, EncryptedBackend)
    enc.write_if_absent("index/x", b"segment")
    assert open_encrypted(path, None).read("index/x") == b"segment"  # unlocked once per process
    Archive.init(tmp_path / "plain")
    assert isinstance(open_encrypted(tmp_path / "plain", None), LocalBackend)  # a plain archive: as it is
    with pytest.raises(UsageError, match="encrypted already"):
        encrypt_new_archive(path, "x")
    plain = tmp_path / "full"
    Archive.init(plain)
    LocalBackend(plain).write_if_absent("index/" + "a" * 64, b"data")
    with pytest.raises(UsageError, match="holds data already"):
        encrypt_new_archive(plain, "x")


def test_an_interrupted_init_is_finished_by_running_it_again(tmp_path: Path) -> None:
    path = tmp_path / "arch"
    Archive.init(path)
    b = LocalBackend(path)
    from archiver.store.crypto import keyring

    keyring.create(b, "pw")  # the first key file, then a crash before archive.json named the scheme
    assert encryption_of(path) is None
    encrypt_new_archive(path, "pw")
    forget_unlocked_keys()
    assert len(key_ids(b)) == 1
    assert isinstance(open_encrypted(path, "pw"), EncryptedBackend)


def test_key_add_remove_passwd(tmp_path: Path) -> None:
    path = _new_encrypted(tmp_path, "first")
    enc = open_encrypted(path, "first")
    enc.write_if_absent("snapshots/s", b"record")
    (first,) = list_keys(path)
    with pytest.raises(UsageError, match="last key"):
        remove_key(path, "first", first)
    second = add_key(path, "first", "second")
    assert sorted(list_keys(path)) == sorted([first, second])
    forget_unlocked_keys()
    assert open_encrypted(path, "second").read("snapshots/s") == b"record"
    with pytest.raises(AuthError):
        add_key(path, "nobody", "third")
    remove_key(path, "second", first)  # the other holder removes the first key
    forget_unlocked_keys()
    with pytest.raises(AuthError):
        open_encrypted(path, "first")
    with pytest.raises(UsageError, match="no key"):
        remove_key(path, "second", "0" * 16)
    new_id = change_password(path, "second", "third")
    assert list_keys(path) == [new_id]
    forget_unlocked_keys()
    with pytest.raises(AuthError):
        open_encrypted(path, "second")
    assert open_encrypted(path, "third").read("snapshots/s") == b"record"
    for key in (path / "keys").iterdir():
        text = key.read_bytes()
        assert b"third" not in text and b"second" not in text


def test_a_stray_key_file_wrapping_another_key_is_named(tmp_path: Path) -> None:
    path = _new_encrypted(tmp_path, "pw")
    other = _new_encrypted(tmp_path / "o", "pw")
    (stray,) = (other / "keys").iterdir()
    (path / "keys" / stray.name).write_bytes(stray.read_bytes())
    (mine,) = [k for k in key_ids(LocalBackend(path)) if k != stray.name]
    (path / "keys" / mine).unlink()
    with pytest.raises(FormatError, match=stray.name):
        open_encrypted(path, "pw")


def test_key_files_record_their_kdf_and_real_parameters_are_memory_hard(tmp_path: Path) -> None:
    from archiver.store.crypto.keys import MEMORY_KIB, new_kdf_params

    path = _new_encrypted(tmp_path, "pw")
    (key,) = (path / "keys").iterdir()
    assert '"kdf"' in key.read_text() and '"salt"' in key.read_text()
    with cheap_kdf_for_tests(iterations=1, memory_kib=64):
        assert new_kdf_params().memory_kib == 64
    import archiver.store.crypto.keys as keys

    old, keys._test_cost = keys._test_cost, None  # the real cost, as outside tests
    try:
        params = new_kdf_params()
    finally:
        keys._test_cost = old
    assert params.memory_kib == MEMORY_KIB >= 32 * 1024 and params.iterations >= 3


def _needles(message: bytes) -> set[bytes]:
    """The subject, each address and each word of the subject longer than 6 bytes, as they appear."""
    msg = email.message_from_bytes(message, policy=email.policy.compat32)
    out: set[bytes] = set()
    for header in ("Subject", "From", "To", "Cc"):
        value = msg.get(header)
        if not isinstance(value, str):
            continue
        out.update(w.encode("utf-8", "surrogateescape") for w in re.findall(r"[\w.+-]+@[\w.-]+\w", value))
        if header == "Subject" and len(value.strip()) >= 8:
            out.add(value.strip().encode("utf-8", "surrogateescape")[:40])
    return {n for n in out if len(n) >= 8}


def test_no_plaintext_of_real_messages_in_any_stored_file(tmp_path: Path, corpus_dir: Path) -> None:
    """Real messages stored through the EncryptedBackend: no subject or address, and no plain SHA-256 id,
    is found in any file of the archive folder."""
    path = _new_encrypted(tmp_path, "pw")
    enc = open_encrypted(path, "pw")
    assert isinstance(enc, EncryptedBackend)
    messages = [p.read_bytes() for p in sorted(corpus_dir.rglob("*.eml"))[:200]]
    needles: set[bytes] = set()

    blob = b"".join(messages)
    for m in messages:
        needles |= _needles(m)
        needles.add(hashlib.sha256(m).hexdigest().encode())
        enc.write_if_absent(f"dicts/{enc.content_id(m)}", m)  # one file per message
    enc.write_if_absent("packs/00/" + "0" * 64, blob)  # and all of them in one file
    enc.replace("damage.json", b'{"labels": ["Important-Label-Name"]}')
    needles.add(b"Important-Label-Name")
    assert len(needles) > 100
    stored = b"\n".join(p.read_bytes() for p in path.rglob("*") if p.is_file())
    assert [n for n in needles if n in stored] == []
    assert enc.read("packs/00/" + "0" * 64) == blob


def test_a_password_not_given_comes_from_the_provider_or_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.store.crypto import set_password_provider

    path = _new_encrypted(tmp_path, "pw")
    monkeypatch.setenv("GMAIL_ARCHIVER_ARCHIVE_PASSWORD", "pw")
    assert isinstance(open_encrypted(path, None), EncryptedBackend)
    forget_unlocked_keys()
    asked: list[str] = []
    set_password_provider(lambda url: asked.append(url) or "nope")
    try:
        with pytest.raises(AuthError):
            open_encrypted(path, None)
        assert asked == [str(path)]
    finally:
        set_password_provider(None)
    assert isinstance(open_encrypted(path, None), EncryptedBackend)  # the environment again
