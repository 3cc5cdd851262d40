"""Restore-specific wire helpers on top of ``Session``: many APPENDs to one folder in one round trip.

- MULTIAPPEND + LITERAL+ (Dovecot, Cyrus): one APPEND command carries a whole batch (RFC 3502); the server
  stores it as one transaction and answers ``APPENDUID <v> <uid-set>``.  It is all or nothing, so a refused
  batch is sent again message by message to learn which one the server refuses and why.
- LITERAL+ only: every APPEND of a batch is written without waiting for continuations and the tagged
  answers are read afterwards (each message answered on its own).
- Otherwise (Gmail has only LITERAL-): one by one through ``Session.append``.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Sequence

from archiver.errors import RemoteError, Throttled
from archiver.imap import convert
from archiver.imap.boundary import is_throttle_text
from archiver.imap.records import AppendRefused, AppendResult
from archiver.imap.session import MAX_SET_CHARS, Session

Item = tuple[bytes, Sequence[str], _dt.datetime | None]
WINDOW_BYTES = 8 << 20
"""Bytes written ahead of the answers read (bounded so neither side's buffers fill up)."""


def append_many(session: Session, folder: str, items: Sequence[Item],
                on_sent: Callable[[int, int], None] | None = None) -> list[AppendResult | AppendRefused]:
    """APPEND each (data, flags, date) to ``folder``; per item an AppendResult or the AppendRefused.

    ``on_sent(start, end)``: items[start:end] were handed whole to the kernel and the answers not read yet
    (from then on the server may store them even if this process dies)."""
    if "LITERAL+" not in session.capabilities:
        if on_sent is not None:  # one by one: any of them may be on its way from here on
            on_sent(0, len(items))
        return [_one(session, folder, item) for item in items]
    multi = "MULTIAPPEND" in session.capabilities
    out: list[AppendResult | AppendRefused] = []
    start = 0
    while start < len(items):
        end, size = start, 0
        while end < len(items) and (end == start or size + len(items[end][0]) <= WINDOW_BYTES):
            size += len(items[end][0])
            end += 1
        batch = items[start:end]
        sent = None if on_sent is None else (lambda s=start, e=end: on_sent(s, e))
        answers = _multi(session, folder, batch, sent) if multi and len(batch) > 1 else None
        out.extend(answers if answers is not None else _pipelined(session, folder, batch, sent))
        start = end
    return out


_SIZE_ITEM = re.compile(rb"RFC822\.SIZE (\d+)")
_UID_ITEM = re.compile(rb"UID (\d+)")


def fetch_sizes(session: Session, uids: Sequence[int]) -> dict[int, int]:
    """UID -> RFC822.SIZE in the selected folder, read straight off the wire (restore checks every upload:
    imapclient's generic parser would cost more CPU than the APPENDs themselves)."""
    out: dict[int, int] = {}
    imap = session._imap
    for chunk in convert.chunk_uids(sorted(set(uids)), MAX_SET_CHARS):
        with session._guard("FETCH RFC822.SIZE"):
            imap.untagged_responses.pop("FETCH", None)
            status, data = imap.uid("FETCH", convert.uid_set(chunk), "(UID RFC822.SIZE)")
        if status != "OK":
            raise RemoteError(f"{session.where}: FETCH RFC822.SIZE failed: {status}")
        for line in data:
            if not isinstance(line, bytes):
                continue
            uid, size = _UID_ITEM.search(line), _SIZE_ITEM.search(line)
            if uid and size:
                out[int(uid.group(1))] = int(size.group(1))
    return out


def _one(session: Session, folder: str, item: Item) -> AppendResult | AppendRefused:
    data, flags, date = item
    try:
        return session.append(folder, data, flags=flags, date=date)
    except AppendRefused as exc:
        return exc


def _head(folder: str, flags: Sequence[str], date: _dt.datetime | None) -> str:
    head = f"{convert.quote_mailbox(folder)} ({' '.join(convert.clean_flags(flags, for_append=True))})"
    return head + (" " + convert.format_internaldate(date) if date is not None else "")


def _multi(session: Session, folder: str, items: Sequence[Item],
           sent: Callable[[], None] | None) -> list[AppendResult | AppendRefused] | None:
    """One MULTIAPPEND of ``items``; None when the server refused it (the caller retries one by one)."""
    imap = session._imap
    parts: list[bytes] = []
    with session._guard(f"APPEND to {folder}"):
        tag = imap._new_tag()
        for n, (data, flags, date) in enumerate(items):
            head = _head(folder, flags, date)
            if n:  # later messages repeat only flags and date, not the mailbox
                head = head[len(convert.quote_mailbox(folder)) + 1:]
            parts.append((b"" if n else tag + b" APPEND ") + head.encode("ascii")
                         + f" {{{len(data)}+}}\r\n".encode("ascii"))
            parts.append(data)
            parts.append(b" " if n < len(items) - 1 else b"\r\n")
        imap.send(b"".join(parts))
        if sent is not None:
            sent()
        status, resp = imap._get_tagged_response(tag)
        imap._check_bye()
    text = resp[-1] if resp and isinstance(resp[-1], bytes) else b""
    if status != "OK":
        if is_throttle_text(text.decode("utf-8", "replace")):
            raise Throttled(f"{session.where} is throttling (APPEND): {text.decode('utf-8', 'replace')}")
        return None
    args = convert.response_codes(text).get("APPENDUID", "").split()
    uids = convert.parse_uid_set(args[1]) if len(args) == 2 and args[0].isdigit() else []
    message = text.decode("utf-8", "replace").strip()
    if len(uids) != len(items):
        return [AppendResult(uidvalidity=None, uid=None, text=message) for _ in items]
    return [AppendResult(uidvalidity=int(args[0]), uid=uid, text=message) for uid in uids]


def _pipelined(session: Session, folder: str, items: Sequence[Item],
               sent: Callable[[], None] | None) -> list[AppendResult | AppendRefused]:
    imap = session._imap
    mailbox = convert.quote_mailbox(folder)
    tags: list[bytes] = []
    with session._guard(f"APPEND to {folder}"):
        parts: list[bytes] = []
        for data, flags, date in items:
            tag = imap._new_tag()
            tags.append(tag)
            head = f"APPEND {mailbox} ({' '.join(convert.clean_flags(flags, for_append=True))})"
            if date is not None:
                head += " " + convert.format_internaldate(date)
            parts.append(tag + b" " + head.encode("ascii") + f" {{{len(data)}+}}\r\n".encode("ascii"))
            parts.append(data)
            parts.append(b"\r\n")
        imap.send(b"".join(parts))
        if sent is not None:
            sent()
        answers = [imap._get_tagged_response(tag) for tag in tags]
        imap._check_bye()
    out: list[AppendResult | AppendRefused] = []
    for status, resp in answers:
        text = resp[-1] if resp and isinstance(resp[-1], bytes) else b""
        message = text.decode("utf-8", "replace").strip()
        if status != "OK":
            code = next(iter(convert.response_codes(text)), None)
            if is_throttle_text(message) and code != "TOOBIG":
                raise Throttled(f"{session.where} is throttling (APPEND): {message}")
            out.append(AppendRefused(f"{status} {message}", code=code))
            continue
        uidvalidity, uid = convert.parse_appenduid(text)
        out.append(AppendResult(uidvalidity=uidvalidity, uid=uid, text=message))
    return out


def remove_uids(session: Session, uids: Sequence[int]) -> None:
    """``UID STORE +FLAGS.SILENT (\\Deleted)`` then ``UID EXPUNGE`` of exactly ``uids`` in the selected folder
    (selected read-write).  Needs UIDPLUS: a plain EXPUNGE would also remove messages others marked."""
    if "UIDPLUS" not in session.capabilities:
        raise RemoteError(f"{session.where} lacks UIDPLUS: cannot remove single messages safely")
    for chunk in convert.chunk_uids(sorted(set(uids)), MAX_SET_CHARS):
        session._store(chunk, "FLAGS", "\\Deleted", "+")
        status, text = session._command("UID EXPUNGE", "UID", "EXPUNGE", convert.uid_set(chunk))
        session._check("UID EXPUNGE", status, text)
