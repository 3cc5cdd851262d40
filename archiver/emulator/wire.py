"""IMAP syntax: parsing a command's arguments, sequence sets and dates; quoting values in responses.

A command arrives as one buffer with its literals inline (``{n}\\r\\n`` + n bytes), as the session reads it.
Tokens are ``Atom`` (str subclass), ``bytes`` (quoted string or literal) or ``list`` (parenthesised).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone


class ParseError(Exception):
    """The arguments are not valid IMAP syntax (answered with BAD)."""


class Atom(str):
    """An unquoted atom (including ``BODY[...]<...>`` section specs, ``\\Flag`` and ``*``)."""


Value = Atom | bytes | list["Value"]

_ATOM_SPECIALS = set(b'(){ %*"\\]') | set(range(0, 32)) | {127}
_SAFE_ATOM = re.compile(r"^[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|}~]+$")


def parse(buf: bytes) -> list[Value]:
    """Tokenise an argument string (the part after tag and command name)."""
    pos = 0
    stack: list[list[Value]] = [[]]
    n = len(buf)
    while pos < n:
        c = buf[pos]
        if c in (0x20, 0x0D, 0x0A):
            pos += 1
        elif c == 0x28:  # (
            stack.append([])
            pos += 1
        elif c == 0x29:  # )
            if len(stack) == 1:
                raise ParseError("unbalanced )")
            inner = stack.pop()
            stack[-1].append(inner)
            pos += 1
        elif c == 0x22:  # "
            out = bytearray()
            pos += 1
            while True:
                if pos >= n:
                    raise ParseError("unterminated quoted string")
                ch = buf[pos]
                if ch == 0x5C and pos + 1 < n:
                    out.append(buf[pos + 1])
                    pos += 2
                elif ch == 0x22:
                    pos += 1
                    break
                else:
                    out.append(ch)
                    pos += 1
            stack[-1].append(bytes(out))
        elif c == 0x7B:  # {
            m = re.compile(rb"\{(\d+)[+-]?\}\r?\n").match(buf, pos)
            if not m:
                raise ParseError("bad literal")
            size = int(m.group(1))
            start = m.end()
            if start + size > n:
                raise ParseError("truncated literal")
            stack[-1].append(buf[start:start + size])
            pos = start + size
        else:
            start = pos
            depth = 0
            while pos < n:
                ch = buf[pos]
                if ch == 0x5B:  # [
                    depth += 1
                elif ch == 0x5D and depth:  # ]
                    depth -= 1
                elif depth == 0 and (ch in _ATOM_SPECIALS and ch not in (0x5C, 0x2A, 0x25, 0x5D)):
                    break
                pos += 1
            stack[-1].append(Atom(buf[start:pos].decode("latin-1")))
    if len(stack) != 1:
        raise ParseError("unbalanced (")
    return stack[0]


def text(v: Value) -> str:
    """An astring argument as text (atoms as written; strings decoded as UTF-8)."""
    if isinstance(v, list):
        raise ParseError("expected a string, got a list")
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    return str(v)


def parse_seqset(spec: str, largest: int) -> list[tuple[int, int]]:
    """``1:3,7,9:*`` -> [(1, 3), (7, 7), (9, largest)] with each range ordered low..high."""
    out = []
    try:
        for part in spec.split(","):
            lo_s, _, hi_s = part.partition(":")
            lo = largest if lo_s == "*" else int(lo_s)
            hi = lo if not hi_s else (largest if hi_s == "*" else int(hi_s))
            if lo <= 0 or hi <= 0:
                raise ValueError(part)
            out.append((min(lo, hi), max(lo, hi)))
    except ValueError:
        raise ParseError(f"invalid sequence set {spec!r}") from None
    return out


def in_ranges(value: int, ranges: list[tuple[int, int]]) -> bool:
    return any(lo <= value <= hi for lo, hi in ranges)


def compress_set(values: list[int]) -> str:
    """[1, 2, 3, 5] -> ``1:3,5``."""
    parts = []
    vals = sorted(values)
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        parts.append(str(vals[i]) if i == j else f"{vals[i]}:{vals[j]}")
        i = j + 1
    return ",".join(parts)


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def format_internaldate(d: datetime) -> str:
    """``17-Jul-2019 09:40:08 +0000`` (the date-time of RFC 3501)."""
    off = d.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return (f"{d.day:02d}-{_MONTHS[d.month - 1]}-{d.year:04d} {d.hour:02d}:{d.minute:02d}:{d.second:02d} "
            f"{sign}{minutes // 60:02d}{minutes % 60:02d}")


def parse_internaldate(s: str) -> datetime:
    m = re.fullmatch(r"\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)", s)
    if not m:
        raise ParseError(f"invalid date-time {s!r}")
    try:
        month = [x.lower() for x in _MONTHS].index(m.group(2).lower()) + 1
    except ValueError:
        raise ParseError(f"invalid month in {s!r}") from None
    off = timedelta(hours=int(m.group(8)), minutes=int(m.group(9)))
    tz = timezone(-off if m.group(7) == "-" else off)
    return datetime(int(m.group(3)), month, int(m.group(1)), int(m.group(4)), int(m.group(5)),
                    int(m.group(6)), tzinfo=tz)


def parse_search_date(s: str) -> datetime:
    """``1-Feb-1994`` (SEARCH SINCE/BEFORE/ON) as a UTC-less date at midnight."""
    m = re.fullmatch(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})", s)
    if not m:
        raise ParseError(f"invalid date {s!r}")
    month = [x.lower() for x in _MONTHS].index(m.group(2).lower()) + 1
    return datetime(int(m.group(3)), month, int(m.group(1)))


def quote(s: str | bytes) -> bytes:
    """A quoted string, or a literal when it holds CR/LF/NUL or is long."""
    b = s.encode("utf-8") if isinstance(s, str) else s
    if b"\r" in b or b"\n" in b or b"\0" in b or len(b) > 1000:
        return b"{%d}\r\n" % len(b) + b
    return b'"' + b.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def astring(s: str) -> bytes:
    """An atom when safe (Gmail sends plain labels like ``fav`` bare), else a quoted string."""
    if _SAFE_ATOM.match(s) and s.upper() != "NIL":
        return s.encode("ascii")
    return quote(s)


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data
