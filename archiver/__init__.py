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

__version__ = "0.1.0"

__all__ = [
    "ArchiveLocked",
    "ArchiveNotFound",
    "ArchiverError",
    "AuthError",
    "Cancelled",
    "CapabilityMissing",
    "ConnectionLost",
    "DamageFound",
    "FolderState",
    "FormatError",
    "IntegrityError",
    "MessageRecord",
    "NullProgress",
    "PartialFailure",
    "Progress",
    "RemoteError",
    "SnapshotInfo",
    "Throttled",
    "UnsupportedVersion",
    "UsageError",
    "__version__",
]
