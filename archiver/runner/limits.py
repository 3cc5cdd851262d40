"""What ``run --jobs N`` may do at once, so N accounts in parallel give the same archives as one at a time.

- Config accounts signing in as the same user on the same server take turns: they share that user's
  connection limit (Gmail allows about 15 per user; each account's ``connections`` is at most 15), and two
  backups of one mailbox into one archive would only find each other's account lock.
- Within one archive, backups and verifies run together (they hold it shared), while forget and prune wait
  for them and hold it alone: they would otherwise meet the archive lock and fail, or delete a pack a verify
  is reading.  This orders the threads of one process; other processes meet the archive's file locks.
"""

from __future__ import annotations

import contextlib
import os
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from archiver.config import AccountConfig


class SharedExclusive:
    """A readers-writer lock; a waiting writer stops new readers (no starvation of prune)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                self._cond.wait_for(lambda: not self._writer and not self._readers)
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def login_key(acct: AccountConfig) -> str:
    """Who the account signs in as, where: ``user@host:port`` (the service account's subject as the user)."""
    try:
        parts = urllib.parse.urlsplit(acct.source)
        host, port = (parts.hostname or "").lower(), parts.port
        user = urllib.parse.unquote(parts.username or "")
    except ValueError:
        return acct.source  # unparsable: the backup step says so; alone in its turn meanwhile
    return f"{(acct.subject or user).lower()}@{host}:{port or ''}"


def archive_key(acct: AccountConfig) -> str:
    return os.path.realpath(Path(acct.archive))


class Limits:
    """The locks one ``run`` process shares between its account threads (no-ops when there is one)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._logins: dict[str, threading.Lock] = {}
        self._archives: dict[str, SharedExclusive] = {}

    def _archive(self, acct: AccountConfig) -> SharedExclusive:
        with self._guard:
            return self._archives.setdefault(archive_key(acct), SharedExclusive())

    @contextlib.contextmanager
    def backup(self, acct: AccountConfig) -> Iterator[None]:
        """Held by a backup: the account's login alone, its archive shared."""
        with self._guard:
            login = self._logins.setdefault(login_key(acct), threading.Lock())
        with login, self._archive(acct).shared():
            yield

    def reading(self, acct: AccountConfig) -> contextlib.AbstractContextManager[None]:
        """Held by a verify: the archive shared."""
        return self._archive(acct).shared()

    def exclusive(self, acct: AccountConfig) -> contextlib.AbstractContextManager[None]:
        """Held by forget and prune: the archive alone."""
        return self._archive(acct).exclusive()
