"""An encrypted archive end to end (formats/encryption.md): real messages backed up from the Gmail emulator,
read back, verified and exported; no subject, address, label or Message-ID in any stored file; a flipped byte
in every kind of file found and named; a wrong password exits 12."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver import Archive, Credentials, backup, export, restore, verify
from archiver.cli import app
from archiver.emulator import GmailEmulator
from archiver.errors import AuthError, IntegrityError
from archiver.store.crypto import (
    EncryptedBackend,
    forget_unlocked_keys,
)
from tests.helpers.emulator import PASSWORD, USER, emu_url
from tests.helpers.encrypted import header_needles, new_encrypted_archive, password_in_env
from tests.query.builder import corpus_messages

PW = "archive-pass-9f2c"
LABEL = "Zanzibar-Project-Label"
CREDS = Credentials(password=PASSWORD)


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from password_in_env(monkeypatch, PW)


@pytest.fixture
def mail(emu: GmailEmulator, corpus_dir: Path) -> list[bytes]:
    msgs = [data for _, data, _ in corpus_messages(corpus_dir, step=9)]
    for data in msgs:
        emu.seed(USER, data, labels=("\\Inbox", LABEL))
    return msgs


def _encrypted(tmp_path: Path) -> Path:
    return new_encrypted_archive(tmp_path / "enc", PW)


def _needles(msgs: list[bytes]) -> set[bytes]:
    out = {LABEL.encode(), USER.encode(), PW.encode()} | header_needles(msgs)
    out.update(hashlib.sha256(m).hexdigest().encode() for m in msgs)  # nor the plain blob ids
    return {n for n in out if len(n) >= 10}


def test_backup_read_verify_export_and_nothing_in_plaintext(emu: GmailEmulator, mail: list[bytes],
                                                             tmp_path: Path) -> None:
    path = _encrypted(tmp_path)
    result = backup(path, emu_url(emu), credentials=CREDS)
    assert not result.problems
    emu.seed(USER, b"Subject: second run subject line\r\nMessage-ID: <later@example.org>\r\n\r\nhi\r\n",
             labels=("\\Inbox",))
    assert not backup(path, emu_url(emu), credentials=CREDS).problems  # incremental
    archive = Archive.open(path)
    assert isinstance(archive.backend, EncryptedBackend)
    snap = archive.load(archive.resolve("latest").id)
    blobs = {r.blob_id for r in snap}
    assert {archive.content_id(m) for m in mail} <= blobs
    assert not {hashlib.sha256(m).hexdigest() for m in mail} & blobs  # keyed ids
    assert sorted(archive.get_blob(archive.content_id(m)) for m in mail[:5]) == sorted(mail[:5])
    report = verify(archive, read_data=True)
    assert report.damage == [] and report.packs_read >= 1
    out = tmp_path / "out.mbox"
    exported = export(archive, "latest", "mbox", out)
    assert exported.messages == len(mail) + 1
    stored = [p for p in path.rglob("*") if p.is_file()]
    kinds = {p.relative_to(path).parts[0] for p in stored}
    assert {"packs", "index", "snapshots", "keys", "archive.json"} <= kinds
    needles = _needles(mail) | {b"second run subject line", b"later@example.org"}
    assert len(needles) > 50
    found = {str(p.relative_to(path)): [n for n in needles if n in p.read_bytes()] for p in stored}
    assert {k: v for k, v in found.items() if v} == {}


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["packs", "index", "snapshots", "damage.json"])
def test_a_flipped_byte_in_every_kind_of_file_is_found_and_named(emu: GmailEmulator, mail: list[bytes],
                                                                  tmp_path: Path, kind: str) -> None:
    path = _encrypted(tmp_path)
    assert not backup(path, emu_url(emu), credentials=CREDS).problems
    if kind == "damage.json":  # written by verify when it finds damage: make some, then damage the record
        pack = max((p for p in (path / "packs").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
        _flip(pack, pack.stat().st_size // 2)
        report = verify(Archive.open(path), read_data=True)
        assert report.damage_recorded >= 1
        victim = path / "damage.json"
        assert b"copies" not in victim.read_bytes()  # sealed too
        assert b"copies" in Archive.open(path).backend.read("damage.json")
        _flip(victim, victim.stat().st_size - 3)
        with pytest.raises(IntegrityError, match=re.escape("damage.json")):
            Archive.open(path).backend.read("damage.json")
        return
    victim = max((p for p in (path / kind).rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    name = victim.relative_to(path).as_posix()
    _flip(victim, victim.stat().st_size - 20)  # inside the last chunk's ciphertext
    report = verify(Archive.open(path), read_data=True)
    named = [f for f in report.damage if victim.name in f.id or name in f.detail]
    assert named, report.damage
    assert any(name in f.detail for f in report.damage), report.damage


def test_wrong_password_exits_12_and_the_global_password_command(emu: GmailEmulator, mail: list[bytes],
                                                                tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = _encrypted(tmp_path)
    assert not backup(path, emu_url(emu), credentials=CREDS).problems
    forget_unlocked_keys()
    monkeypatch.setenv("GMAIL_ARCHIVER_ARCHIVE_PASSWORD", "not-it")
    with pytest.raises(AuthError):
        Archive.open(path)
    runner = CliRunner()
    for args in (["verify", str(path)], ["snapshots", str(path)]):
        res = runner.invoke(app, args)
        assert res.exit_code == 12, res.output
        assert "not-it" not in res.output
    res = runner.invoke(app, ["--archive-password-command", f"echo {PW}", "verify", str(path), "--json"])
    assert res.exit_code == 0, res.output
    forget_unlocked_keys()
    monkeypatch.delenv("GMAIL_ARCHIVER_ARCHIVE_PASSWORD")
    res = runner.invoke(app, ["snapshots", str(path)])
    assert res.exit_code == 2 and "encrypted" in res.output


def test_restore_recognises_messages_the_target_holds_by_their_keyed_ids(emu: GmailEmulator,
                                                                        mail: list[bytes],
                                                                        tmp_path: Path) -> None:
    """Restore compares the target's messages with archived blobs through the archive's id function: into
    the very account backed up, every message is found present and nothing is uploaded."""
    path = _encrypted(tmp_path)
    assert not backup(path, emu_url(emu), credentials=CREDS).problems
    result = restore(path, emu_url(emu), credentials=CREDS)
    assert result.selected == len(mail)
    assert (result.uploaded, result.conflicts, result.failed) == (0, [], [])
    assert result.already_present == len(mail)
