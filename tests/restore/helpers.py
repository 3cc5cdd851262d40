"""Helpers of the restore tests: archives written through the store's contract API, target readers."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import imapclient

from archiver import NullProgress
from archiver.emulator import GmailEmulator
from archiver.mail import message_id
from archiver.model import FolderState, MessageRecord
from archiver.store import Archive
from tests.helpers.emulator import USER

BASE = 1_600_000_000


@dataclass
class Msg:
    data: bytes
    labels: tuple[str, ...] = ("\\Inbox",)
    flags: tuple[str, ...] = ("\\Seen",)
    date: int = BASE
    tz: int = 120
    key: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


def message(n: int, *, mid: str | None = "auto", body: str = "", crlf: bool = True, size: int = 0) -> bytes:
    """A small synthetic message number ``n`` (Message-ID ``<n.restore@test>`` unless told otherwise)."""
    lines = [f"From: sender{n}@example.org", "To: alice@example.org", f"Subject: message {n}",
             "Date: Mon, 14 Sep 2020 12:00:00 +0000"]
    if mid == "auto":
        lines.append(f"Message-ID: <{n}.restore@test>")
    elif mid is not None:
        lines.append(f"Message-ID: {mid}")
    text = body or f"Body of message {n}."
    if size:
        text += "\n" + ("x" * 70 + "\n") * (size // 71)
    raw = "\n".join([*lines, "", text, ""])
    return raw.replace("\n", "\r\n").encode() if crlf else raw.encode()


def build_archive(path: Path, msgs: Sequence[Msg], *, gmail: bool = True,
                  folders: Sequence[FolderState] = (), account: str = "src@example.org",
                  when: dt.datetime = dt.datetime(2024, 1, 1, tzinfo=dt.UTC), version: int = 2
                  ) -> list[MessageRecord]:
    """An archive (format ``version``) with one snapshot of ``account`` holding ``msgs`` (keys gm:<n> for
    Gmail, h:<blob> otherwise); an existing archive at ``path`` gets one more snapshot."""
    archive = Archive.open(path) if path.exists() else Archive.init(path, version=version)
    records = []
    with archive.writer(account) as w:
        for i, m in enumerate(msgs, 1):
            blob = w.put_blob(m.data)
            assert blob == hashlib.sha256(m.data).hexdigest()
            key = m.key or (f"gm:{1000 + i}" if gmail else f"h:{blob}")
            records.append(MessageRecord(
                key=key, blob_id=blob, size=len(m.data), internaldate=m.date, tz_minutes=m.tz,
                flags=tuple(sorted(m.flags)), labels=tuple(sorted(m.labels)), thread_id=str(i),
                message_id=message_id(m.data), gm_msgid=1000 + i if gmail else None,
                gm_thrid=1000 + i if gmail else None))
        w.commit(records, list(folders), source=f"imaps://{account}", time=when)
    archive.close()
    return records


def client(port: int, user: str = "alice", password: str = "secret") -> imapclient.IMAPClient:
    c = imapclient.IMAPClient("127.0.0.1", port=port, ssl=False, timeout=20)
    c.login(user, password)
    c.normalise_times = False
    return c


Row = tuple[bytes, tuple[str, ...], dt.datetime]


def folder_contents(c: imapclient.IMAPClient, folder: str) -> list[Row]:
    """(bytes, flags, INTERNALDATE) of every message of a folder, sorted by bytes."""
    c.select_folder(folder, readonly=True)
    uids = c.search("ALL")
    out = []
    if uids:
        for _uid, item in c.fetch(uids, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]).items():
            flags = tuple(sorted(f.decode() for f in item[b"FLAGS"] if f != b"\\Recent"))
            out.append((item[b"BODY[]"], flags, item[b"INTERNALDATE"]))
    return sorted(out, key=lambda t: t[0])


def url(e: GmailEmulator) -> str:
    return f"imap://{USER}@127.0.0.1:{e.port}"


State = tuple[bytes, frozenset[str], frozenset[str], dt.datetime, dt.timedelta | None, bool, bool]


def state(e: GmailEmulator) -> list[State]:
    """Everything that matters of the target account, order-free (what two clean restores must share)."""
    return sorted(((m.data, m.labels, m.flags, m.internaldate, m.internaldate.utcoffset(), m.trashed, m.spam)
                   for m in e.messages(USER)), key=lambda t: t[0])


class Notes(NullProgress):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)


NUL_LF = b"\n---\ndiff --git a/foo b/foo\n\x00\x08Some strange test\x00\x08\x00\x08\n\x00\n"
"""No Message-ID, bare LF, NUL bytes: Dovecot serves CRLF and 0x80 (54 bytes sent, 59 held)."""
SHARED = "<QLHMAUTBMRLPSUHSWPVQEL@post.sk>"


def tricky() -> list[Msg]:
    """Messages like the ones a re-run used to upload again, oldest first."""
    shared_a = message(2, mid=SHARED, body="first\nversion \0 with a NUL", crlf=False)
    shared_b = message(3, mid=SHARED, body="second version")
    twin = message(4, mid=None, body="identical twin\rbare CR", crlf=False)
    return [Msg(NUL_LF, labels=("\\Inbox",), date=BASE + 1),
            Msg(message(1, mid=None, crlf=False), labels=("\\Inbox", "Work"), date=BASE + 2),
            Msg(shared_a, labels=("\\Inbox",), date=BASE + 3),
            Msg(shared_b, labels=("\\Inbox", "Work"), date=BASE + 4),
            Msg(twin, labels=("\\Inbox",), date=BASE + 5),
            Msg(twin, labels=("\\Inbox", "Work"), date=BASE + 6),           # same blob, another key
            Msg(message(5), labels=("Work",), date=BASE + 7),
            Msg(message(5), labels=("Work",), date=BASE + 8),               # byte-identical, with an ID
            Msg(b"", labels=("\\Inbox",), date=BASE + 9)]                   # refused: zero bytes


def counts(port: int, user: str = "alice") -> dict[str, int]:
    """Messages per folder of ``user``'s account."""
    with client(port, user) as c:
        return {n: int(c.folder_status(n, ["MESSAGES"])[b"MESSAGES"]) for _f, _d, n in c.list_folders()}


def dovecot_state(port: int) -> dict[str, list[object]]:
    with client(port) as c:
        names = sorted(n for _f, _d, n in c.list_folders())
        return {n: [(d, f, t.timestamp()) for d, f, t in folder_contents(c, n)] for n in names}
