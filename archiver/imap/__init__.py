"""The IMAP layer: sessions to Gmail and any IMAP server, typed results, retry.  Knows nothing of the archive.

See docs/contracts.md for the surface the operations use.
"""

from __future__ import annotations

from archiver.credentials import Credentials
from archiver.imap.endpoint import (
    PASSWORD_ENV,
    Endpoint,
    credentials_from_env_or_command,
    is_loopback,
    parse_url,
)
from archiver.imap.options import ServerOptions
from archiver.imap.records import AppendRefused, AppendResult, Folder, FolderStatus, MessageMeta
from archiver.imap.retry import Reconnecting, RetryPolicy
from archiver.imap.session import Session, connect

__all__ = [
    "PASSWORD_ENV",
    "AppendRefused",
    "AppendResult",
    "Credentials",
    "Endpoint",
    "Folder",
    "FolderStatus",
    "MessageMeta",
    "Reconnecting",
    "RetryPolicy",
    "ServerOptions",
    "Session",
    "connect",
    "credentials_from_env_or_command",
    "is_loopback",
    "parse_url",
]
