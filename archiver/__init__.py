"""gmail-archiver: incremental, deduplicated backups of Gmail and any IMAP server.

The public library API.  The command line (``archiver.cli``) uses only what is exported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

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
from archiver.imap import AppendRefused, Credentials, credentials_from_env_or_command
from archiver.labels import label_filter
from archiver.model import FolderState, MessageRecord, SnapshotInfo
from archiver.ops.backup import BackupProblem, BackupResult, backup
from archiver.ops.export import ExportProblem, ExportResult, export
from archiver.ops.query import ArchiveView, Change, SnapshotDiff, SnapshotView, diff_snapshots, open_archive
from archiver.ops.restore import PlannedAction, RestoreProblem, RestoreResult, restore
from archiver.ops.retention import (
    ForgetResult,
    PolicyDecision,
    PruneResult,
    RetentionPolicy,
    apply_policy,
    forget,
    forget_snapshots,
    prune,
)
from archiver.ops.verify import AffectedMessage, VerifyReport, parse_subset, verify
from archiver.progress import NullProgress, Progress
from archiver.store import Archive, ArchiveStats, ArchiveWriter, IndexRepair, Journal, Snapshot

if TYPE_CHECKING:
    from archiver.emulator import EmulatorConfig, GmailEmulator
    from archiver.emulator.demo import populate as populate_emulator
    from archiver.ops.backup.demo import DemoResult, demo

_LAZY = {
    "DemoResult": ("archiver.ops.backup.demo", "DemoResult"),
    "demo": ("archiver.ops.backup.demo", "demo"),
    "EmulatorConfig": ("archiver.emulator", "EmulatorConfig"),
    "GmailEmulator": ("archiver.emulator", "GmailEmulator"),
    "populate_emulator": ("archiver.emulator.demo", "populate"),
}
"""Exports imported on first use: the emulator is a server of its own, ~30 ms of every CLI start."""


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'archiver' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "AffectedMessage",
    "AppendRefused",
    "Archive",
    "ArchiveLocked",
    "ArchiveNotFound",
    "ArchiveStats",
    "ArchiveView",
    "ArchiveWriter",
    "ArchiverError",
    "AuthError",
    "BackupProblem",
    "BackupResult",
    "Cancelled",
    "CapabilityMissing",
    "Change",
    "ConnectionLost",
    "Credentials",
    "DamageFound",
    "DemoResult",
    "EmulatorConfig",
    "ExportProblem",
    "ExportResult",
    "FolderState",
    "ForgetResult",
    "FormatError",
    "GmailEmulator",
    "IndexRepair",
    "IntegrityError",
    "Journal",
    "MessageRecord",
    "NullProgress",
    "PartialFailure",
    "PlannedAction",
    "PolicyDecision",
    "Progress",
    "PruneResult",
    "RemoteError",
    "RestoreProblem",
    "RestoreResult",
    "RetentionPolicy",
    "Snapshot",
    "SnapshotDiff",
    "SnapshotInfo",
    "SnapshotView",
    "Throttled",
    "UnsupportedVersion",
    "UsageError",
    "VerifyReport",
    "__version__",
    "apply_policy",
    "backup",
    "credentials_from_env_or_command",
    "demo",
    "diff_snapshots",
    "export",
    "forget",
    "forget_snapshots",
    "label_filter",
    "open_archive",
    "parse_subset",
    "populate_emulator",
    "prune",
    "restore",
    "verify",
]
