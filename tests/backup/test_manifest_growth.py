"""Manifest growth over real backups (formats/manifest.md v2, snapshot.md "Keys"): the partial snapshots of a
checkpointed first run add only their unfinished last leaf and right edge, on Dovecot (numbered keys) and on
the Gmail emulator (X-GM-MSGID keys); 1% new mail adds a few pages, not most of the tree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from archiver import Archive, Credentials, backup
from archiver.emulator import GmailEmulator
from archiver.ops.backup.checkpoint import CheckpointPolicy
from archiver.store.manifest import iter_page_ids
from benchmarks._common import plain_messages
from tests.helpers.emulator import PASSWORD, Mail, emu_url
from tests.servers.dovecot import DovecotServer

OFTEN = CheckpointPolicy(nbytes=40_000, seconds=0.02, cost_factor=0, snapshot_cost_factor=0)


def _tree(archive: Archive, snapshot_id: str) -> tuple[set[str], int]:
    """The page ids of a snapshot's tree, and its height."""
    pages = list(iter_page_ids(archive.load(snapshot_id).root, archive.read_page))
    return {p for p, _level in pages}, max(level for _p, level in pages) + 1


def _check_checkpoints_add_only_the_right_edge(path: Path, snapshot_id: str) -> None:
    archive = Archive.open(path)
    final, height = _tree(archive, snapshot_id)
    partial = [s for s in archive.snapshots() if s.partial]
    assert len(partial) >= 2, "the run wrote too few checkpoints to tell"
    extra = set(archive.index.pages) - final
    # each checkpoint: at most its unfinished last leaf and one page per inner level
    assert len(extra) <= len(partial) * height, (len(extra), len(partial), height, len(final))


@pytest.mark.slow
def test_checkpoints_and_new_mail_on_dovecot(dovecot: DovecotServer, tmp_path: Path) -> None:
    dovecot.write_maildir("alice", "INBOX", plain_messages(1500, 600, seed=1, tag="in"))
    dovecot.write_maildir("alice", "Lists", plain_messages(900, 600, seed=2, tag="li"))
    url, creds = f"imap://alice@127.0.0.1:{dovecot.port}", Credentials(password="secret")
    r = backup(tmp_path / "a", url, credentials=creds, init=True, connections=1, checkpoint=OFTEN)
    assert r.complete and r.messages == 2400
    _check_checkpoints_add_only_the_right_edge(tmp_path / "a", r.snapshot)
    archive = Archive.open(tmp_path / "a")
    before, height = _tree(archive, r.snapshot)
    dovecot.write_maildir("alice", "INBOX", plain_messages(24, 600, seed=3, tag="new"))
    r2 = backup(tmp_path / "a", url, credentials=creds)
    assert r2.new == 24
    after, _ = _tree(Archive.open(tmp_path / "a"), r2.snapshot)
    assert len(after - before) <= 2 + height  # a leaf or two and the right edge, of ~40 leaves


def test_checkpoints_on_the_gmail_emulator(make_emu: Callable[..., GmailEmulator], tmp_path: Path) -> None:
    server = make_emu(mail=[Mail(1500, seed=5, avg_size=600)])
    r = backup(tmp_path / "a", emu_url(server), credentials=Credentials(password=PASSWORD), init=True,
               connections=1, checkpoint=OFTEN)
    assert r.complete and r.mode == "gmail"
    _check_checkpoints_add_only_the_right_edge(tmp_path / "a", r.snapshot)
