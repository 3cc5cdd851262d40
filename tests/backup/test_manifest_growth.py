"""Manifest growth over real backups (formats/manifest.md v2, snapshot.md "Keys"): the partial snapshots of a
checkpointed first run add only their unfinished last leaf and right edge, on Dovecot (numbered keys) and on
the Gmail emulator (X-GM-MSGID keys); 1% new mail adds a few pages, not most of the tree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from imapclient import IMAPClient

from archiver import Archive, Credentials, backup
from archiver.emulator import GmailEmulator
from archiver.ops.backup.checkpoint import CheckpointPolicy
from archiver.store.manifest import iter_page_ids
from archiver.store.pack import pack_path
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
    # each checkpoint: its unfinished last leaf and one page per inner level, and at most as much again for
    # a message whose body came before its metadata (it joins the records one checkpoint late, in a leaf
    # already closed); hash keys rewrite most of the tree at every checkpoint instead
    assert len(extra) <= 2 * len(partial) * height, (len(extra), len(partial), height, len(final))


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


@pytest.mark.slow
def test_numbers_a_damaged_newer_snapshot_gave_are_not_given_again(dovecot: DovecotServer,
                                                                   tmp_path: Path) -> None:
    url, creds = f"imap://alice@127.0.0.1:{dovecot.port}", Credentials(password="secret")
    dovecot.write_maildir("alice", "INBOX", plain_messages(30, 500, seed=1, tag="a"))
    r1 = backup(tmp_path / "a", url, credentials=creds, init=True)
    dovecot.write_maildir("alice", "INBOX", plain_messages(2, 500, seed=2, tag="b"))
    r2 = backup(tmp_path / "a", url, credentials=creds)
    archive = Archive.open(tmp_path / "a")
    given = {r.key for r in archive.load(r2.snapshot)} - {r.key for r in archive.load(r1.snapshot)}
    assert sorted(given) == ["n:0000000030", "n:0000000031"]
    root = archive.load(r2.snapshot).root
    assert root is not None
    pack_path(archive.layout.packs, archive.index.pages[root].pack).unlink()  # r2's manifest: unreadable
    with IMAPClient("127.0.0.1", port=dovecot.port, ssl=False) as c:  # one of r2's new messages goes
        c.login("alice", "secret")
        c.select_folder("INBOX")
        c.delete_messages([max(c.search("ALL"))])
        c.expunge()
    dovecot.write_maildir("alice", "INBOX", plain_messages(1, 500, seed=3, tag="c"))
    r3 = backup(tmp_path / "a", url, credentials=creds)
    assert any("damaged" in w for w in r3.warnings)  # built on r1
    new = {r.key for r in Archive.open(tmp_path / "a").load(r3.snapshot)} - {
        r.key for r in Archive.open(tmp_path / "a").load(r1.snapshot)}
    assert len(new) == 2 and not new & given, new  # numbers 30 and 31 named other messages in r2
