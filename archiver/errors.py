"""The one exception hierarchy of gmail-archiver; each class knows its exit code.

    ArchiverError (1)
    ├── UsageError (2)              bad input: options, URLs, snapshot specs
    ├── PartialFailure (3)          finished, but some messages failed (listed by the caller)
    ├── ArchiveNotFound (10)        no archive at the path
    ├── ArchiveLocked (11)          another process holds the lock
    ├── AuthError (12)              the server refused the credentials
    ├── DamageFound (13)            verify found damage
    ├── RemoteError (1)             the server or the connection failed
    │   ├── ConnectionLost
    │   ├── CapabilityMissing
    │   └── Throttled               [THROTTLED], [OVERQUOTA], "Session expired" after all retries
    ├── FormatError (1)             the archive is unreadable
    │   ├── UnsupportedVersion
    │   └── IntegrityError          a file does not match its name, or does not decode
    └── Cancelled (130)             interrupted (Ctrl-C; the CLI exits 143 for SIGTERM)

Per-message problems are collected in result objects, not raised.  Only ``archiver.cli`` turns these into
process exit codes.  Messages must never contain secrets.
"""

from __future__ import annotations


class ArchiverError(Exception):
    """Base class. ``hint`` is an optional next step shown to the user."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(ArchiverError):
    exit_code = 2


class PartialFailure(ArchiverError):
    exit_code = 3


class ArchiveNotFound(ArchiverError):
    exit_code = 10


class ArchiveLocked(ArchiverError):
    exit_code = 11


class AuthError(ArchiverError):
    exit_code = 12


class DamageFound(ArchiverError):
    exit_code = 13


class RemoteError(ArchiverError):
    pass


class ConnectionLost(RemoteError):
    pass


class CapabilityMissing(RemoteError):
    pass


class Throttled(RemoteError):
    pass


class FormatError(ArchiverError):
    pass


class UnsupportedVersion(FormatError):
    pass


class IntegrityError(FormatError):
    pass


class Cancelled(ArchiverError):
    exit_code = 130
