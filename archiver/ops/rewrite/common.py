"""What both server paths share: the work context, finding an upload that may have landed, settle waits."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from archiver.imap import Session
from archiver.imap.records import MessageMeta
from archiver.store import Journal
from archiver.store.rewrite_records import Intent, RewriteRecord, encode

SETTLE_SECONDS = 8.0
"""How long after an unconfirmed APPEND intent a run waits for its copy to land (a killed client's kernel
still sends what it had queued) before sending it again."""
_EOL = re.compile(rb"\r?\n")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def served(data: bytes) -> bytes:
    """``data`` with every line ending CRLF: what a server stores (and reports the size of) for an upload."""
    return _EOL.sub(b"\r\n", data)


@dataclass
class Survey:
    """The server's messages: place and metadata, by X-GM-MSGID (Gmail) or by (folder, UIDVALIDITY, UID)."""

    by_gm: dict[int, tuple[str, int, MessageMeta]] = field(default_factory=dict)
    by_place: dict[tuple[str, int, int], MessageMeta] = field(default_factory=dict)
    uidvalidity: dict[str, int] = field(default_factory=dict)


@dataclass
class Context:
    """The journal and the clock of one run."""

    journal: Journal
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def log(self, record: RewriteRecord) -> None:
        self.journal.append(encode(record))


def find_copy(session: Session, folder: str, data: bytes, *, from_uid: int | None, message_id: str | None,
              exclude: set[int]) -> MessageMeta | None:
    """A message in ``folder`` (selected here) holding exactly ``data`` (line endings aside): among the UIDs
    at or above ``from_uid`` (an APPEND intent's UIDNEXT), else those with ``message_id``.  UIDs and
    X-GM-MSGIDs in ``exclude`` do not count (the old copy)."""
    session.select(folder, readonly=True)
    if from_uid is not None:
        uids = [u for u in session.search_uids(f"UID {from_uid}:*") if u >= from_uid]
    elif message_id:
        uids = session.search_message_id(message_id)
    else:
        return None
    want = served(data)
    metas = [m for m in session.fetch_meta(uids) if m.size == len(want) and m.uid not in exclude
             and (m.gm_msgid is None or m.gm_msgid not in exclude)]
    if not metas:
        return None
    by_uid = {m.uid: m for m in metas}
    for uid, body in session.fetch_bodies(list(by_uid)):
        if served(body) == want:
            return by_uid[uid]
    return None


def settle_find(session: Session, ctx: Context, folder: str, data: bytes, *, from_uid: int,
                since: float, message_id: str | None, exclude: set[int]) -> MessageMeta | None:
    """``find_copy`` above ``from_uid``; while the intent is younger than SETTLE_SECONDS, look again every
    half second (an interrupted APPEND may still be landing)."""
    while True:
        found = find_copy(session, folder, data, from_uid=from_uid, message_id=message_id, exclude=exclude)
        if found is not None or ctx.clock() >= since + SETTLE_SECONDS:
            return found
        ctx.sleep(0.5)
        session.noop()


def clean_flags(flags: Sequence[str]) -> list[str]:
    """The flags an upload carries: never ``\\Deleted`` or ``\\Recent``."""
    return [f for f in flags if f not in ("\\Deleted", "\\Recent")]


def journal_intent(ctx: Context, session: Session, run: str, key: str, folder: str) -> Intent:
    """Select ``folder`` for writing and journal the APPEND of ``key`` about to go into it (UIDVALIDITY and
    UIDNEXT now: a copy at or above that UIDNEXT with the new bytes is this upload)."""
    st = session.select(folder, readonly=False)
    intent = Intent(run, key, folder, st.uidvalidity, st.uidnext, ctx.clock())
    ctx.log(intent)
    return intent


def uploaded_copy(session: Session, folder: str, uid: int | None, data: bytes, intent: Intent,
                  message_id: str | None, exclude: set[int]) -> MessageMeta | None:
    """The copy an APPEND of ``data`` made in ``folder``: by the UID the server answered (UIDPLUS), else
    found by its bytes at or above the intent's UIDNEXT; None when it is not there."""
    session.select(folder, readonly=True)
    metas = session.fetch_meta([uid]) if uid is not None else []
    if metas:
        return metas[0]
    return find_copy(session, folder, data, from_uid=intent.uidnext, message_id=message_id, exclude=exclude)
