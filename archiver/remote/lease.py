"""Locks kept in the archive's own storage, as objects with leases, so that machines sharing one bucket
exclude one another (formats/remote.md "Locks").

A holder writes its own object ``locks/<lock>/<holder id>`` (JSON: holder, exclusive, expires), then lists
``locks/<lock>/``.  It yields (deletes its object, ArchiveLocked) when it sees a live holder it conflicts
with: any holder for an exclusive lock, an exclusive holder for a shared one.  Both writes precede both
listings, so of two conflicting holders at least the later lister sees the other: never both proceed
(both may yield; a retry settles it).  No conditional write is needed, so this holds on services that
ignore ``If-None-Match``.  A thread renews the lease every third of its length; a holder whose renewals
fail for a whole lease counts it as lost (``Lease.check`` raises) and must stop writing.  An object whose
``expires`` is more than ``skew`` seconds past is stale (its holder died): the next acquirer deletes it, as
it does at once with the object of a process of its own host that no longer runs (a killed backup).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable

from archiver.errors import ArchiveLocked, ArchiverError, FormatError
from archiver.store.backend import Backend

LEASE_SECONDS = 120.0
SKEW_SECONDS = 60.0
"""Clocks of the holders may differ by this much; a lease is taken over only this long after it expired."""


def _describe(record: dict[str, object]) -> str:
    expires = record.get("expires")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expires)) if isinstance(expires, float) else "?"
    mode = "exclusively" if record.get("exclusive") else "shared"
    return f"{record.get('holder', 'an unknown holder')} ({mode}, lease until {when})"


def _died_here(record: dict[str, object]) -> bool:
    """Whether a lock object names a process of this host that no longer runs (killed, say): its lease
    need not be waited out."""
    m = re.fullmatch(r"pid (\d+) on (\S+)", str(record.get("holder", "")))
    if m is None or m.group(2) != socket.gethostname():
        return False
    try:
        os.kill(int(m.group(1)), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    """One held lock object; renewed by a thread until :meth:`release` (idempotent)."""

    def __init__(self, backend: Backend, name: str, record: dict[str, object], lease: float,
                 clock: Callable[[], float]) -> None:
        self.backend = backend
        self.object = name
        self._record = record
        self._lease = lease
        self._clock = clock
        self._renewed = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease {name}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"Lease({self.object!r})"

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._lease / 3):
            try:
                self.renew()
            except (ArchiverError, OSError):
                continue  # retried at the next tick; check() reports a lease that ran out

    def renew(self) -> None:
        """Push the expiry a whole lease ahead."""
        now = self._clock()
        record = {**self._record, "expires": now + self._lease}
        self.backend.replace(self.object, json.dumps(record).encode())
        self._record, self._renewed = record, now

    @property
    def lost(self) -> bool:
        """True when no renewal succeeded for a whole lease: another machine may have taken it over."""
        return self._clock() - self._renewed > self._lease

    def check(self) -> None:
        """ArchiveLocked when the lease was lost: the holder must stop before its next write."""
        if self.lost:
            raise ArchiveLocked(f"the lock {self.object} of {self.backend.url} was not renewed for "
                                f"{self._lease:.0f} s and may have been taken over",
                                hint="check the connection to the storage, then run the command again")

    def release(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        with contextlib.suppress(ArchiverError, OSError):  # else it expires by itself after the lease
            self.backend.delete(self.object)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class LeaseLocks:
    """The lock objects of one archive: ``acquire("archive", exclusive=...)``, ``acquire("account-<h>")``."""

    def __init__(self, backend: Backend, *, lease: float = LEASE_SECONDS, skew: float = SKEW_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.lease = lease
        self.skew = skew
        self.clock = clock

    def holders(self, lock: str) -> dict[str, dict[str, object]]:
        """Object name -> record of every holder object of ``lock`` still there (stale ones included)."""
        out: dict[str, dict[str, object]] = {}
        for name in self.backend.list(f"locks/{lock}"):
            try:
                record = json.loads(self.backend.read(name))
            except FileNotFoundError:
                continue  # released meanwhile
            except ValueError:
                record = {"holder": "an unreadable lock object", "expires": 0.0, "exclusive": True}
            if not isinstance(record, dict):
                raise FormatError(f"{self.backend.url}: the lock object {name} is not a JSON object",
                                  hint=f"delete {name} once no backup or prune runs")
            out[name] = record
        return out

    def acquire(self, lock: str, *, exclusive: bool, what: str, hint: str) -> Lease:
        """Hold ``lock``; ArchiveLocked naming the holder when a live conflicting one holds it."""
        now = self.clock()
        me = f"locks/{lock}/{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
        record: dict[str, object] = {"holder": f"pid {os.getpid()} on {socket.gethostname()}",
                                     "exclusive": exclusive, "expires": now + self.lease}
        self.backend.replace(me, json.dumps(record).encode())
        try:
            for name, other in self.holders(lock).items():
                if name == me:
                    continue
                expires = other.get("expires")
                if (not isinstance(expires, int | float) or expires + self.skew < self.clock()
                        or _died_here(other)):
                    self.backend.delete(name)  # stale: its holder stopped renewing long ago, or died here
                    continue
                if exclusive or other.get("exclusive"):
                    raise ArchiveLocked(f"{what} is locked by {_describe(other)}",
                                        hint=f"{hint}; a holder that died leaves a lease that expires "
                                             f"{self.lease + self.skew:.0f} s after its last renewal")
        except BaseException:
            self.backend.delete(me)
            raise
        return Lease(self.backend, me, record, self.lease, self.clock)


__all__ = ["LEASE_SECONDS", "SKEW_SECONDS", "Lease", "LeaseLocks"]
