"""``--fix-headers``: a missing or broken Date, Message-ID or From repaired; each replaced field is kept,
byte for byte, as ``X-Archiver-Original-<Name>``.  Every other byte of the message stays as it was.

- Date, missing or unparsable: the oldest dated Received field (the first hop, closest to sending), else
  the message's INTERNALDATE when the caller passes it, else Failed.
- Message-ID, missing or empty: ``<blob id>@gmail-archiver.invalid`` (the same for the same bytes, so a
  re-run changes nothing); a bare ``id@host`` without its angle brackets gets them (other messages'
  References name it so: threads stay whole).
- From, missing or without any address: the Sender, else the Return-Path, else
  ``Unknown sender <unknown@unknown.invalid>``.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from archiver import mail
from archiver.ops.rewrite import entity
from archiver.ops.rewrite.transform import Failed, Outcome, Rewritten, Unchanged

ORIGINAL_PREFIX = "X-Archiver-Original-"
ID_DOMAIN = "gmail-archiver.invalid"
UNKNOWN_SENDER = "Unknown sender <unknown@unknown.invalid>"
_BARE_ID = re.compile(r"^[^\s<>@()\",;:]+@[^\s<>@()\",;:]+$")
_ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>@]+")


def parse_date(value: str | None) -> datetime | None:
    """A date value parsed (RFC 5322 and the common broken forms the stdlib takes), or None."""
    if not value or not value.strip():
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None or parsed.year < 1971:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def received_date(raw: bytes) -> datetime | None:
    """The date of the oldest Received field that has one (the text after its last ``;``)."""
    for value in reversed(mail.get_all(raw, "Received")):
        if ";" in value:
            found = parse_date(value.rpartition(";")[2])
            if found is not None:
                return found
    return None


def _has_address(value: str) -> bool:
    return any(_ADDRESS.fullmatch(addr) for _, addr in email.utils.getaddresses([value]))


@dataclass(frozen=True)
class _Fix:
    name: str
    value: str
    replaces: bool
    """True: the broken field is renamed X-Archiver-Original-<name>; False: the field was missing."""
    why: str


def _fix_date(raw: bytes, internaldate: datetime | None) -> _Fix | Failed | None:
    values = mail.get_all(raw, "Date")
    if values and parse_date(values[0]) is not None:
        return None
    found, source = received_date(raw), "the Received chain"
    if found is None and internaldate is not None:
        found, source = internaldate, "the INTERNALDATE"
    if found is None:
        return Failed("Date is missing or broken and neither a Received date nor the INTERNALDATE is known")
    return _Fix("Date", email.utils.format_datetime(found), bool(values),
                f"Date {'broken' if values else 'missing'}: taken from {source}")


def _fix_message_id(raw: bytes, blob_id: str) -> _Fix | None:
    values = mail.get_all(raw, "Message-ID")
    value = mail.fold_ws(values[0]) if values else ""
    if value and mail.msgid_list(value):
        return None
    if _BARE_ID.match(value):
        return _Fix("Message-ID", f"<{value}>", True, "Message-ID without its angle brackets")
    return _Fix("Message-ID", f"<{blob_id}@{ID_DOMAIN}>", bool(values),
                f"Message-ID {'broken' if values else 'missing'}: made from the blob id")


def _fix_from(raw: bytes) -> _Fix | None:
    values = mail.get_all(raw, "From")
    if values and _has_address(values[0]):
        return None
    for name in ("Sender", "Return-Path"):
        other = mail.get(raw, name)
        if other and _has_address(other):
            return _Fix("From", mail.fold_ws(other), bool(values),
                        f"From {'broken' if values else 'missing'}: taken from {name}")
    state = "broken" if values else "missing"
    return _Fix("From", UNKNOWN_SENDER, bool(values), f"From {state}: no sender known")


def fix_headers(internaldate_of: Callable[[str], datetime | None] | None = None) -> HeaderFix:
    """The ``fix-headers`` transform.  The Date of last resort (no Date, no dated Received field) is the
    message's INTERNALDATE: ``internaldate_of(blob_id)``, or the call's ``internaldate`` keyword."""
    return HeaderFix(internaldate_of)


@dataclass(frozen=True)
class HeaderFix:
    internaldate_of: Callable[[str], datetime | None] | None = None

    @property
    def name(self) -> str:
        return "fix-headers"

    def __call__(self, data: bytes, *, blob_id: str, internaldate: datetime | None = None) -> Outcome:
        if internaldate is None and self.internaldate_of is not None:
            internaldate = self.internaldate_of(blob_id)
        date = _fix_date(data, internaldate)
        fixes = [f for f in (date, _fix_message_id(data, blob_id), _fix_from(data)) if isinstance(f, _Fix)]
        if not fixes:
            if isinstance(date, Failed):
                return date
            return Unchanged("Date, Message-ID and From are sound")
        new = _apply(data, fixes)
        note = "; ".join(f.why for f in fixes)
        if isinstance(date, Failed):
            note += f"; not fixed: {date.reason}"
        return Rewritten(new, note)


def _apply(data: bytes, fixes: list[_Fix]) -> bytes:
    """The first field of each fixed name renamed X-Archiver-Original-<Name> (its value bytes untouched),
    the new field right after it; a missing field is put in front of the header block (as a server adds
    Received), which never needs a separator that a broken message may lack."""
    nl = entity.eol(data)
    head = mail.header_block(data)
    spans = entity.fields(head)
    front = b""
    splices: list[tuple[int, int, bytes]] = []
    for fix in fixes:
        line = f"{fix.name}: {fix.value}".encode()
        span = next(((a, b) for n, a, b in spans if n.lower() == fix.name.lower()), None)
        if not fix.replaces or span is None:
            front += line + nl
            continue
        a, b = span
        field = head[a:b]
        original = f"{ORIGINAL_PREFIX}{fix.name}".encode() + field[field.index(b":"):]
        if original.endswith(b"\n"):
            splices.append((a, b, original + line + nl))
        else:  # the last field of the block: its line ending is part of the separator after it
            splices.append((a, b, original + nl + line))
    at = data.find(b"\n") + 1 if data.startswith(b"From ") else 0  # after an mbox "From " line, if any
    out = bytearray(data[:at] + front)
    pos = at
    for a, b, new in sorted(splices):
        out += data[pos:a] + new
        pos = b
    return bytes(out) + data[pos:]
