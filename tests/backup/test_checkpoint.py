"""Checkpoint policy (pure timing/size logic with recording callbacks) and the resume journal format."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from archiver import Archive
from archiver.emulator import GmailEmulator
from archiver.model import MessageRecord
from archiver.ops.backup.checkpoint import Checkpointer, CheckpointPolicy, Durable, read_journal
from archiver.store.journal_records import StoredBlob, encode


class Recorder:
    def __init__(self, block: threading.Event | None = None) -> None:
        self.durable: list[list[Durable]] = []
        self.commits: list[int] = []
        self.block = block

    def make_durable(self, items: Sequence[Durable]) -> None:
        if self.block is not None:
            self.block.wait(5)
        self.durable.append(list(items))

    def commit(self, records: Sequence[MessageRecord]) -> None:
        self.commits.append(len(records))


def _item(uid: int) -> Durable:
    return StoredBlob("INBOX", 7, uid, f"{uid:064x}")


def test_durable_every_interval() -> None:
    rec = Recorder()
    policy = CheckpointPolicy(nbytes=1000, seconds=3600, cost_factor=0)
    cp = Checkpointer(rec.make_durable, rec.commit, policy, total_bytes=10_000)
    for uid in range(1, 26):
        cp.offer(100, _item(uid), list)
        cp.close()  # let each checkpoint finish, so the count is deterministic
    assert [len(b) for b in rec.durable] == [10, 10]  # 25 items of 100 B, a checkpoint per 1000 B
    assert rec.commits == []  # no partial snapshot before `seconds`
    assert cp.flushes == 2 and cp.count == 0


def test_partial_snapshot_when_seconds_elapsed() -> None:
    rec = Recorder()
    cp = Checkpointer(rec.make_durable, rec.commit, CheckpointPolicy(nbytes=10**9, seconds=0), total_bytes=1)
    cp.offer(10, _item(1), lambda: [None] * 3)  # type: ignore[list-item]
    cp.close()
    assert rec.commits == [3] and cp.count == 1
    assert rec.durable == []  # below the interval: the commit itself made the blobs durable


def test_back_pressure_when_the_disk_is_slow() -> None:
    gate = threading.Event()
    rec = Recorder(block=gate)
    cp = Checkpointer(rec.make_durable, rec.commit, CheckpointPolicy(nbytes=100, seconds=3600), total_bytes=1)
    cp.offer(100, _item(1), list)          # starts a checkpoint that blocks
    cp.offer(100, _item(2), list)          # one interval waiting: goes on
    releaser = threading.Timer(0.2, gate.set)
    releaser.start()
    cp.offer(100, _item(3), list)          # two intervals at risk: waits for the first checkpoint
    assert gate.is_set() and rec.durable[0] == [_item(1)]
    cp.close()
    assert [i for batch in rec.durable for i in batch] == [_item(1), _item(2), _item(3)]


def test_read_journal(tmp_path: Path) -> None:
    """Entries written the old way (unversioned map of positional arrays) and typed records both read."""
    journal = Archive.init(tmp_path / "a").journal("backup-test")
    gmail = ["[Gmail]/All Mail", 9, 4, "ab" * 32, "<m@x>", ["<r@x>"], 123]
    journal.append({"items": [["INBOX", 7, 1, f"{1:064x}", None, [], None], gmail]})  # before versions
    journal.append(encode([_item(2), StoredBlob("INBOX", 7, 3, "cd" * 32, "<n@x>", ("<r@x>",), 124)]))
    by_uid, by_gm = read_journal(journal)
    assert by_uid[("INBOX", 7, 1)] == (f"{1:064x}", None, ())
    assert by_uid[("INBOX", 7, 2)] == (f"{2:064x}", None, ())
    assert by_gm == {123: ("ab" * 32, "<m@x>", ("<r@x>",)), 124: ("cd" * 32, "<n@x>", ("<r@x>",))}
    assert read_journal([]) == ({}, {})


def test_partial_snapshots_during_a_run_are_readable(make_emu: Callable[..., GmailEmulator],
                                                     tmp_path: Path) -> None:
    """Partial snapshots taken while downloading: each loads, and every blob it names is stored."""
    from archiver import Credentials, backup
    from tests.helpers.emulator import PASSWORD, Mail, emu_url

    server = make_emu(mail=[Mail(400, seed=4, avg_size=4000)])
    r = backup(tmp_path / "a", emu_url(server), credentials=Credentials(password=PASSWORD), init=True,
               connections=1, checkpoint=CheckpointPolicy(nbytes=50_000, seconds=0, cost_factor=0))
    archive = Archive.open(tmp_path / "a")
    snaps = archive.snapshots()
    partial = [s for s in snaps if s.partial]
    assert partial and snaps[-1].id == r.snapshot and not snaps[-1].partial
    final = {rec.key: rec for rec in archive.load(r.snapshot)}
    for info in partial:
        snap = archive.load(info.id)
        assert 0 < len(snap) <= len(final)
        for rec in snap:
            assert archive.has_blob(rec.blob_id) and final[rec.key].blob_id == rec.blob_id


def test_checkpoint_commit_while_another_thread_seals_the_pack(tmp_path: Path) -> None:
    """A checkpoint commits while another thread (a flush) is writing the pack holding the records' blobs:
    the commit waits for that pack instead of failing with "references blob ..., which is not stored"."""
    import datetime as dt
    import time

    from archiver.model import FolderState

    archive = Archive.init(tmp_path / "a")
    writer = archive.writer("me@example.com")
    body = b"Message-ID: <x@y>\r\nSubject: s\r\n\r\nbody\r\n"
    blob = writer.put_blob(body)
    record = MessageRecord(key="gm:1", blob_id=blob, size=len(body), internaldate=0, tz_minutes=0, flags=(),
                           labels=(), thread_id="1", message_id="<x@y>", uids=(("INBOX", 1),), gm_msgid=1,
                           gm_thrid=1)
    errors: list[BaseException] = []

    def run(fn: Callable[[], object]) -> threading.Thread:
        def body_() -> None:
            try:
                fn()
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)
        t = threading.Thread(target=body_)
        t.start()
        return t

    with writer._seal_lock:  # hold the pack write of the flush below mid-way
        flusher = run(writer.flush)
        deadline = time.monotonic() + 5
        while (writer._buffer or len(writer._open)) and time.monotonic() < deadline:  # the flush took them
            time.sleep(0.001)
        committer = run(lambda: writer.commit([record], [FolderState("INBOX", 1, 2, None, "\\Inbox")],
                                              source="imap://me@example.com@h", time=dt.datetime.now(dt.UTC)))
        committer.join(0.3)
    flusher.join(5)
    committer.join(5)
    writer.close()
    assert errors == []
    assert [r.blob_id for r in Archive.open(tmp_path / "a").load(archive.snapshots()[-1].id)] == [blob]
