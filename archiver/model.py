"""Typed, frozen records shared by every layer.  No I/O here.

Vocabulary (the same words as ``formats/README.md``):
- *blob id*: lowercase hex SHA-256 of the exact bytes the server served for ``BODY.PEEK[]``.
- *key*: the identity of a message inside one account's snapshots.  Gmail: ``"gm:<X-GM-MSGID>"``.
  Other servers: ``"n:<number>"`` (ten digits, in the order the archive first saw the message; format v1
  wrote ``"h:<blob id>"``, plus ``"#<n>"`` for the n-th byte-identical copy, and those stay).  Opaque to
  the store; unique within a snapshot.
- *labels*: Gmail: the X-GM-LABELS of the message (decoded from modified UTF-7, system labels with one
  leading backslash, e.g. ``\\Inbox``), plus ``\\Trash`` / ``\\Spam`` when the message sits in those
  folders.  Other servers: the names of the folders the message is in.  Always a sorted tuple.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

BlobId = str


def aware_date(unix: int, tz_minutes: int) -> _dt.datetime:
    """A stored date (unix seconds, minutes east of UTC) as an aware datetime in that offset."""
    return _dt.datetime.fromtimestamp(unix, _dt.timezone(_dt.timedelta(minutes=tz_minutes)))


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One message of one snapshot: everything but the body (which the blob id names)."""

    key: str
    blob_id: BlobId
    size: int
    internaldate: int
    """INTERNALDATE as unix seconds (UTC)."""
    tz_minutes: int
    """The UTC offset the server gave with INTERNALDATE, minutes east of UTC (to restore it exactly)."""
    flags: tuple[str, ...]
    """Sorted IMAP flags and keywords as served, without ``\\Recent``."""
    labels: tuple[str, ...]
    thread_id: str
    """Gmail: X-GM-THRID in decimal.  Other servers: a thread key rebuilt from References/In-Reply-To."""
    message_id: str | None
    """The Message-ID header value as in the message (angle brackets kept, whitespace folded), if any."""
    uids: tuple[tuple[str, int], ...] = ()
    """Sync state: (folder name, UID) of every folder copy the backup read it from; sorted."""
    gm_msgid: int | None = None
    gm_thrid: int | None = None

    @property
    def date(self) -> _dt.datetime:
        """INTERNALDATE as an aware datetime in the server's original offset."""
        return aware_date(self.internaldate, self.tz_minutes)


@dataclass(frozen=True, slots=True)
class FolderState:
    """What the next incremental run needs to know about one server folder."""

    name: str
    uidvalidity: int
    uidnext: int
    highestmodseq: int | None = None
    role: str | None = None
    """SPECIAL-USE attribute (``\\All``, ``\\Trash``, ``\\Junk``, ...) or None."""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """The header of a snapshot: cheap to list without loading the manifest."""

    id: str
    """Lowercase hex SHA-256 of the snapshot record file."""
    account: str
    """``user@host`` of the source (never a secret)."""
    time: _dt.datetime
    """When the backup finished reading the server (aware, UTC)."""
    message_count: int
    source: str = ""
    """The source URL without credentials."""
    parent: str | None = None
    partial: bool = False
    """True for a checkpoint written during an unfinished run: not a complete point in time."""
    stats: dict[str, int] = field(default_factory=dict)
    """Counters of the run that wrote it (new, changed, deleted, bytes_downloaded, ...)."""

    @property
    def short_id(self) -> str:
        return self.id[:8]
