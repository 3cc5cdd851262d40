"""A damaged message in the archive fails that message only: the rest is restored (Gmail and generic).
(A v1 archive, where one flipped byte damages exactly one message; in v2 it damages messages of one block,
each reported the same way: tests/verify/test_verify_v2.py.)"""

from __future__ import annotations

from pathlib import Path

from archiver import restore
from archiver.emulator import GmailEmulator
from archiver.imap import Credentials
from archiver.model import MessageRecord
from archiver.store import Archive
from archiver.store.pack import pack_path
from tests.helpers.emulator import PASSWORD, USER
from tests.restore.helpers import BASE, Msg, build_archive, message
from tests.servers.dovecot import DovecotServer


def damaged_archive(path: Path, gmail: bool) -> tuple[list[MessageRecord], MessageRecord]:
    msgs = [Msg(message(n, size=2000), labels=("\\Inbox",) if gmail else ("INBOX",), date=BASE + n)
            for n in range(1, 5)]
    records = build_archive(path, msgs, gmail=gmail, version=1)  # one frame per message: a flip costs one
    victim = records[1]
    archive = Archive.open(path)
    loc = archive.index.blobs[victim.blob_id]
    pack = pack_path(archive.layout.packs, loc.pack)
    data = bytearray(pack.read_bytes())
    data[loc.offset + loc.length // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    archive.close()
    return records, victim


def check(result_failed: list[tuple[str, str]], uploaded: int, victim: MessageRecord) -> None:
    assert uploaded == 3
    assert [key for key, _ in result_failed] == [victim.key]
    assert "unreadable in the archive" in result_failed[0][1]


def test_gmail_restore_fails_only_the_damaged_message(tmp_path: Path, emu: GmailEmulator) -> None:
    _, victim = damaged_archive(tmp_path / "a", gmail=True)
    target = f"imap://{USER}@127.0.0.1:{emu.port}"
    cred = Credentials(password=PASSWORD)
    dry = restore(tmp_path / "a", target, credentials=cred, dry_run=True)
    assert sorted((a.kind, a.key) for a in dry.planned if a.kind == "cannot") == [("cannot", victim.key)]
    result = restore(tmp_path / "a", target, credentials=cred)
    check([(p.key, p.reason) for p in result.failed], result.uploaded, victim)
    assert len(emu.messages(USER)) == 3


def test_generic_restore_fails_only_the_damaged_message(tmp_path: Path, dovecot_sdbox: DovecotServer) -> None:
    _, victim = damaged_archive(tmp_path / "a", gmail=False)
    target = f"imap://alice@127.0.0.1:{dovecot_sdbox.port}"
    result = restore(tmp_path / "a", target, credentials=Credentials(password="secret"))
    check([(p.key, p.reason) for p in result.failed], result.uploaded, victim)
