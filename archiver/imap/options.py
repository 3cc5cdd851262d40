"""How to reach a server: the options backup and restore share (one object instead of six keywords each)."""

from __future__ import annotations

from dataclasses import dataclass, field

from archiver.credentials import Credentials
from archiver.imap.endpoint import Endpoint, parse_url
from archiver.imap.retry import RetryPolicy
from archiver.imap.session import Session, connect


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """The server, the secret to log in with, the back-off after a drop, and how many connections to use.

    ``repr`` never shows the credentials (``Credentials`` hides its secret too)."""

    endpoint: Endpoint
    credentials: Credentials = field(repr=False)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    connections: int = 4
    """Connections side by side (backup downloads; restore uploads to a non-Gmail target)."""

    @classmethod
    def from_url(cls, url: str, credentials: Credentials, *, cacert: str | None = None,
                 insecure: bool = False, retry: RetryPolicy | None = None,
                 connections: int = 4) -> ServerOptions:
        """Options for ``url`` (``parse_url``: UsageError when unusable, e.g. plain imap:// off loopback)."""
        return cls(parse_url(url, cacert=cacert, insecure=insecure), credentials, retry or RetryPolicy(),
                   connections)

    def connect(self) -> Session:
        """One new logged-in session (errors raised as they come: AuthError, ConnectionLost, RemoteError)."""
        return connect(self.endpoint, self.credentials)
