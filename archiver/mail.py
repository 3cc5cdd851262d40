"""RFC 5322 helpers on raw message bytes: header lookup, Message-ID, References/In-Reply-To, Date.

Works on the exact bytes a server served, never rewrites them, and never fails on broken mail: a message
with no header/body separator, 8-bit or NUL bytes, bare LF or CR LF line ends is read as far as it makes
sense and the helpers answer ``None`` / ``[]`` where a header is absent or unreadable.  Header bytes are
decoded as Latin-1 so that every byte maps to one character and back (no decoding errors).  Stdlib only.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import re

_MSGID = re.compile(r"<([^<>\s]*)>")
_WS = re.compile(r"\s+")
_HEADER_LINE = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:(.*)$", re.S)


def header_block(raw: bytes) -> bytes:
    """The header section of ``raw``: everything before the first empty line (all of it if none)."""
    if raw.startswith((b"\r\n", b"\n")):
        return b""
    crlf = raw.find(b"\r\n\r\n")
    lf = raw.find(b"\n\n", 0, crlf if crlf >= 0 else len(raw))  # never scans a body twice
    ends = [i for i in (crlf, lf) if i >= 0]
    return raw[: min(ends)] if ends else raw


def headers(raw: bytes) -> list[tuple[str, str]]:
    """All header fields as (name, unfolded value), in order; names as written, values Latin-1 decoded.

    A line that is neither a field nor a continuation ends the header section (as in a message whose
    body starts without the empty separator line).
    """
    out: list[tuple[str, str]] = []
    name: bytes | None = None
    value: list[bytes] = []
    for line in header_block(raw).splitlines():
        if line[:1] in (b" ", b"\t"):
            if name is None:
                continue  # continuation before any field (e.g. after a leading "From " line): skip
            value.append(line)
            continue
        if name is not None:
            out.append(_field(name, value))
            name, value = None, []
        m = _HEADER_LINE.match(line)
        if m is None:
            if line.startswith(b"From ") and not out:
                continue  # an mbox separator line left in front of the headers
            break
        name, value = m.group(1), [m.group(2)]
    if name is not None:
        out.append(_field(name, value))
    return out


def _field(name: bytes, parts: list[bytes]) -> tuple[str, str]:
    return name.decode("latin-1"), b" ".join(p.strip(b" \t\r") for p in parts).decode("latin-1").strip()


def get_all(raw: bytes, name: str) -> list[str]:
    """Every value of header ``name`` (case-insensitive), unfolded, in order."""
    want = name.lower()
    return [v for n, v in headers(raw) if n.lower() == want]


def get(raw: bytes, name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive), or None."""
    values = get_all(raw, name)
    return values[0] if values else None


def fold_ws(value: str) -> str:
    """Whitespace runs collapsed to one space, ends stripped (how a Message-ID value is kept)."""
    return _WS.sub(" ", value).strip()


def message_id(raw: bytes) -> str | None:
    """The Message-ID header value as in the message (angle brackets kept, whitespace folded), or None."""
    value = get(raw, "Message-ID")
    return fold_ws(value) or None if value is not None else None


def msgid_list(value: str | None) -> list[str]:
    """The ``<...>`` message ids in a References / In-Reply-To value, brackets kept, duplicates dropped."""
    if not value:
        return []
    seen: dict[str, None] = {}
    for m in _MSGID.finditer(value):
        if m.group(1):
            seen.setdefault(f"<{m.group(1)}>", None)
    return list(seen)


def normalize_id(value: str | None) -> str | None:
    """A Message-ID reduced to its first ``<...>`` token (how other headers refer to it), else folded."""
    if value is None:
        return None
    ids = msgid_list(value)
    if ids:
        return ids[0]
    folded = fold_ws(value)
    return folded or None


def ids(raw: bytes) -> tuple[str | None, list[str]]:
    """(Message-ID, references oldest first) with one pass over the headers (what threading needs)."""
    mid: str | None = None
    refs: list[str] = []
    irt: list[str] = []
    for name, value in headers(raw):
        low = name.lower()
        if low == "message-id" and mid is None:
            mid = fold_ws(value) or None
        elif low == "references":
            refs += msgid_list(value)
        elif low == "in-reply-to":
            irt += msgid_list(value)
    out = list(dict.fromkeys(refs))
    out += [i for i in dict.fromkeys(irt) if i not in out]
    return mid, out


def references(raw: bytes) -> list[str]:
    """Ancestors, oldest first: the References ids, then In-Reply-To ids not already listed."""
    refs = msgid_list(" ".join(get_all(raw, "References")))
    for mid in msgid_list(" ".join(get_all(raw, "In-Reply-To"))):
        if mid not in refs:
            refs.append(mid)
    return refs


def parent_id(raw: bytes) -> str | None:
    """The direct parent: the last References id, else the first In-Reply-To id."""
    refs = msgid_list(" ".join(get_all(raw, "References")))
    if refs:
        return refs[-1]
    irt = msgid_list(" ".join(get_all(raw, "In-Reply-To")))
    return irt[0] if irt else None


def date(raw: bytes) -> _dt.datetime | None:
    """The Date header as an aware datetime (naive dates are taken as UTC), or None if absent/unparsable."""
    value = get(raw, "Date")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.UTC)
    return parsed


def subject(raw: bytes) -> str | None:
    """The raw (undecoded, unfolded) Subject value, or None."""
    return get(raw, "Subject")
