"""Just enough RFC 5322 header reading for the emulator: Message-ID, threading headers, SEARCH, HEADER.FIELDS.

Works on the raw bytes as stored (CRLF, LF or mixed line ends; 8-bit bytes decoded as latin-1) and never
alters them.
"""

from __future__ import annotations

import re

_MSGID_RE = re.compile(r"<[^<>\s]*>")


def split(data: bytes) -> tuple[bytes, bytes]:
    """(header block including its blank line, body) of a raw message."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        pos = data.find(sep)
        if pos >= 0:
            other = b"\n\n" if sep == b"\r\n\r\n" else b"\r\n\r\n"
            opos = data.find(other)
            if opos >= 0 and opos < pos:
                pos, sep = opos, other
            return data[:pos + len(sep)], data[pos + len(sep):]
    return data, b""


def raw_fields(data: bytes) -> list[tuple[str, bytes]]:
    """Every header field as (lower-case name, raw bytes of the field including folded lines and EOL)."""
    head, _ = split(data)
    fields: list[tuple[str, bytes]] = []
    for line in head.splitlines(keepends=True):
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + line)
            continue
        colon = line.find(b":")
        if colon <= 0:
            continue
        fields.append((line[:colon].strip().decode("latin-1").lower(), line))
    return fields


def values(data: bytes, name: str) -> list[str]:
    """Unfolded values of every field called ``name`` (case-insensitive)."""
    name = name.lower()
    out = []
    for fname, raw in raw_fields(data):
        if fname == name:
            text = raw.decode("latin-1").split(":", 1)[1]
            out.append(" ".join(text.split()))
    return out


def message_id(data: bytes) -> str | None:
    """The first Message-ID header value, whitespace-folded, or None when absent or empty."""
    for value in values(data, "message-id"):
        if value:
            return value
    return None


def referenced_ids(data: bytes) -> list[str]:
    """Message-IDs named in In-Reply-To and References, most recent last."""
    ids: list[str] = []
    for name in ("references", "in-reply-to"):
        for value in values(data, name):
            ids.extend(_MSGID_RE.findall(value))
    return ids


def select_fields(data: bytes, names: list[str], negate: bool) -> bytes:
    """BODY[HEADER.FIELDS (names)] (or .NOT): the matching raw fields plus the terminating blank line."""
    wanted = {n.lower() for n in names}
    picked = [raw for fname, raw in raw_fields(data) if (fname in wanted) != negate]
    return b"".join(picked) + b"\r\n"
