"""A run that finds every folder as the last snapshot left it reuses that snapshot's records (nothing is
assembled again); any change on the server (a flag, a new message, a deleted one) takes the full path."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from imapclient import IMAPClient

from archiver import Archive, Credentials, backup
from archiver.model import MessageRecord
from archiver.ops.backup import operation
from archiver.ops.backup.checkpoint import CheckpointPolicy
from archiver.ops.backup.plan import Entry, PreviousState
from archiver.store import ArchiveWriter
from tests.backup.helpers import corpus_messages, dovecot_settled
from tests.servers.dovecot import DovecotServer

CREDS = Credentials(password="secret")


def _records(path: Path, snapshot: str) -> list[MessageRecord]:
    archive = Archive.open(path)
    try:
        return list(archive.load(snapshot))
    finally:
        archive.close()


def test_no_change_reuses_the_records_and_a_change_does_not(dovecot: DovecotServer, corpus_dir: Path,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    msgs = corpus_messages(corpus_dir, 41)
    dovecot.write_maildir("alice", "INBOX", msgs[:30])
    dovecot.write_maildir("alice", "Work", msgs[20:40], flags="")
    url, path = f"imap://alice@127.0.0.1:{dovecot.port}", tmp_path / "a"
    first = backup(path, url, credentials=CREDS, init=True)
    assert first.complete and first.new == 40  # 50 copies, 10 in both folders
    dovecot_settled(dovecot)

    assembled: list[int] = []
    real = operation.assemble_generic

    def spy(folders, *args):  # type: ignore[no-untyped-def]
        assembled.append(sum(len(v) for v in folders.values()))
        return real(folders, *args)

    rebuilt: list[int] = []
    entry = PreviousState.entry

    def rebuilding(self: PreviousState, folder: str, uid: int, role: str | None = None) -> Entry:
        rebuilt.append(uid)
        return entry(self, folder, uid, role)

    monkeypatch.setattr(operation, "assemble_generic", spy)
    monkeypatch.setattr(PreviousState, "entry", rebuilding)
    second = backup(path, url, credentials=CREDS)
    assert second.complete and (second.new, second.changed, second.deleted) == (0, 0, 0)
    assert assembled == [] and rebuilt == []  # reused: no entry rebuilt, nothing assembled
    assert _records(path, second.snapshot) == _records(path, first.snapshot)

    with IMAPClient("127.0.0.1", port=dovecot.port, ssl=False) as c:
        c.login("alice", "secret")
        c.select_folder("Work")
        uid = c.search("ALL")[0]
        c.add_flags([uid], [b"\\Flagged"])
    third = backup(path, url, credentials=CREDS)
    assert third.complete and third.changed == 1 and assembled  # the full path
    assert len(rebuilt) == 50  # every copy's entry, the unchanged INBOX's too
    flagged = [r for r in _records(path, third.snapshot) if "\\Flagged" in r.flags]
    assert [u for r in flagged for u in r.uids if u[0] == "Work"] == [("Work", uid)]

    assembled.clear()
    dovecot.write_maildir("alice", "Work", msgs[40:41], flags="")
    fourth = backup(path, url, credentials=CREDS)
    assert fourth.complete and assembled
    assert len(_records(path, fourth.snapshot)) == len(_records(path, third.snapshot)) + 1


def test_per_message_state_is_let_go_before_the_final_commit(dovecot: DovecotServer, corpus_dir: Path,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """The commit is a first backup's peak: by then only the records are held, not the entries they were
    built from (nor the checkpoints' live records)."""
    dovecot.write_maildir("alice", "INBOX", corpus_messages(corpus_dir, 30))
    live_at_commit: list[tuple[bool, int, int]] = []
    real = ArchiveWriter.commit

    def counting(self: ArchiveWriter, records, *args, **kwargs):  # type: ignore[no-untyped-def]
        gc.collect()
        objects = gc.get_objects()
        live_at_commit.append((kwargs.get("partial", False), sum(isinstance(o, Entry) for o in objects),
                               len(records)))
        return real(self, records, *args, **kwargs)

    records_at_assembly: list[int] = []
    assemble = operation.assemble_generic

    def assembling(folders, *args):  # type: ignore[no-untyped-def]
        gc.collect()
        records_at_assembly.append(sum(isinstance(o, MessageRecord) for o in gc.get_objects()))
        return assemble(folders, *args)

    monkeypatch.setattr(ArchiveWriter, "commit", counting)
    monkeypatch.setattr(operation, "assemble_generic", assembling)  # the final records only
    result = backup(tmp_path / "a", f"imap://alice@127.0.0.1:{dovecot.port}", credentials=CREDS, init=True,
                    checkpoint=CheckpointPolicy(seconds=0.0))
    assert result.complete and result.new == 30
    final = [(entries, n) for partial, entries, n in live_at_commit if not partial]
    assert final == [(0, 30)]
    assert any(partial for partial, _e, _n in live_at_commit)  # checkpoints kept live records meanwhile
    assert records_at_assembly == [0]  # ... which are gone before the final ones are built
