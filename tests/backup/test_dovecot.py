"""Backup of a non-Gmail server (Dovecot, over real sockets): folders become labels, bodies stored once,
incremental runs, changes, UIDVALIDITY reset; every stored byte compared with what the server serves."""

from __future__ import annotations

import re
from pathlib import Path

from imapclient import IMAPClient

from archiver import Archive, Credentials, backup, mail
from tests.backup.helpers import (
    check_blobs,
    copy_labels,
    corpus_messages,
    dovecot_settled,
    expected_generic,
    server_view,
    tree_bytes,
)
from tests.servers.dovecot import DovecotServer

CREDS = Credentials(password="secret")


def _url(dv: DovecotServer) -> str:
    return f"imap://alice@127.0.0.1:{dv.port}"


def _check_snapshot(archive: Archive, snapshot_id: str, view: dict, links: bool = True) -> None:  # type: ignore[type-arg]
    snap = archive.load(snapshot_id)
    records = list(snap)
    assert copy_labels(records) == expected_generic(view)
    assert all(re.fullmatch(r"n:[0-9]{10}", r.key) for r in records)  # numbered in first-seen order
    check_blobs(archive, records, view)
    for r in records:
        assert r.flags == tuple(sorted({f for fo, u in r.uids for f in view[fo][u][1]})), r.key
    # threads rebuilt from References / In-Reply-To: a reply shares its parent's thread
    by_mid = {mail.normalize_id(r.message_id): r for r in records if r.message_id}
    linked = 0
    for r in records:
        for ref in mail.references(archive.get_blob(r.blob_id)):
            parent = by_mid.get(ref)
            if parent is not None and parent.message_id != r.message_id:
                assert parent.thread_id == r.thread_id, (r.key, ref)
                linked += 1
    assert linked > 0 or not links


def test_generic_backup_incremental_changes_and_uidvalidity(dovecot: DovecotServer, corpus_dir: Path,
                                                            tmp_path: Path) -> None:
    msgs = corpus_messages(corpus_dir, 330)
    dovecot.write_maildir("alice", "INBOX", msgs[:200] + msgs[:3])          # 3 identical copies: "#2"
    dovecot.write_maildir("alice", "Work", msgs[150:260], flags="")         # 50 also in INBOX
    dovecot.write_maildir("alice", "Archive", msgs[240:300] + msgs[:5], flags="FS")
    path = tmp_path / "arch"

    r1 = backup(path, _url(dovecot), credentials=CREDS, init=True, connections=3)
    assert r1.complete and r1.problems == [] and r1.mode == "imap"
    dovecot_settled(dovecot)
    bodies1 = dovecot.bodies_sent("alice")  # before server_view, which fetches every body too
    archive = Archive.open(path)
    view1 = server_view(dovecot.port)
    _check_snapshot(archive, r1.snapshot, view1)
    assert r1.messages == len(expected_generic(view1)) and r1.new == r1.messages
    distinct = {mail_bytes for f in view1.values() for mail_bytes, _ in f.values()}
    assert archive.stats().blobs == len(distinct)  # each body stored once
    # the server-side body counter is live: it saw the first run download every distinct body
    assert bodies1[0] >= len(distinct) and bodies1[1] >= sum(map(len, distinct)), bodies1

    # nothing changed: no body crosses the wire, the archive grows by a tiny snapshot
    dovecot_settled(dovecot)
    bodies0, sent0, size0 = dovecot.bodies_sent("alice"), dovecot.bytes_sent("alice"), tree_bytes(path)
    r2 = backup(path, _url(dovecot), credentials=CREDS)
    assert (r2.new, r2.changed, r2.deleted, r2.bytes_downloaded) == (0, 0, 0, 0) and r2.complete
    dovecot_settled(dovecot)
    assert dovecot.bodies_sent("alice") == bodies0  # not one body served
    sent = dovecot.bytes_sent("alice") - sent0
    assert 0 < sent < 20_000, sent  # the run did talk to the server, metadata only
    assert tree_bytes(path) - size0 < 10_000

    # new mail, a flag change, a label (folder) added, a move to Trash, a deletion
    with IMAPClient("127.0.0.1", port=dovecot.port, ssl=False) as c:
        c.login("alice", "secret")
        c.select_folder("INBOX")
        uids = sorted(c.search("ALL"))
        c.add_flags(uids[10:13], [b"\\Flagged"])
        c.copy(uids[40:43], "Archive")  # a label added: same bytes in one more folder
        c.move(uids[20:22], "Trash")
        c.delete_messages(uids[30:32])
        c.expunge()
    dovecot.write_maildir("alice", "Work", msgs[300:310])
    r3 = backup(path, _url(dovecot), credentials=CREDS)
    view3 = server_view(dovecot.port)
    archive = Archive.open(path)
    _check_snapshot(archive, r3.snapshot, view3)
    assert r3.new >= 10 and r3.changed >= 3 and r3.deleted >= 1 and r3.complete
    assert copy_labels(archive.load(r1.snapshot)) == expected_generic(view1)  # history kept
    # a message keeps its key; new mail gets keys above every earlier one (it lands in the last leaves)
    old = {(r.blob_id, r.message_id): r.key for r in archive.load(r1.snapshot)}
    now = list(archive.load(r3.snapshot))
    kept = [r for r in now if (r.blob_id, r.message_id) in old]
    assert len(kept) > 250 and all(old[(r.blob_id, r.message_id)] == r.key for r in kept
                                   if sum(1 for x in now if x.blob_id == r.blob_id) == 1)
    assert min(r.key for r in now if (r.blob_id, r.message_id) not in old) > max(old.values())

    # UIDVALIDITY reset of Work: old messages are found again without downloading their bodies
    work = dovecot.maildir("alice", "Work")
    for p in work.iterdir():
        if p.name.startswith("dovecot"):
            p.unlink()
    r4 = backup(path, _url(dovecot), credentials=CREDS)
    archive = Archive.open(path)
    snap4 = archive.load(r4.snapshot)
    work_state = next(f for f in snap4.folders if f.name == "Work")
    old_state = next(f for f in archive.load(r3.snapshot).folders if f.name == "Work")
    assert work_state.uidvalidity != old_state.uidvalidity
    view4 = server_view(dovecot.port)
    _check_snapshot(archive, r4.snapshot, view4)
    work_bytes = sum(len(b) for b, _ in view4["Work"].values())
    assert r4.bytes_downloaded < work_bytes // 10, (r4.bytes_downloaded, work_bytes)
    assert (r4.new, r4.deleted) == (0, 0)


