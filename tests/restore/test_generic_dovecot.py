"""Restore into Dovecot (a generic IMAP server): labels become folders, idempotent, honest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from archiver import mail, restore
from archiver.imap import Credentials
from archiver.model import FolderState
from archiver.store import Archive
from tests.restore.helpers import BASE, Msg, build_archive, client, folder_contents, message
from tests.servers.dovecot import DovecotServer

CRED = Credentials(password="secret")


def url(server: DovecotServer) -> str:
    return f"imap://alice@127.0.0.1:{server.port}"


def test_empty_target_gets_every_message_once(tmp_path: Path, dovecot_sdbox: DovecotServer) -> None:
    msgs = [Msg(message(1), labels=("INBOX",), flags=("\\Seen",), date=BASE + 30),
            Msg(message(2), labels=("INBOX", "Work/2020"), flags=("\\Flagged", "\\Seen"), date=BASE + 10),
            Msg(message(3, mid=None), labels=("Work/2020",), flags=(), date=BASE + 20, tz=-300),
            Msg(message(4), labels=("Sent Items",), flags=("\\Deleted", "\\Seen"), date=BASE)]
    folders = [FolderState("Sent Items", 1, 10, role="\\Sent"), FolderState("INBOX", 1, 10)]
    build_archive(tmp_path / "a", msgs, gmail=False, folders=folders)
    result = restore(tmp_path / "a", url(dovecot_sdbox), credentials=CRED)
    assert (result.uploaded, result.failed, result.altered, result.already_present) == (4, [], [], 0)
    assert result.ok
    with client(dovecot_sdbox.port) as c:
        check_first(c, msgs)
    again = restore(tmp_path / "a", url(dovecot_sdbox), credentials=CRED)
    assert (again.uploaded, again.already_present) == (0, 4)
    with client(dovecot_sdbox.port) as c:
        check_first(c, msgs)


def check_first(c, msgs) -> None:
    inbox, work, sent = (folder_contents(c, f) for f in ("INBOX", "Work/2020", "Sent"))
    assert [m[0] for m in inbox] == sorted([msgs[0].data, msgs[1].data])
    assert [m[0] for m in work] == sorted([msgs[1].data, msgs[2].data])
    assert [m[0] for m in sent] == [msgs[3].data]          # the source's \Sent folder -> the target's \Sent
    assert sent[0][1] == ("\\Seen",)                       # never \Deleted
    by_body = {m[0]: m for m in inbox + work}
    assert by_body[msgs[1].data][1] == ("\\Flagged", "\\Seen")
    d3 = by_body[msgs[2].data][2]
    assert int(d3.timestamp()) == BASE + 20   # (Dovecot keeps the instant, not the -05:00 offset we sent)


def test_part_already_there(tmp_path: Path, dovecot_sdbox: DovecotServer) -> None:
    msgs = [Msg(message(i), labels=("INBOX", "Keep")) for i in range(1, 5)]
    msgs.append(Msg(message(9, mid=None), labels=("Keep",)))
    build_archive(tmp_path / "a", msgs, gmail=False)
    with client(dovecot_sdbox.port) as c:
        c.append("INBOX", msgs[0].data)                   # same message, one folder of two
        c.create_folder("Keep")
        c.append("Keep", msgs[4].data)                    # no Message-ID, same bytes: found by content
        c.append("INBOX", message(2, body="edited"))       # an edited copy: a generic server keeps both
    result = restore(tmp_path / "a", url(dovecot_sdbox), credentials=CRED)
    # msgs[0]: copied into Keep, \Seen added; msgs[4]: found by content, \Seen added; 1-3 uploaded
    assert (result.uploaded, result.relabelled, result.already_present) == (3, 2, 0)
    with client(dovecot_sdbox.port) as c:
        inbox = folder_contents(c, "INBOX")
        keep = folder_contents(c, "Keep")
    assert sorted(m[0] for m in inbox) == sorted([m.data for m in msgs[:4]] + [message(2, body="edited")])
    assert sorted(m[0] for m in keep) == sorted(m.data for m in msgs)
    assert [m[1] for m in keep] == [("\\Seen",)] * 5, keep
    assert {m[0]: m[1] for m in inbox}[message(2, body="edited")] == ()   # the target's own: untouched
    again = restore(tmp_path / "a", url(dovecot_sdbox), credentials=CRED)
    assert (again.uploaded, again.relabelled, again.already_present) == (0, 0, 5)


def test_dry_run_changes_nothing(tmp_path: Path, dovecot_sdbox: DovecotServer) -> None:
    msgs = [Msg(message(1), labels=("INBOX",)), Msg(message(2), labels=("X",))]
    build_archive(tmp_path / "a", msgs, gmail=False)
    result = restore(tmp_path / "a", url(dovecot_sdbox), credentials=CRED, dry_run=True)
    assert sorted(a.kind for a in result.planned) == ["upload", "upload"] and result.uploaded == 0
    with client(dovecot_sdbox.port) as c:
        assert folder_contents(c, "INBOX") == [] and not c.folder_exists("X")


def test_multiappend_batch_with_a_refused_message(tmp_path: Path, dovecot: DovecotServer) -> None:
    """Full Dovecot capabilities (MULTIAPPEND, LITERAL+): one refusal in a batch costs only that message."""
    msgs = [Msg(message(i), labels=("INBOX",), date=BASE + i) for i in range(1, 6)]
    msgs.insert(2, Msg(b"", labels=("INBOX",), date=BASE + 3))           # Dovecot: "Can't save a zero byte"
    msgs.append(Msg(message(8, crlf=False), labels=("INBOX",), date=BASE + 9))   # bare LF
    build_archive(tmp_path / "a", msgs, gmail=False)
    result = restore(tmp_path / "a", url(dovecot), credentials=CRED)
    assert [p.message_id for p in result.failed] == [None] and "zero byte" in result.failed[0].reason
    assert result.uploaded == 6 and not result.ok
    with client(dovecot.port) as c:
        held = [m[0] for m in folder_contents(c, "INBOX")]
    altered = {p.message_id for p in result.altered}
    for m in msgs[:2] + msgs[3:]:
        assert m.data in held or mail.message_id(m.data) in altered     # byte for byte, or listed
    again = restore(tmp_path / "a", url(dovecot), credentials=CRED)
    assert again.uploaded == 0 and again.already_present == 6            # altered ones found by journal
    with client(dovecot.port) as c:
        assert len(folder_contents(c, "INBOX")) == 6


def test_point_in_time_and_filters(tmp_path: Path, dovecot_sdbox: DovecotServer) -> None:
    """An older snapshot brings back a message deleted since; --label / --since / --until narrow it."""
    msgs = [Msg(message(1), labels=("INBOX",), date=BASE), Msg(message(2), labels=("Work",), date=BASE + 100),
            Msg(message(3), labels=("Work",), date=BASE + 200)]
    records = build_archive(tmp_path / "a", msgs, gmail=False)
    archive = Archive.open(tmp_path / "a")
    old = archive.resolve("latest")
    with archive.writer("src@example.org") as w:          # a later snapshot: message 3 was deleted
        w.commit(records[:2], [], source="imaps://src@example.org",
                 time=dt.datetime(2024, 2, 1, tzinfo=dt.UTC))
    archive.close()
    first = restore(tmp_path / "a", url(dovecot_sdbox), credentials=CRED, labels=["Work"],
                    until=dt.datetime.fromtimestamp(BASE + 150, dt.UTC))
    assert (first.selected, first.uploaded) == (1, 1)                   # latest, Work, before +150: 2
    back = restore(tmp_path / "a", url(dovecot_sdbox), credentials=CRED, snapshot=old.id[:8],
                   since=dt.datetime.fromtimestamp(BASE + 100, dt.UTC))
    assert (back.selected, back.uploaded, back.already_present) == (2, 1, 1)
    with client(dovecot_sdbox.port) as c:
        assert [m[0] for m in folder_contents(c, "Work")] == sorted([msgs[1].data, msgs[2].data])
        assert folder_contents(c, "INBOX") == []
