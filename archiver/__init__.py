"""gmail-archiver: incremental, deduplicated backups of Gmail and any IMAP server.

The public library API.  The command line (``archiver.cli``) uses only what is exported here.

Every export but the errors is imported on first use (PEP 562 ``__getattr__``): a command pays only for the
layers it touches (``--version`` imports none of them; ``backup`` no search, export or restore code).
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

if TYPE_CHECKING:
    from archiver.auth import LoginResult, LogoutResult, SignInStatus, credentials_for
    from archiver.auth import login as auth_login
    from archiver.auth import logout as auth_logout
    from archiver.auth import status as auth_status
    from archiver.config import (
        AccountConfig,
        Config,
        PrunePolicy,
        default_config_path,
        load_config,
        resolve_archive,
    )
    from archiver.emulator import EmulatorConfig, GmailEmulator
    from archiver.emulator.demo import populate as populate_emulator
    from archiver.filters import (
        MessageFilter,
    )
    from archiver.imap import (
        AppendRefused,
        Credentials,
        credentials_from_env_or_command,
    )
    from archiver.labels import (
        label_filter,
    )
    from archiver.model import (
        FolderState,
        MessageRecord,
        SnapshotInfo,
    )
    from archiver.ops.backup import (
        BackupProblem,
        BackupResult,
        backup,
    )
    from archiver.ops.backup.demo import DemoResult, demo
    from archiver.ops.copy import CopyResult, copy_archive
    from archiver.ops.export import (
        ExportProblem,
        ExportResult,
        export,
    )
    from archiver.ops.query import (
        ArchiveView,
        Change,
        SnapshotDiff,
        SnapshotView,
        diff_snapshots,
        open_archive,
    )
    from archiver.ops.restore import (
        PlannedAction,
        RestoreProblem,
        RestoreResult,
        restore,
    )
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
    from archiver.ops.rewrite.factory import make_transform as rewrite_transform
    from archiver.ops.rewrite.result import RewriteChange, RewriteProblem, RewriteResult
    from archiver.ops.rewrite.transform import Failed, Outcome, Rewritten, Transform, Unchanged
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
        with_summaries,
    )
    from archiver.ops.verify import (
        AffectedMessage,
        VerifyReport,
        parse_subset,
        verify,
    )
    from archiver.progress import (
        NullProgress,
        Progress,
    )
    from archiver.remote import S3Backend, S3Options, merge_s3_defaults, set_s3_defaults
    from archiver.runner import (
        AccountResult,
        RunReport,
        Shard,
        StepResult,
        account_credentials,
        check_account,
        parse_shard,
        run_accounts,
        shard_of,
    )
    from archiver.runner.rewrite import rewrite
    from archiver.runner.schedule import Plan as SchedulePlan
    from archiver.runner.schedule import install as schedule_install
    from archiver.runner.schedule import plan as schedule_plan
    from archiver.runner.schedule import remove as schedule_remove
    from archiver.runner.schedule import status as schedule_status
    from archiver.store import (
        Archive,
        ArchiveStats,
        ArchiveWriter,
        IndexRepair,
        Journal,
        Snapshot,
    )
    from archiver.store.archive_password import archive_password_from_env_or_command
    from archiver.store.archive_password import set_password_provider as set_archive_password_provider
    from archiver.store.crypto import add_key as key_add
    from archiver.store.crypto import change_password as key_passwd
    from archiver.store.crypto import encrypt_new_archive, encryption_of
    from archiver.store.crypto import list_keys as key_list
    from archiver.store.crypto import remove_key as key_remove

_EXPORTS: dict[str, str] = {  # module -> the exports it defines under the same name
    "archiver.config": "AccountConfig Config PrunePolicy default_config_path load_config resolve_archive",
    "archiver.filters": "MessageFilter",
    "archiver.imap": "AppendRefused Credentials credentials_from_env_or_command",
    "archiver.labels": "label_filter",
    "archiver.model": "FolderState MessageRecord SnapshotInfo",
    "archiver.ops.backup": "BackupProblem BackupResult backup",
    "archiver.ops.export": "ExportProblem ExportResult export",
    "archiver.ops.query": "ArchiveView Change SnapshotDiff SnapshotView diff_snapshots open_archive",
    "archiver.ops.restore": "PlannedAction RestoreProblem RestoreResult restore",
    "archiver.ops.retention": ("ForgetResult PolicyDecision PruneResult RetentionPolicy apply_policy forget "
                               "forget_snapshots prune"),
    "archiver.ops.rewrite.result": "RewriteChange RewriteProblem RewriteResult",
    "archiver.ops.rewrite.transform": "Failed Outcome Rewritten Transform Unchanged",
    "archiver.ops.verify": "AffectedMessage VerifyReport parse_subset verify",
    "archiver.ops.copy": "CopyResult copy_archive",
    "archiver.remote": "S3Backend S3Options merge_s3_defaults set_s3_defaults",
    "archiver.progress": "NullProgress Progress",
    "archiver.runner.run": "AccountResult RunReport StepResult run_accounts",
    "archiver.runner.credentials": "account_credentials",
    "archiver.runner.check": "check_account",
    "archiver.runner.shard": "Shard parse_shard shard_of",
    "archiver.runner.rewrite": "rewrite",
    "archiver.store": "Archive ArchiveStats ArchiveWriter IndexRepair Journal Snapshot",
    "archiver.ops.search": ("ExtractResult Found LabelState SearchHit SearchResult Summary search "
                            "extract_attachments find_message message_headers message_summaries "
                            "message_text with_summaries"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names.split()}
"""Export -> the module that defines it under the same name (imported when the export is first used)."""

_LAZY: dict[str, tuple[str, str]] = {
    "SchedulePlan": ("archiver.runner.schedule", "Plan"),
    "schedule_install": ("archiver.runner.schedule", "install"),
    "schedule_plan": ("archiver.runner.schedule", "plan"),
    "schedule_remove": ("archiver.runner.schedule", "remove"),
    "schedule_status": ("archiver.runner.schedule", "status"),
    "credentials_for": ("archiver.auth", "credentials_for"),
    "auth_login": ("archiver.auth", "login"),
    "auth_logout": ("archiver.auth", "logout"),
    "auth_status": ("archiver.auth", "status"),
    "LoginResult": ("archiver.auth", "LoginResult"),
    "LogoutResult": ("archiver.auth", "LogoutResult"),
    "SignInStatus": ("archiver.auth", "SignInStatus"),
    "DemoResult": ("archiver.ops.backup.demo", "DemoResult"),
    "demo": ("archiver.ops.backup.demo", "demo"),
    "rewrite_transform": ("archiver.ops.rewrite.factory", "make_transform"),
    "EmulatorConfig": ("archiver.emulator", "EmulatorConfig"),
    "GmailEmulator": ("archiver.emulator", "GmailEmulator"),
    "populate_emulator": ("archiver.emulator.demo", "populate"),
    **{public: ("archiver.store.crypto", name) for public, name in (  # cryptography loads only when used
        ("encrypt_new_archive", "encrypt_new_archive"), ("encryption_of", "encryption_of"),
        ("key_add", "add_key"), ("key_list", "list_keys"), ("key_passwd", "change_password"),
        ("key_remove", "remove_key"))},
    "archive_password_from_env_or_command": ("archiver.store.archive_password",
                                             "archive_password_from_env_or_command"),
    "set_archive_password_provider": ("archiver.store.archive_password", "set_password_provider"),
}
"""Exports under another name than their module gives them; the emulator, search and the Google sign-in
are what few commands need."""


def __getattr__(name: str) -> object:
    if name in _LAZY:
        module, attr = _LAZY[name]
    elif name in _MODULE_OF:
        module, attr = _MODULE_OF[name], name
    else:
        raise AttributeError(f"module 'archiver' has no attribute {name!r}")
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
    "Failed",
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
    "Outcome",
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
    "RewriteChange",
    "RewriteProblem",
    "RewriteResult",
    "Rewritten",
    "RunReport",
    "S3Backend",
    "S3Options",
    "SchedulePlan",
    "SearchHit",
    "SearchResult",
    "Shard",
    "SignInStatus",
    "Snapshot",
    "SnapshotDiff",
    "SnapshotInfo",
    "SnapshotView",
    "StepResult",
    "Summary",
    "Throttled",
    "Transform",
    "Unchanged",
    "UnsupportedVersion",
    "UsageError",
    "VerifyReport",
    "__version__",
    "account_credentials",
    "apply_policy",
    "archive_password_from_env_or_command",
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
    "encrypt_new_archive",
    "encryption_of",
    "export",
    "extract_attachments",
    "find_message",
    "forget",
    "forget_snapshots",
    "key_add",
    "key_list",
    "key_passwd",
    "key_remove",
    "label_filter",
    "load_config",
    "merge_s3_defaults",
    "message_headers",
    "message_summaries",
    "message_text",
    "open_archive",
    "parse_shard",
    "parse_subset",
    "populate_emulator",
    "prune",
    "resolve_archive",
    "restore",
    "rewrite",
    "rewrite_transform",
    "run_accounts",
    "schedule_install",
    "schedule_plan",
    "schedule_remove",
    "schedule_status",
    "search",
    "set_archive_password_provider",
    "set_s3_defaults",
    "shard_of",
    "verify",
    "with_summaries",
]
