"""gmail-archiver: incremental, deduplicated backups of Gmail and any IMAP server.

The public library API.  The command line (``archiver.cli``) uses only what is exported here.
"""

from __future__ import annotations

from archiver.errors import (
    ArchiveLocked,
    ArchiveNotFound,
    ArchiverError,
    AuthError,
    Cancelled,
    CapabilityMissing,
    ConnectionLost,
    DamageFound,
    FormatError,
    IntegrityError,
    PartialFailure,
    RemoteError,
    Throttled,
    UnsupportedVersion,
    UsageError,
)
from archiver.model import FolderState, MessageRecord, SnapshotInfo
from archiver.progress import NullProgress, Progress
from archiver.store import Archive, ArchiveStats, ArchiveWriter, Journal, Snapshot

__version__ = "0.1.0"

__all__ = [
    "Archive",
    "ArchiveLocked",
    "ArchiveNotFound",
    "ArchiveStats",
    "ArchiveWriter",
    "ArchiverError",
    "AuthError",
    "Cancelled",
    "CapabilityMissing",
    "ConnectionLost",
    "DamageFound",
    "FolderState",
    "FormatError",
    "IntegrityError",
    "Journal",
    "MessageRecord",
    "NullProgress",
    "PartialFailure",
    "Progress",
    "RemoteError",
    "Snapshot",
    "SnapshotInfo",
    "Throttled",
    "UnsupportedVersion",
    "UsageError",
    "__version__",
]
