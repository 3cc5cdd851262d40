"""Checkpoints of a long backup, written in the background while downloads go on.

Two kinds.  Often (every ``share`` of the run's bytes): *make durable* - seal the packs and append to a
journal which UIDs / X-GM-MSGIDs the new blobs belong to; it costs the same whatever the archive's size, and
the next run reads the journal to skip those downloads after a kill or a lost connection.  Rarely (every
``seconds``): a partial snapshot with every record known so far, a resumable point in time that other
commands can read.  A checkpoint never starts sooner than ``cost_factor`` times the previous one's
duration after it (bounding the time spent checkpointing) unless two intervals are waiting; at most one
runs at a time, and when downloads outrun it (slow fsync) the caller waits: a few intervals at most are
ever at risk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from archiver.model import MessageRecord


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

    def bytes_for(self, total: int) -> int:
        if self.nbytes is not None:
            return self.nbytes
        return int(max(self.min_bytes, min(self.max_bytes, total * self.share)))


Durable = tuple[str, int, int, str, str | None, tuple[str, ...], int | None]
"""(folder, UIDVALIDITY, UID, blob id, Message-ID, references, X-GM-MSGID) of one stored body."""


class Checkpointer:
    """Decides when a checkpoint is due and runs it on a background thread."""

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
        self._last_cost = 0.0
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.count = 0
        """Partial snapshots written."""
        self.flushes = 0

    def offer(self, nbytes: int, item: Durable, records: Callable[[], Sequence[MessageRecord]]) -> None:
        """``item`` (``nbytes``) was stored; start a checkpoint if one is due (``records()``: its records)."""
        self._since += nbytes
        self._pending.append(item)
        if self._thread is not None and self._thread.is_alive():
            if self._since < 2 * self._interval:
                return
            self._thread.join()  # back-pressure: downloads outrun the disk, wait for it
        self._raise()
        now = time.monotonic()
        full = now - self._last_full >= self._policy.seconds
        if not full and self._since < self._interval:
            return
        too_soon = now - self._last_end < self._policy.cost_factor * self._last_cost
        if too_soon and self._since < 2 * self._interval:
            return
        items, self._pending, self._since = self._pending, [], 0
        snapshot = list(records()) if full else None
        self._thread = threading.Thread(target=self._run, args=(items, snapshot), name="backup-checkpoint",
                                        daemon=True)
        self._thread.start()

    def _run(self, items: Sequence[Durable], records: Sequence[MessageRecord] | None) -> None:
        started = time.monotonic()
        try:
            self._make_durable(items)
            self.flushes += 1
            if records is not None:
                self._commit(records)
                self.count += 1
                self._last_full = time.monotonic()
        except BaseException as exc:
            self._error = exc
        finally:
            self._last_end = time.monotonic()
            self._last_cost = self._last_end - started

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def drain(self) -> None:
        """Make everything pending durable now, on this thread (an interrupted run keeps all it stored)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._pending:
            items, self._pending, self._since = self._pending, [], 0
            self._make_durable(items)
            self.flushes += 1

    def close(self) -> None:
        """Wait for a checkpoint in flight; re-raise its failure."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._raise()


Found = tuple[str, str | None, tuple[str, ...]]
"""(blob id, Message-ID, references) of a body an earlier run stored."""


def read_journal(entries: Iterable[Mapping[str, object]]) -> tuple[dict[tuple[str, int, int], Found],
                                                                   dict[int, Found]]:
    """The bodies earlier (interrupted) runs journaled: by (folder, UIDVALIDITY, UID) and by X-GM-MSGID."""
    by_uid: dict[tuple[str, int, int], Found] = {}
    by_gm: dict[int, Found] = {}
    for entry in entries:
        items = entry.get("items", [])
        for item in items if isinstance(items, (list, tuple)) else ():
            folder, uidvalidity, uid, blob, mid, refs, gm = item
            found = (blob, mid, tuple(refs))
            by_uid[(folder, uidvalidity, uid)] = found
            if gm is not None:
                by_gm[gm] = found
    return by_uid, by_gm
