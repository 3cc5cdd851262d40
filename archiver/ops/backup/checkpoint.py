"""Checkpoints of a long backup, written in the background while downloads go on.

Two kinds.  Often (every ``share`` of the run's bytes): *make durable* - seal the packs and append to a
journal which UIDs / X-GM-MSGIDs the new blobs belong to; it costs the same whatever the archive's size, and
the next run reads the journal to skip those downloads after a kill or a lost connection.  It never starts
sooner than ``cost_factor`` times the previous one's duration after it (bounding the time spent) unless two
intervals are waiting; one runs at a time, and when downloads outrun it (slow fsync) the caller waits, so
a few intervals at most are ever at risk.  Rarely (every ``seconds``, less often when it is slow): a
partial snapshot with every record known so far, a resumable point in time other commands can read; it
runs on its own thread, never holding up the journal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from archiver.model import MessageRecord
from archiver.store.journal_records import StoredBlob, decode_all


@dataclass(frozen=True)
class CheckpointPolicy:
    """Make stored bodies durable after ``share`` of the run's bytes (clamped to ``min_bytes`` ..
    ``max_bytes``; ``nbytes`` fixes it); write a partial snapshot every ``seconds``; never start one
    sooner than ``cost_factor`` times the previous checkpoint's duration after it."""

    nbytes: int | None = None
    share: float = 1 / 48
    min_bytes: int = 1 << 20
    max_bytes: int = 256 << 20
    seconds: float = 60.0
    cost_factor: float = 2.0
    snapshot_cost_factor: float = 20.0
    """A partial snapshot is never started sooner than this many times the previous one's duration."""

    def bytes_for(self, total: int) -> int:
        if self.nbytes is not None:
            return self.nbytes
        return int(max(self.min_bytes, min(self.max_bytes, total * self.share)))


Durable = StoredBlob
"""(folder, UIDVALIDITY, UID, blob id, Message-ID, references, X-GM-MSGID) of one stored body."""


class Checkpointer:
    """Decides when checkpoints are due and runs them on background threads: one thread for the frequent
    cheap kind, one for the rare partial snapshots, so a slow snapshot never holds up the journal."""

    def __init__(self, make_durable: Callable[[Sequence[Durable]], None],
                 commit: Callable[[Sequence[MessageRecord]], None], policy: CheckpointPolicy,
                 total_bytes: int) -> None:
        self._make_durable = make_durable
        self._commit = commit
        self._policy = policy
        self._interval = policy.bytes_for(total_bytes)
        self._since = 0
        self._pending: list[Durable] = []
        self._last_end = self._last_full = time.monotonic()
        self._last_cost = self._full_cost = 0.0
        self._flusher: threading.Thread | None = None
        self._snapshotter: threading.Thread | None = None
        self._error: BaseException | None = None
        self.count = 0
        """Partial snapshots written."""
        self.flushes = 0

    def offer(self, nbytes: int, item: Durable, records: Callable[[], Sequence[MessageRecord]]) -> None:
        """``item`` (``nbytes``) was stored; start a checkpoint if one is due (``records()``: its records)."""
        self._since += nbytes
        self._pending.append(item)
        self._raise()
        now = time.monotonic()
        snapshotting = self._snapshotter is not None and self._snapshotter.is_alive()
        wait = max(self._policy.seconds, self._policy.snapshot_cost_factor * self._full_cost)
        if not snapshotting and now - self._last_full >= wait:
            known = list(records())
            if known:  # an empty snapshot would be no point to resume from
                self._last_full = now
                self._snapshotter = _start(self._run_snapshot, known)
        if self._flusher is not None and self._flusher.is_alive():
            if self._since < 2 * self._interval:
                return
            self._flusher.join()  # back-pressure: downloads outrun the disk, wait for it
        if self._since < self._interval:
            return
        too_soon = now - self._last_end < self._policy.cost_factor * self._last_cost
        if too_soon and self._since < 2 * self._interval:
            return
        items, self._pending, self._since = self._pending, [], 0
        self._flusher = _start(self._run_flush, items)

    def _run_flush(self, items: Sequence[Durable]) -> None:
        started = time.monotonic()
        try:
            self._make_durable(items)
            self.flushes += 1
        except BaseException as exc:
            self._error = exc
        finally:
            self._last_end = time.monotonic()
            self._last_cost = self._last_end - started

    def _run_snapshot(self, records: Sequence[MessageRecord]) -> None:
        started = time.monotonic()
        try:
            self._commit(records)
            self.count += 1
        except BaseException as exc:
            self._error = exc
        finally:
            self._full_cost = time.monotonic() - started

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _join(self) -> None:
        for t in (self._flusher, self._snapshotter):
            if t is not None:
                t.join()
        self._flusher = self._snapshotter = None

    def drain(self) -> None:
        """Make everything pending durable now, on this thread (an interrupted run keeps all it stored)."""
        self._join()
        if self._pending:
            items, self._pending, self._since = self._pending, [], 0
            self._make_durable(items)
            self.flushes += 1

    def close(self) -> None:
        """Wait for the checkpoints in flight; re-raise a failure."""
        self._join()
        self._raise()


def _start(target: Callable[[Sequence[Any]], None], arg: Sequence[Any]) -> threading.Thread:
    thread = threading.Thread(target=target, args=(arg,), name="backup-checkpoint", daemon=True)
    thread.start()
    return thread


Found = tuple[str, str | None, tuple[str, ...]]
"""(blob id, Message-ID, references) of a body an earlier run stored."""


def read_journal(entries: Iterable[Mapping[str, object]]) -> tuple[dict[tuple[str, int, int], Found],
                                                                   dict[int, Found]]:
    """The bodies earlier (interrupted) runs journaled: by (folder, UIDVALIDITY, UID) and by X-GM-MSGID."""
    by_uid: dict[tuple[str, int, int], Found] = {}
    by_gm: dict[int, Found] = {}
    records, _skipped = decode_all(entries)
    for r in records:
        if isinstance(r, StoredBlob):
            found = (r.blob_id, r.message_id, r.refs)
            by_uid[(r.folder, r.uidvalidity, r.uid)] = found
            if r.gm_msgid is not None:
                by_gm[r.gm_msgid] = found
    return by_uid, by_gm
