"""Parallel body download for backup: several IMAP connections read, store threads hash and store.

Work is cut into jobs (one folder, a run of UIDs, under a few MB); each download thread owns one
connection and takes jobs from a shared queue, so connections stay busy whatever the folder sizes.  Bodies
(with their Message-ID and references, parsed on the download thread) go in small lists through a bounded
queue to two store threads that call ``ArchiveWriter.put_blob`` (SHA-256 and zstd release the GIL), so
compression never stalls the network reads and memory stays bounded.  A dropped connection or throttling
only costs the rest of one job: the thread backs off, reconnects and asks again for the UIDs it has not
received yet.
``on_stored`` is called on a store thread, one call at a time.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from archiver import mail
from archiver.errors import ArchiverError, AuthError, RemoteError
from archiver.imap import Session
from archiver.imap.retry import Reconnecting, RetryPolicy


@dataclass(frozen=True)
class Job:
    """UIDs of one folder to download together."""

    folder: str
    uids: tuple[int, ...]
    nbytes: int


@dataclass(frozen=True)
class Stored:
    """One downloaded and stored body."""

    folder: str
    uid: int
    blob_id: str
    size: int
    message_id: str | None
    refs: tuple[str, ...]


@dataclass(frozen=True)
class Failed:
    """UIDs a job could not get, with the reason (no secret in it)."""

    folder: str
    uids: tuple[int, ...]
    reason: str


def make_jobs(folder: str, sizes: Sequence[tuple[int, int]], *, max_bytes: int = 2 << 20,
              max_uids: int = 500) -> list[Job]:
    """Cut ``(uid, size)`` pairs (UID order) into jobs of at most ``max_bytes`` / ``max_uids``."""
    jobs: list[Job] = []
    cur: list[int] = []
    nbytes = 0
    for uid, size in sorted(sizes):
        if cur and (nbytes + size > max_bytes or len(cur) >= max_uids):
            jobs.append(Job(folder, tuple(cur), nbytes))
            cur, nbytes = [], 0
        cur.append(uid)
        nbytes += size
    if cur:
        jobs.append(Job(folder, tuple(cur), nbytes))
    return jobs


STORE_THREADS = 2
HANDOFF_COUNT = 16
HANDOFF_BYTES = 64 << 10
"""Bodies go to the store threads in lists of up to this many (or about this many bytes; at once when
they are idle): one queue hand-over per list instead of per message saves a fifth of the download's CPU
(thread wake-ups), and little more is in flight when a run is killed."""
Body = tuple[str, int, bytes, str | None, tuple[str, ...]]


class StoreSink(Protocol):
    """What the downloader needs from the archive: thread-safe ``put_blob`` (``ArchiveWriter``)."""

    def put_blob(self, data: bytes) -> str: ...


class Downloader:
    """Runs jobs over ``connections`` sessions; ``on_stored`` is called on the store thread per body.

    Each download thread wraps its connection in ``imap.retry.Reconnecting`` (back-off, reconnect,
    re-select, resume without fetching a body twice).  When a job still fails after the policy's attempts,
    the download stops: the rest is reported as missing rather than hammering a throttling server.
    """

    def __init__(self, connect: Callable[[], Session], writer: StoreSink, *, connections: int,
                 on_stored: Callable[[Stored], None], retry: RetryPolicy | None = None,
                 first_session: Session | None = None, parse_refs: bool = False,
                 uidvalidity: Mapping[str, int] | None = None,
                 note: Callable[[str], None] | None = None) -> None:
        self._connect = connect
        self._writer = writer
        self._connections = max(1, connections)
        self._on_stored = on_stored
        self._retry = retry or RetryPolicy()
        self._spare = [first_session] if first_session is not None else []
        self._parse_refs = parse_refs
        self._uidvalidity = dict(uidvalidity or {})
        self._note = note or (lambda _m: None)
        self._bodies: queue.Queue[list[Body] | None] = queue.Queue(maxsize=4)
        self._stored_lock = threading.Lock()
        self._jobs: queue.Queue[Job] = queue.Queue()
        self._lock = threading.Lock()
        self._failed: list[Failed] = []
        self._fatal: BaseException | None = None
        self._stop = threading.Event()
        self._gave_up: str | None = None
        self.bytes_downloaded = 0

    def run(self, jobs: Sequence[Job]) -> list[Failed]:
        """Download every job; returns what could not be had.  Re-raises a fatal error (bad credentials,
        a failure of the archive) after all threads stopped."""
        if not jobs:
            for s in self._spare:
                s.logout()
            return []
        for job in jobs:
            self._jobs.put(job)
        n = min(self._connections, len(jobs))
        stores = [threading.Thread(target=self._store_loop, name=f"backup-store-{i}", daemon=True)
                  for i in range(STORE_THREADS)]
        for t in stores:
            t.start()
        workers = [threading.Thread(target=self._fetch_loop, name=f"backup-fetch-{i}", daemon=True)
                   for i in range(n)]
        for w in workers:
            w.start()
        try:
            for w in workers:
                w.join()
        except BaseException:
            self._stop.set()
            raise
        finally:
            for _t in stores:
                self._bodies.put(None)
            for t in stores:
                t.join()
            for s in self._spare:
                s.logout()
        if self._fatal is not None:
            raise self._fatal
        while not self._jobs.empty():  # left over after giving up
            job = self._jobs.get_nowait()
            self._failed.append(Failed(job.folder, job.uids, f"not attempted: {self._gave_up}"))
        return list(self._failed)

    # -- download threads -----------------------------------------------------------------------------------
    def _session(self) -> Session:
        with self._lock:
            if self._spare:
                return self._spare.pop()
        return self._connect()

    def _fetch_loop(self) -> None:
        rc = Reconnecting(self._session, policy=self._retry, note=self._note)
        selected: str | None = None  # Reconnecting re-selects it after a reconnect
        try:
            while not self._stop.is_set() and self._gave_up is None:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                selected = self._run_job(rc, job, selected)
        except BaseException as exc:  # a fatal error: stop everyone, re-raised by run()
            self._abort(exc)
        finally:
            with contextlib.suppress(ArchiverError, OSError):
                rc.close()

    def _run_job(self, rc: Reconnecting, job: Job, selected: str | None) -> str | None:
        """Download one job; returns the folder now selected (SELECT costs a server-side resync: once)."""
        got: set[int] = set()
        batch: list[Body] = []
        size = 0
        try:
            if job.folder != selected:
                rc.select(job.folder, readonly=True, uidvalidity=self._uidvalidity.get(job.folder))
                selected = job.folder
            for uid, data in rc.fetch_bodies(job.uids):
                got.add(uid)
                with self._lock:
                    self.bytes_downloaded += len(data)
                mid, refs = mail.ids(data) if self._parse_refs else (None, [])
                batch.append((job.folder, uid, data, mid, tuple(refs)))
                size += len(data)
                if len(batch) >= HANDOFF_COUNT or size >= HANDOFF_BYTES or self._bodies.empty():
                    self._bodies.put(batch)
                    batch, size = [], 0
                if self._stop.is_set():
                    return selected
        except AuthError:
            raise
        except RemoteError as exc:  # retries used up (or not retryable): stop downloading
            todo = tuple(u for u in job.uids if u not in got)
            self._fail(Failed(job.folder, todo, f"{type(exc).__name__}: {exc}"))
            with self._lock:
                self._gave_up = self._gave_up or f"the download stopped after {type(exc).__name__}"
            return None
        finally:
            if batch:  # every body received is stored, whatever stopped the job
                self._bodies.put(batch)
        missing = tuple(u for u in job.uids if u not in got)
        if missing:
            self._fail(Failed(job.folder, missing, "no body returned (deleted during the backup?)"))
        return selected

    def _fail(self, failed: Failed) -> None:
        with self._lock:
            self._failed.append(failed)

    def _abort(self, exc: BaseException) -> None:
        with self._lock:
            if self._fatal is None:
                self._fatal = exc
        self._stop.set()

    # -- store threads ---------------------------------------------------------------------------------------
    def _store_loop(self) -> None:
        while True:
            batch = self._bodies.get()
            if batch is None:
                return
            for folder, uid, data, mid, refs in batch:
                if self._fatal is not None:
                    break  # drain so download threads never block on a full queue
                try:
                    blob = self._writer.put_blob(data)  # SHA-256 and zstd let go of the GIL: threads help
                    with self._stored_lock:
                        self._on_stored(Stored(folder, uid, blob, len(data), mid, refs))
                except BaseException as exc:
                    self._abort(exc)
