"""The values of Gmail's metadata operators, as both evaluators read them: the folder names ``in:`` means,
the ``label:`` rule, and dates, ages and sizes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from archiver.errors import UsageError
from archiver.labels import label_matches

FOLDERS: dict[str, tuple[str, ...]] = {
    "inbox": ("\\Inbox", "INBOX"),
    "trash": ("\\Trash", "Trash", "Bin", "Deleted Items", "Deleted Messages", "[Gmail]/Trash", "[Gmail]/Bin"),
    "spam": ("\\Spam", "\\Junk", "Spam", "Junk", "Junk E-mail", "[Gmail]/Spam"),
    "sent": ("\\Sent", "Sent", "Sent Items", "Sent Messages", "[Gmail]/Sent Mail"),
    "drafts": ("\\Draft", "\\Drafts", "Drafts", "[Gmail]/Drafts"),
    "important": ("\\Important",),
    "starred": ("\\Starred", "\\Flagged"),
    "chats": ("\\Chats",),
}
"""``in:`` names -> the stored labels they mean (Gmail system labels, and the usual folder names of other
servers, whose folders are the labels)."""
FOLDERS["bin"] = FOLDERS["trash"]
FOLDERS["junk"] = FOLDERS["spam"]
FOLDERS["draft"] = FOLDERS["drafts"]
FOLDED = {name: frozenset(n.casefold() for n in labels) for name, labels in FOLDERS.items()}
HIDDEN = FOLDED["trash"] | FOLDED["spam"]
IS_VALUES = ("starred", "unread", "read", "important", "draft", "flagged", "answered", "unstarred")
HAS_VALUES = ("attachment", "userlabels", "nouserlabels")


def _norm_label(text: str) -> str:
    return re.sub(r"[\s/\-_]+", "-", text.casefold()).strip("-")


def label_query_matches(wanted: str, label: str) -> bool:
    """Gmail's ``label:`` rule: case-insensitive, a space or ``/`` may be written as ``-``; system labels
    also by their plain or Takeout name (``labels.label_matches``)."""
    return label_matches(wanted, label) or _norm_label(wanted) == _norm_label(label.lstrip("\\"))


def bare_id(message_id: str | None) -> str | None:
    """A Message-ID without whitespace and angle brackets, for comparing."""
    return None if message_id is None else message_id.strip().strip("<>")


def has_any(labels: Iterable[str], names: frozenset[str]) -> bool:
    """Whether ``labels`` hold one of ``names`` (casefolded label names)."""
    return any(label.casefold() in names for label in labels)


_SIZE = re.compile(r"^(\d+)([kmg]?b?)?$", re.IGNORECASE)
_REL = re.compile(r"^(\d+)([dmy])$", re.IGNORECASE)


def parse_size(value: str) -> int:
    m = _SIZE.match(value.strip())
    if not m:
        raise UsageError(f"search query: {value!r} is not a size", hint="e.g. larger:5M smaller:100K")
    unit = (m.group(2) or "").lower().rstrip("b")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[unit]


def parse_date(value: str) -> int:
    """Midnight UTC of a Gmail date (``2024/01/31``, ``2024-1-31``) or unix seconds, as unix seconds."""
    if value.isdigit() and len(value) > 8:
        return int(value)
    m = re.match(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})$", value)
    if not m:
        raise UsageError(f"search query: {value!r} is not a date", hint="e.g. after:2024/01/31")
    try:
        day = dt.datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), tzinfo=dt.UTC)
    except ValueError as exc:
        raise UsageError(f"search query: {value!r} is not a date ({exc})") from None
    return int(day.timestamp())


def age_cutoff(value: str, now: dt.datetime) -> int:
    m = _REL.match(value.strip())
    if not m:
        raise UsageError(f"search query: {value!r} is not an age", hint="e.g. older_than:1y newer_than:7d")
    n, unit = int(m.group(1)), m.group(2).lower()
    if unit == "d":
        return int((now - dt.timedelta(days=n)).timestamp())
    months = n * (12 if unit == "y" else 1)
    y, mo = divmod(now.year * 12 + now.month - 1 - months, 12)
    day = min(now.day, 28)
    return int(now.replace(year=y, month=mo + 1, day=day).timestamp())
