"""gmail-archiver: incremental, deduplicated backups of Gmail and any IMAP server.

The public library API.  The command line (``archiver.cli``) uses only what is exported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from archiver.config import (
    AccountConfig,
    Config,
    PrunePolicy,
    default_config_path,
    load_config,
    resolve_archive,
)
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
from archiver.filters import MessageFilter
from archiver.imap import AppendRefused, Credentials, credentials_from_env_or_command
from archiver.labels import label_filter
from archiver.model import FolderState, MessageRecord, SnapshotInfo
from archiver.ops.backup import BackupProblem, BackupResult, backup
from archiver.ops.copy import CopyResult, copy_archive
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
from archiver.remote import S3Backend, S3Options, merge_s3_defaults, set_s3_defaults
from archiver.runner import (
    AccountResult,
    RunReport,
    StepResult,
    account_credentials,
    check_account,
    run_accounts,
)
from archiver.runner.schedule import Plan as SchedulePlan
from archiver.runner.schedule import install as schedule_install
from archiver.runner.schedule import plan as schedule_plan
from archiver.runner.schedule import remove as schedule_remove
from archiver.runner.schedule import status as schedule_status
from archiver.store import Archive, ArchiveStats, ArchiveWriter, IndexRepair, Journal, Snapshot

if TYPE_CHECKING:
    from archiver.auth import LoginResult, LogoutResult, SignInStatus, credentials_for
    from archiver.auth import login as auth_login
    from archiver.auth import logout as auth_logout
    from archiver.auth import status as auth_status
    from archiver.emulator import EmulatorConfig, GmailEmulator
    from archiver.emulator.demo import populate as populate_emulator
    from archiver.ops.backup.demo import DemoResult, demo
    from archiver.ops.search import (
        ExtractResult,
        Found,
        LabelState,
        SearchHit,
        SearchResult,
        Summary,
        extract_attachments,
        find_message,
        message_headers,
        message_summaries,
        message_text,
        search,
    )

_LAZY = {  # the Google sign-in (archiver.auth) too: few commands need it
    "credentials_for": ("archiver.auth", "credentials_for"),
    "auth_login": ("archiver.auth", "login"),
    "auth_logout": ("archiver.auth", "logout"),
    "auth_status": ("archiver.auth", "status"),
    "LoginResult": ("archiver.auth", "LoginResult"),
    "LogoutResult": ("archiver.auth", "LogoutResult"),
    "SignInStatus": ("archiver.auth", "SignInStatus"),
    "DemoResult": ("archiver.ops.backup.demo", "DemoResult"),
    "demo": ("archiver.ops.backup.demo", "demo"),
    "EmulatorConfig": ("archiver.emulator", "EmulatorConfig"),
    "GmailEmulator": ("archiver.emulator", "GmailEmulator"),
    "populate_emulator": ("archiver.emulator.demo", "populate"),
    **{name: ("archiver.ops.search", name) for name in (
        "ExtractResult", "Found", "LabelState", "SearchHit", "SearchResult", "extract_attachments",
        "find_message", "message_headers", "message_text", "search", "Summary", "message_summaries")},
}
"""Exports imported on first use: the emulator is a server of its own, ~30 ms of every CLI start; search
brings sqlite3 and the email parser."""


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'archiver' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "AccountConfig",
    "AccountResult",
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
    "Config",
    "ConnectionLost",
    "CopyResult",
    "Credentials",
    "DamageFound",
    "DemoResult",
    "EmulatorConfig",
    "ExportProblem",
    "ExportResult",
    "ExtractResult",
    "FolderState",
    "ForgetResult",
    "FormatError",
    "Found",
    "GmailEmulator",
    "IndexRepair",
    "IntegrityError",
    "Journal",
    "LabelState",
    "LoginResult",
    "LogoutResult",
    "MessageFilter",
    "MessageRecord",
    "NullProgress",
    "PartialFailure",
    "PlannedAction",
    "PolicyDecision",
    "Progress",
    "PrunePolicy",
    "PruneResult",
    "RemoteError",
    "RestoreProblem",
    "RestoreResult",
    "RetentionPolicy",
    "RunReport",
    "S3Backend",
    "S3Options",
    "SchedulePlan",
    "SearchHit",
    "SearchResult",
    "SignInStatus",
    "Snapshot",
    "SnapshotDiff",
    "SnapshotInfo",
    "SnapshotView",
    "StepResult",
    "Summary",
    "Throttled",
    "UnsupportedVersion",
    "UsageError",
    "VerifyReport",
    "__version__",
    "account_credentials",
    "apply_policy",
    "auth_login",
    "auth_logout",
    "auth_status",
    "backup",
    "check_account",
    "copy_archive",
    "credentials_for",
    "credentials_from_env_or_command",
    "default_config_path",
    "demo",
    "diff_snapshots",
    "export",
    "extract_attachments",
    "find_message",
    "forget",
    "forget_snapshots",
    "label_filter",
    "load_config",
    "merge_s3_defaults",
    "message_headers",
    "message_summaries",
    "message_text",
    "open_archive",
    "parse_subset",
    "populate_emulator",
    "prune",
    "resolve_archive",
    "restore",
    "run_accounts",
    "schedule_install",
    "schedule_plan",
    "schedule_remove",
    "schedule_status",
    "search",
    "set_s3_defaults",
    "verify",
]
