"""Pure conversions between IMAP wire forms and the layer's typed records (no I/O; tested on canned bytes)."""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from archiver.imap import mutf7
from archiver.imap.records import MessageMeta
from archiver.labels import ROLE_ATTRIBUTES

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FLAG_RE = re.compile(r"^\\?[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+$")
_CODE_RE = re.compile(rb"\[([A-Z][A-Z0-9-]*)(?: ([^\]]*))?\]")


def text(value: object) -> str:
    """A str from whatever imapclient handed over (bytes, str, int)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def role_from_flags(flags: Iterable[str]) -> str | None:
    """The special-use role among LIST attributes (SPECIAL-USE or XLIST spelling), else None."""
    for flag in flags:
        role = ROLE_ATTRIBUTES.get(flag.lower())
        if role:
            return role
    return None


def is_selectable(flags: Iterable[str]) -> bool:
    return not any(f.lower() in ("\\noselect", "\\nonexistent") for f in flags)


def response_codes(line: bytes) -> dict[str, str]:
    """All ``[CODE args]`` in a response text, anywhere in it (Gmail puts ``[THROTTLED]`` at the end)."""
    return {m.group(1).decode("ascii"): (m.group(2) or b"").decode("utf-8", "replace")
            for m in _CODE_RE.finditer(line)}


def parse_appenduid(resp_text: bytes | str) -> tuple[int | None, int | None]:
    """``[APPENDUID <uidvalidity> <uid>]`` -> (uidvalidity, uid); (None, None) when absent or malformed."""
    raw = resp_text.encode("utf-8", "replace") if isinstance(resp_text, str) else resp_text
    args = response_codes(raw).get("APPENDUID", "").split()
    if len(args) == 2 and args[0].isdigit() and args[1].isdigit():
        return int(args[0]), int(args[1])
    return None, None


def parse_uid_set(spec: str) -> list[int]:
    """``1:3,7`` -> [1, 2, 3, 7] (ranges may be written high:low)."""
    out: list[int] = []
    for part in spec.split(","):
        if ":" in part:
            lo, hi = (int(x) for x in part.split(":", 1))
            lo, hi = min(lo, hi), max(lo, hi)
            out.extend(range(lo, hi + 1))
        elif part:
            out.append(int(part))
    return out


def parse_copyuid(resp_text: bytes) -> dict[int, int]:
    """``[COPYUID v src dst]`` -> {source uid: destination uid}; {} when absent or inconsistent."""
    args = response_codes(resp_text).get("COPYUID", "").split()
    if len(args) != 3:
        return {}
    try:
        src, dst = parse_uid_set(args[1]), parse_uid_set(args[2])
    except ValueError:
        return {}
    return dict(zip(src, dst, strict=True)) if len(src) == len(dst) else {}


def uid_set(uids: Iterable[int]) -> str:
    """Sorted, de-duplicated UIDs as a compact sequence set: [1, 2, 3, 7] -> ``1:3,7``."""
    parts: list[str] = []
    ordered = sorted(set(uids))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def chunk_uids(uids: Sequence[int], max_chars: int = 8000) -> Iterator[list[int]]:
    """Split UIDs (kept in order) so each chunk's sequence set stays under ``max_chars`` characters."""
    chunk: list[int] = []
    size = 0
    for uid in uids:
        cost = len(str(uid)) + 1
        if chunk and size + cost > max_chars:
            yield chunk
            chunk, size = [], 0
        chunk.append(uid)
        size += cost
    if chunk:
        yield chunk


def chunk_uid_sets(uids: Sequence[int], max_chars: int = 8000, max_count: int = 5000) -> Iterator[str]:
    """Sorted UIDs as compact sequence sets of at most ``max_count`` UIDs and ``max_chars`` characters."""
    chunk: list[int] = []
    chars = 0
    for uid in uids:
        extends_run = bool(chunk) and uid == chunk[-1] + 1
        cost = 0 if extends_run else len(str(uid)) * 2 + 2  # worst case: a new "a:b," part
        if chunk and (len(chunk) >= max_count or chars + cost > max_chars):
            yield uid_set(chunk)
            chunk, chars, cost = [], 0, len(str(uid)) * 2 + 2
        chunk.append(uid)
        chars += cost
    if chunk:
        yield uid_set(chunk)


def quote(value: str) -> str:
    """An IMAP quoted string (backslash and double quote escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_mailbox(name: str) -> str:
    """A mailbox name for a command: modified UTF-7, quoted."""
    return quote(mutf7.encode(name))


def format_internaldate(date: _dt.datetime) -> str:
    """``"DD-Mon-YYYY HH:MM:SS +zzzz"`` keeping the datetime's own offset (UTC if naive)."""
    if date.tzinfo is None:
        date = date.replace(tzinfo=_dt.UTC)
    offset = date.utcoffset() or _dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    return (f'"{date.day:02d}-{_MONTHS[date.month - 1]}-{date.year:04d} '
            f'{date.hour:02d}:{date.minute:02d}:{date.second:02d} {sign}{hh:02d}{mm:02d}"')


