"""The search index of an encrypted archive keeps no plaintext on disk (formats/encryption.md "The search
index"): after `search` and `ls` no subject or address is found in any file of the archive folder (its
cache included); the index is kept sealed, so the next search parses nothing; a changed byte in it costs a
rebuild with the same answers; a plaintext index left by an older version is deleted."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver import Credentials, backup, search
from archiver.cli import app
from archiver.emulator import GmailEmulator
from archiver.ops.search.index import DB_NAME, SEALED_NAME
from tests.helpers.emulator import PASSWORD, USER, emu_url
from tests.helpers.encrypted import files_holding, new_encrypted_archive, password_in_env
from tests.query.builder import corpus_messages

PW = "archive-pass-77ab"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from password_in_env(monkeypatch, PW)


def _subjects_and_addresses(msgs: list[bytes]) -> tuple[set[bytes], set[bytes]]:
    subjects, addresses = set(), set()
    for m in msgs:
        msg = email.message_from_bytes(m, policy=email.policy.compat32)
        subject, sender = msg.get("Subject"), msg.get("From")
        if isinstance(subject, str) and re.fullmatch(r"[ -~]{12,}", subject.strip()):
            subjects.add(subject.strip()[:40].encode())
        if isinstance(sender, str):
            addresses.update(a.encode() for a in re.findall(r"[\w.+-]+@[\w.-]+\w", sender) if len(a) >= 8)
    return subjects, addresses


def test_search_and_ls_leave_no_plaintext_and_the_sealed_index_is_kept(emu: GmailEmulator, corpus_dir: Path,
                                                                       tmp_path: Path) -> None:
    msgs = [data for _, data, _ in corpus_messages(corpus_dir, step=9)]
    for data in msgs:
        emu.seed(USER, data, labels=("\\Inbox",))
    subjects, addresses = _subjects_and_addresses(msgs)
    assert len(subjects) >= 10 and len(addresses) >= 10
    path = new_encrypted_archive(tmp_path / "enc", PW)
    assert not backup(path, emu_url(emu), credentials=Credentials(password=PASSWORD)).problems
    sender = sorted(addresses)[0].decode()

    res = runner.invoke(app, ["search", str(path), f"from:{sender}"])
    assert res.exit_code == 0, res.output
    assert sender in res.output
    res = runner.invoke(app, ["ls", str(path)])
    assert res.exit_code == 0, res.output
    assert any(s.decode() in res.output for s in subjects)  # ls showed subjects out of the index
    assert files_holding(path, subjects | addresses) == {}
    assert (path / "cache" / SEALED_NAME).exists()

    first = search(path, f"from:{sender}", snippets=False)
    assert first.parsed == 0 and first.index_rebuilt is None and first.messages  # kept sealed, not parsed
    sealed = path / "cache" / SEALED_NAME
    data = bytearray(sealed.read_bytes())
    data[len(data) // 2] ^= 0x10
    sealed.write_bytes(bytes(data))
    again = search(path, f"from:{sender}", snippets=False)
    assert again.index_rebuilt is not None and "damaged" in again.index_rebuilt and again.parsed == len(msgs)
    assert [m.key for m in again.messages] == [m.key for m in first.messages]

    (path / "cache" / DB_NAME).write_bytes(b"SQLite format 3\x00" + sorted(subjects)[0])  # an older index
    assert search(path, f"from:{sender}", snippets=False).messages
    assert not (path / "cache" / DB_NAME).exists()
    assert files_holding(path, subjects | addresses) == {}
