"""Back off and reconnect: how backup and restore survive throttling and dropped connections.

``RetryPolicy`` says how long to wait before each new attempt (exponential, capped, jittered; sleep and
randomness injectable for tests).  ``Reconnecting`` owns one Session: ``run(fn)`` calls ``fn(session)`` and,
after ConnectionLost or Throttled, reports the retry through ``note``, waits, reconnects, re-selects the
folder it had selected (refusing to go on if UIDVALIDITY changed) and calls ``fn`` again.  AuthError and other
errors are never retried.  ``fetch_bodies`` resumes a download across reconnects, never a body twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from archiver.errors import ConnectionLost, RemoteError, Throttled
from archiver.imap.records import FolderStatus
from archiver.imap.session import Session

T = TypeVar("T")
RETRYABLE = (ConnectionLost, Throttled)


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` tries in all; waits base * factor**n (``throttled_base`` when throttled), capped."""

    max_attempts: int = 6
    base_delay: float = 1.0
    throttled_base: float = 30.0
    factor: float = 2.0
    max_delay: float = 600.0
    jitter: float = 0.25
    """Fraction of the delay added or removed at random, so parallel connections do not retry in step."""
    throttle_pause: float = 1.0
    """Pause after a command that completed with ``OK ... [THROTTLED]`` (the server asks to slow down)."""
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rand: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, retry: int, throttled: bool = False) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        base = self.throttled_base if throttled else self.base_delay
        raw = min(self.max_delay, base * self.factor ** (retry - 1))
        return max(0.0, raw * (1 + self.jitter * (2 * self.rand() - 1)))


class Reconnecting:
    """One self-healing session: ``run`` retries an operation over fresh connections."""

    def __init__(self, connect: Callable[[], Session], *, policy: RetryPolicy | None = None,
                 note: Callable[[str], None] | None = None) -> None:
        self._connect = connect
        self.policy = policy or RetryPolicy()
        self.note = note or (lambda _message: None)
        self._session: Session | None = None
        self._folder: tuple[str, bool] | None = None
        self._status: FolderStatus | None = None
        self.retries = 0
        """Retries made so far (all operations)."""

    @property
    def session(self) -> Session:
        """The current session, connected (and the folder re-selected) on demand."""
        if self._session is None:
            session = self._connect()
            session.on_throttle = self._throttled_ok
            self._session = session
            if self._folder is not None:
                status = session.select(self._folder[0], readonly=self._folder[1])
                if self._status is not None and status.uidvalidity != self._status.uidvalidity:
                    old, new = self._status.uidvalidity, status.uidvalidity
                    raise RemoteError(f"UIDVALIDITY of {status.name} changed from {old} to {new} while "
                                      "reconnecting: its UIDs are no longer valid")
                self._status = status
        return self._session

    def _throttled_ok(self, text: str) -> None:
        self.note(f"server asks to slow down: {text}")
        self.policy.sleep(self.policy.throttle_pause)

    def select(self, name: str, *, readonly: bool = True, uidvalidity: int | None = None) -> FolderStatus:
        """SELECT (with retries) and remember the folder, so a reconnect re-selects it.  ``uidvalidity``:
        the value an earlier pass (on another connection) read the folder's UIDs under; RemoteError if the
        folder has another one now, since those UIDs would name other messages."""
        self._folder = (name, readonly)
        self._status = None
        status = self.run(lambda s: s.select(name, readonly=readonly))
        if uidvalidity is not None and status.uidvalidity != uidvalidity:
            raise RemoteError(f"UIDVALIDITY of {name} changed during the backup ({uidvalidity} -> "
                              f"{status.uidvalidity}); run the backup again")
        self._status = status
        return status

    def run(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)``, retried on ConnectionLost/Throttled over a new connection; else the last error."""
        attempt = 1
        while True:
            try:
                return fn(self.session)
            except RETRYABLE as exc:
                attempt = self._recover(exc, attempt)

    def fetch_bodies(self, uids: Sequence[int], *, sizes: Mapping[int, int] | None = None,
                     batch_bytes: int | None = None) -> Iterator[tuple[int, bytes]]:
        """Like Session.fetch_bodies, resumed after a reconnect with the UIDs not yet received."""
        remaining = list(uids)
        done: set[int] = set()
        attempt = 1
        while remaining:
            kwargs = {} if batch_bytes is None else {"batch_bytes": batch_bytes}
            try:
                for uid, body in self.session.fetch_bodies(remaining, sizes=sizes, **kwargs):
                    done.add(uid)
                    attempt = 1
                    yield uid, body
                return
            except RETRYABLE as exc:
                attempt = self._recover(exc, attempt)
                remaining = [u for u in remaining if u not in done]

    def _recover(self, exc: RemoteError, attempt: int) -> int:
        """Drop the connection and wait before the next attempt; re-raise when attempts are used up."""
        if self._session is not None:
            self._session.close()
            self._session = None
        if attempt >= self.policy.max_attempts:
            raise exc
        delay = self.policy.delay(attempt, throttled=isinstance(exc, Throttled))
        self.retries += 1
        self.note(f"{exc}; retry {attempt}/{self.policy.max_attempts - 1} in {delay:.0f} s")
        self.policy.sleep(delay)
        return attempt + 1

    def close(self) -> None:
        """LOGOUT the current session, if any."""
        if self._session is not None:
            self._session.logout()
            self._session = None

    def __enter__(self) -> Reconnecting:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
