"""Parallel body download for backup: several IMAP connections read, one store worker hashes and stores.

Work is cut into jobs (one folder, a run of UIDs, a few MB); each download thread owns one Session and
takes jobs from a shared queue, so connections stay busy whatever the folder sizes.  Bodies go through a
bounded queue to a store thread that calls ``ArchiveWriter.put_blob`` (SHA-256 + zstd), so compression
never stalls the network reads, and memory stays bounded.  A dropped connection or throttling only costs
the rest of one job: the thread backs off, reconnects and asks again for the UIDs it has not received yet.
Everything the caller hears (``on_stored``) happens on the store thread, in order.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from archiver import mail
from archiver.errors import ArchiverError, AuthError, ConnectionLost, RemoteError, Throttled
from archiver.imap import Session

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off between attempts at one job: ``base * 2**n`` seconds, capped, ``attempts`` in all."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 60.0

    def delay(self, attempt: int) -> float:
        return float(min(self.cap, self.base * 2 ** attempt))


def make_jobs(folder: str, sizes: Sequence[tuple[int, int]], *, max_bytes: int = 4 << 20,
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


class StoreSink(Protocol):
    """What the downloader needs from the archive: thread-safe ``put_blob`` (``ArchiveWriter``)."""

    def put_blob(self, data: bytes) -> str: ...


class Downloader:
    """Runs jobs over ``connections`` sessions; ``on_stored`` is called on the store thread per body."""

    def __init__(self, connect: Callable[[], Session], writer: StoreSink, *, connections: int,
                 on_stored: Callable[[Stored], None], retry: RetryPolicy | None = None,
                 first_session: Session | None = None, parse_refs: bool = False) -> None:
        self._connect = connect
        self._writer = writer
        self._connections = max(1, connections)
        self._on_stored = on_stored
        self._retry = retry or RetryPolicy()
        self._first = first_session
        self._parse_refs = parse_refs
        self._bodies: queue.Queue[tuple[str, int, bytes] | None] = queue.Queue(maxsize=64)
        self._jobs: queue.Queue[Job] = queue.Queue()
        self._lock = threading.Lock()
        self._failed: list[Failed] = []
        self._fatal: BaseException | None = None
        self._stop = threading.Event()
        self.bytes_downloaded = 0

    def run(self, jobs: Sequence[Job]) -> list[Failed]:
        """Download every job; returns what could not be had.  Re-raises a fatal error (bad credentials,
        a failure of the archive) after all threads stopped."""
        if not jobs:
            return []
        for job in jobs:
            self._jobs.put(job)
        n = min(self._connections, len(jobs))
        store = threading.Thread(target=self._store_loop, name="backup-store", daemon=True)
        store.start()
        workers = [threading.Thread(target=self._fetch_loop, args=(self._first if i == 0 else None,),
                                    name=f"backup-fetch-{i}", daemon=True) for i in range(n)]
        for w in workers:
            w.start()
        try:
            for w in workers:
                w.join()
        except BaseException:
            self._stop.set()
            raise
        finally:
            self._bodies.put(None)
            store.join()
        if self._fatal is not None:
            raise self._fatal
        return list(self._failed)

    # -- download threads -----------------------------------------------------------------------------------
    def _fetch_loop(self, session: Session | None) -> None:
        try:
            while not self._stop.is_set():
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                session = self._run_job(session, job)
        except BaseException as exc:  # a fatal error: stop everyone, re-raised by run()
            self._abort(exc)
        finally:
            if session is not None and session is not self._first:
                with contextlib.suppress(ArchiverError):
                    session.logout()

    def _run_job(self, session: Session | None, job: Job) -> Session | None:
        todo = list(job.uids)
        attempt = 0
        selected = False
        while todo and not self._stop.is_set():
            got: set[int] = set()
            try:
                if session is None:
                    session = self._connect()
                    selected = False
                if not selected:
                    session.select(job.folder, readonly=True)
                    selected = True
                for uid, data in session.fetch_bodies(todo):
                    got.add(uid)
                    with self._lock:
                        self.bytes_downloaded += len(data)
                    self._bodies.put((job.folder, uid, data))
                    if self._stop.is_set():
                        return session
                missing = [u for u in todo if u not in got]
                if missing:
                    self._fail(Failed(job.folder, tuple(missing),
                                      "the server returned no body (deleted during the backup?)"))
                return session
            except AuthError:
                raise
            except (ConnectionLost, Throttled, RemoteError) as exc:
                todo = [u for u in todo if u not in got]
                attempt += 1
                self._drop(session)
                session, selected = None, False
                if attempt >= self._retry.attempts:
                    self._fail(Failed(job.folder, tuple(todo), f"gave up after {attempt} attempts: {exc}"))
                    return None
                log.info("backup: %s on %s; retrying %d UIDs in %.1fs", type(exc).__name__, job.folder,
                         len(todo), self._retry.delay(attempt - 1))
                if self._stop.wait(self._retry.delay(attempt - 1)):
                    return None
        return session

    def _drop(self, session: Session | None) -> None:
        if session is None:
            return
        if session is self._first:
            self._first = None
        session.close()

    def _fail(self, failed: Failed) -> None:
        with self._lock:
            self._failed.append(failed)

    def _abort(self, exc: BaseException) -> None:
        with self._lock:
            if self._fatal is None:
                self._fatal = exc
        self._stop.set()

    # -- store thread ---------------------------------------------------------------------------------------
    def _store_loop(self) -> None:
        while True:
            item = self._bodies.get()
            if item is None:
                return
            if self._fatal is not None:
                continue  # drain so download threads never block on a full queue
            folder, uid, data = item
            try:
                blob = self._writer.put_blob(data)
                refs = tuple(mail.references(data)) if self._parse_refs else ()
                self._on_stored(Stored(folder, uid, blob, len(data), mail.message_id(data), refs))
            except BaseException as exc:
                self._abort(exc)