def clean_flags(flags: Iterable[str], *, for_append: bool = False) -> tuple[str, ...]:
    """Sorted, de-duplicated flags without ``\\Recent`` (and, to send, without ``\\Deleted`` and without
    keywords that are not IMAP atoms: Gmail echoes such keywords but no command can carry them)."""
    drop = {"\\recent", "\\deleted"} if for_append else {"\\recent"}
    keep = {f for f in flags if f.lower() not in drop}
    return tuple(sorted(f for f in keep if not for_append or _FLAG_RE.match(f)))


def header_value(raw: bytes | None) -> str | None:
    """The value of a single fetched header (``Message-ID:`` block): unfolded, stripped; None if absent."""
    if not raw:
        return None
    textual = raw.decode("utf-8", "surrogateescape")
    unfolded = re.sub(r"\r?\n[ \t]+", " ", textual)
    for line in unfolded.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "message-id":
            value = " ".join(value.split())
            return value or None
    return None


def labels_from_wire(values: Iterable[object]) -> tuple[str, ...]:
    """X-GM-LABELS items (quoted ``"\\\\Inbox"`` or bare ``\\Inbox``, mUTF-7, numbers) -> sorted labels."""
    out = set()
    for value in values:
        if value is None:
            continue
        out.add(mutf7.decode(text(value)))
    return tuple(sorted(out))


def _modseq(value: object) -> int | None:
    if isinstance(value, tuple | list):
        value = value[0] if value else None
    return int(value) if isinstance(value, int | bytes | str) else None


def _fetched_flags(value: Any) -> tuple[str, ...]:
    """FLAGS as fetched -> clean_flags; each distinct list converted once (most messages share a few)."""
    try:
        return _flags_cached(value)
    except TypeError:  # unhashable
        return clean_flags(text(f) for f in value)


@functools.lru_cache(maxsize=1024)
def _flags_cached(value: Any) -> tuple[str, ...]:
    return clean_flags(text(f) for f in value)


def _header_item(item: Mapping[bytes, Any]) -> bytes | None:
    for key, value in item.items():
        if key.startswith(b"BODY[HEADER.FIELDS") and isinstance(value, bytes):
            return value
    return None


def meta_from_fetch(uid: int, item: Mapping[bytes, Any], *, gmail: bool) -> MessageMeta | None:
    """One merged imapclient FETCH dict -> MessageMeta; None if it lacks the basic items (unsolicited)."""
    date = item.get(b"INTERNALDATE")
    size = item.get(b"RFC822.SIZE")
    if not isinstance(date, _dt.datetime) or not isinstance(size, int):
        return None
    if date.tzinfo is None:
        date = date.replace(tzinfo=_dt.UTC)
    offset = date.utcoffset() or _dt.timedelta(0)
    labels = item.get(b"X-GM-LABELS")
    msgid, thrid = item.get(b"X-GM-MSGID"), item.get(b"X-GM-THRID")
    return MessageMeta(
        uid=uid,
        size=size,
        internaldate=int(date.timestamp()),
        tz_minutes=int(offset.total_seconds()) // 60,
        flags=_fetched_flags(item.get(b"FLAGS", ())),
        modseq=_modseq(item.get(b"MODSEQ")),
        gm_msgid=int(msgid) if gmail and msgid is not None else None,
        gm_thrid=int(thrid) if gmail and thrid is not None else None,
        gm_labels=labels_from_wire(labels) if gmail and isinstance(labels, tuple | list) else
        (() if gmail else None),
        message_id=header_value(_header_item(item)),
    )


def body_batches(uids: Iterable[int], sizes: Mapping[int, int] | None, batch_bytes: int, count: int = 1000,
                 max_chars: int = 8000) -> Iterator[list[int]]:
    """Sorted UIDs in groups of about ``batch_bytes`` by ``sizes`` (``count`` per group when sizes are
    unknown), each group's UID list under ``max_chars`` characters."""
    batch: list[int] = []
    total = chars = 0
    for uid in sorted(set(uids)):
        size = sizes.get(uid, 0) if sizes is not None else max(1, batch_bytes // count)
        if batch and (total + size > batch_bytes or chars > max_chars):
            yield batch
            batch, total, chars = [], 0, 0
        batch.append(uid)
        total += size
        chars += len(str(uid)) + 1
    if batch:
        yield batch