def test_gmail_like_capabilities_sdbox_flag_changes(dovecot_sdbox: DovecotServer, corpus_dir: Path,
                                                   tmp_path: Path) -> None:
    """sdbox storage, Gmail-like capability list: APPENDed mail, flag refresh via CHANGEDSINCE."""
    msgs = corpus_messages(corpus_dir, 40)
    with IMAPClient("127.0.0.1", port=dovecot_sdbox.port, ssl=False) as c:
        c.login("alice", "secret")
        c.create_folder("Lists")
        for i, m in enumerate(msgs):
            c.append("INBOX" if i % 2 else "Lists", m, flags=[b"\\Seen"] if i % 3 else [])
    path = tmp_path / "a"
    r1 = backup(path, f"imap://alice@127.0.0.1:{dovecot_sdbox.port}", credentials=CREDS, init=True,
                connections=1)
    archive = Archive.open(path)
    _check_snapshot(archive, r1.snapshot, server_view(dovecot_sdbox.port), links=False)
    with IMAPClient("127.0.0.1", port=dovecot_sdbox.port, ssl=False) as c:
        c.login("alice", "secret")
        c.select_folder("Lists")
        c.add_flags(c.search("ALL")[:4], [b"$Important"])
    r2 = backup(path, f"imap://alice@127.0.0.1:{dovecot_sdbox.port}", credentials=CREDS)
    assert r2.changed == 4 and r2.bytes_downloaded == 0
    _check_snapshot(Archive.open(path), r2.snapshot, server_view(dovecot_sdbox.port), links=False)


class NoCondstoreDovecot(DovecotServer):
    """Dovecot advertising no CONDSTORE (like older servers): flags must be re-read for every message."""

    def _config(self) -> str:
        return super()._config().replace(" CONDSTORE", "")


def test_server_without_condstore_rereads_flags(corpus_dir: Path, tmp_path: Path) -> None:
    with NoCondstoreDovecot(storage="sdbox", gmail_like=True) as dv:
        dv.add_user("alice", "secret")
        with IMAPClient("127.0.0.1", port=dv.port, ssl=False) as c:
            c.login("alice", "secret")
            assert b"CONDSTORE" not in c.capabilities()
            for raw in corpus_messages(corpus_dir, 25):
                c.append("INBOX", raw)
        path = tmp_path / "a"
        r1 = backup(path, _url(dv), credentials=CREDS, init=True)
        assert all(f.highestmodseq is None for f in Archive.open(path).load(r1.snapshot).folders)
        with IMAPClient("127.0.0.1", port=dv.port, ssl=False) as c:
            c.login("alice", "secret")
            c.select_folder("INBOX")
            c.add_flags(c.search("ALL")[5:8], [b"\\Answered"])
        r2 = backup(path, _url(dv), credentials=CREDS)
        assert r2.changed == 3 and r2.bytes_downloaded == 0
        _check_snapshot(Archive.open(path), r2.snapshot, server_view(dv.port), links=False)
