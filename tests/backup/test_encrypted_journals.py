"""The journals of an encrypted archive are sealed (formats/encryption.md "Sealed journals"): after an
interrupted backup and an interrupted restore no subject, address, label, Message-ID or folder name is found
in any file of the archive folder (its local state included); the re-runs resume from the sealed journals;
a changed byte in a journal entry is found and named."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver import Archive, Credentials, backup, restore
from archiver.emulator import GmailEmulator
from archiver.errors import Cancelled, IntegrityError
from archiver.ops.backup.checkpoint import CheckpointPolicy
from archiver.progress import NullProgress
from archiver.store.crypto import encrypt_new_archive
from tests.helpers.crash import crash_in_child
from tests.helpers.emulator import PASSWORD, USER, emu_url
from tests.helpers.encrypted import files_holding, header_needles, new_encrypted_archive, password_in_env
from tests.query.builder import corpus_messages

PW = "archive-pass-3c1d"
LABEL = "Zanzibar-Journal-Label"
OTHER, OTHER_PW = "target@gmail.com", "qrstuvwxyzabcdef"
CREDS = Credentials(password=PASSWORD)


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from password_in_env(monkeypatch, PW)


class InterruptAfter(NullProgress):
    """Raises KeyboardInterrupt (as Ctrl-C would) at the ``n``-th message done."""

    def __init__(self, n: int) -> None:
        self.n, self.done = n, 0

    def advance(self, n: int = 1, nbytes: int = 0) -> None:
        self.done += n
        if self.done >= self.n:
            raise KeyboardInterrupt


def _needles(msgs: list[bytes]) -> set[bytes]:
    out = {LABEL.encode(), USER.encode(), OTHER.encode(), b"[Gmail]", b"INBOX"} | header_needles(msgs)
    return {n for n in out if len(n) >= 5}


@pytest.mark.parametrize("emu_accounts", [{OTHER: OTHER_PW}])
def test_interrupted_backup_and_restore_leave_no_plaintext_and_resume(emu: GmailEmulator, corpus_dir: Path,
                                                                      tmp_path: Path) -> None:
    msgs = [data for _, data, _ in corpus_messages(corpus_dir, step=9)]
    for data in msgs:
        emu.seed(USER, data, labels=("\\Inbox", LABEL))
    needles = _needles(msgs)
    path = new_encrypted_archive(tmp_path / "enc", PW)

    with pytest.raises(KeyboardInterrupt):  # checkpoints every few messages, so the journal has entries
        backup(path, emu_url(emu), credentials=CREDS, connections=1, checkpoint=CheckpointPolicy(nbytes=4096),
               progress=InterruptAfter(len(msgs) // 2))
    journals = sorted((path / "journals").glob("backup-*.journal"))
    assert journals and journals[0].stat().st_size > 0
    assert files_holding(path, needles) == {}
    assert b"items" not in journals[0].read_bytes()  # every plaintext backup entry holds the key "items"

    # a changed byte in the first entry (more follow it) is damage naming the journal, not a torn tail
    saved = journals[0].read_bytes()
    assert len(saved) > 200
    damaged = bytearray(saved)
    damaged[8 + 20] ^= 0x01
    crc_ok = bytearray(damaged)  # with the CRC put right: only the seal finds it
    n = struct.unpack_from("<I", crc_ok, 0)[0]
    struct.pack_into("<I", crc_ok, 4, zlib.crc32(bytes(crc_ok[8:8 + n])))
    for bad in (damaged, crc_ok):
        journals[0].write_bytes(bytes(bad))
        with pytest.raises(IntegrityError, match=re.escape(journals[0].name)):
            list(Archive.open(path).journal(journals[0].name.removesuffix(".journal")))
    journals[0].write_bytes(saved)

    before = emu.stats(USER)["body_bytes_sent"]
    done = backup(path, emu_url(emu), credentials=CREDS)
    assert done.complete and done.messages == len(msgs)
    resent = emu.stats(USER)["body_bytes_sent"] - before
    assert resent < 0.75 * sum(len(m) for m in msgs)  # the sealed journal spared what was stored

    target = emu_url(emu, OTHER)
    creds = Credentials(password=OTHER_PW)
    with pytest.raises(Cancelled):
        restore(path, target, credentials=creds, progress=InterruptAfter(3))
    kept = sorted((path / "journals").glob("restore-*.journal"))
    assert kept and kept[0].stat().st_size > 0
    assert b"folder" not in kept[0].read_bytes()  # every plaintext restore entry names its folder
    assert files_holding(path, needles) == {}

    held = len(emu.messages(OTHER))
    assert held >= 1
    again = restore(path, target, credentials=creds)
    assert not again.failed
    assert again.uploaded == again.selected - held  # what the interrupted run uploaded is not sent again
    assert len(emu.messages(OTHER)) == held + again.uploaded


def test_a_sealed_journal_still_cuts_a_torn_tail(tmp_path: Path) -> None:
    """A crash mid-append (a short entry, or a tail of zeros) is cut, as in a plain journal; a plain
    archive's journal stays unsealed, byte for byte the layout.md framing."""
    path = tmp_path / "enc"
    Archive.init(path)
    encrypt_new_archive(path, PW)
    journal = Archive.open(path).journal("restore-x")
    journal.append({"folder": "Secret folder"})
    journal.append({"folder": "Other folder"})
    raw = journal.path.read_bytes()
    assert b"folder" not in raw
    for tail in (raw[:-5], raw + bytes(40)):
        journal.path.write_bytes(tail)
        opened = Archive.open(path).journal("restore-x")
        whole = [{"folder": "Secret folder"}, {"folder": "Other folder"}]
        assert list(opened) == (whole if len(tail) > len(raw) else whole[:1])
        opened.append({"after": 1})
        assert list(Archive.open(path).journal("restore-x"))[-1] == {"after": 1}
    plain = Archive.init(tmp_path / "plain").journal("restore-x")
    plain.append({"folder": "Secret folder"})
    payload = plain.path.read_bytes()[8:]
    assert payload == b"\x81\xa6folder\xadSecret folder"


def test_kill_9_mid_backup_leaves_sealed_journals_and_resumes(emu: GmailEmulator, corpus_dir: Path,
                                                              tmp_path: Path) -> None:
    msgs = [data for _, data, _ in corpus_messages(corpus_dir, step=15)]
    for data in msgs:
        emu.seed(USER, data, labels=("\\Inbox", LABEL))
    needles = _needles(msgs)
    path = new_encrypted_archive(tmp_path / "enc", PW)
    killed_with_journal = 0
    for crash_at in (25, 40, 60):  # durable steps into the download: some mid-append of a journal entry
        assert crash_in_child(lambda: backup(path, emu_url(emu), credentials=CREDS, connections=1,
                                             checkpoint=CheckpointPolicy(nbytes=4096)), crash_at) == -9
        if any(p.stat().st_size for p in (path / "journals").glob("*.journal")):
            killed_with_journal += 1
        assert files_holding(path, needles) == {}
    assert killed_with_journal >= 1
    done = backup(path, emu_url(emu), credentials=CREDS)
    assert done.complete and not done.problems and done.messages == len(msgs)
    assert files_holding(path, needles) == {}
