"""Uploads over several connections at once (non-Gmail targets): one server process per connection works
on its own share of the messages, so the server's per-APPEND work and ours overlap.

The split keeps resume exactly as safe as with one connection: every message goes to the stream chosen by
its Message-ID (all messages without one share a stream), so the messages an interrupted run's open
intents could be confused with (same Message-ID, or no Message-ID and the same size) were all sent over
one connection, in order, one batch at a time, as before.  Each stream's batches journal their own intents
and confirmations (the journal and the result are shared under ``RunContext.lock``).
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Callable, Sequence
from typing import TypeVar

from archiver.errors import ArchiverError
from archiver.imap import Session
from archiver.ops.restore.plan import mid_key

T = TypeVar("T")
J = TypeVar("J")


def stream_of(message_id: str | None, n: int) -> int:
    """The stream (0..n-1) of a message: by its Message-ID, so that equal ones share a connection."""
    if n <= 1:
        return 0
    return zlib.crc32((mid_key(message_id) or "").encode("utf-8", "replace")) % n


def extra_sessions(open_session: Callable[[], Session] | None, wanted: int) -> list[Session]:
    """Up to ``wanted`` more sessions; stops at the first one the server refuses (a connection limit)."""
    out: list[Session] = []
    if open_session is None:
        return out
    for _ in range(max(0, wanted)):
        try:
            out.append(open_session())
        except (ArchiverError, OSError):
            break
    return out


def run_streams(sessions: Sequence[Session], streams: Sequence[Sequence[J]],
                work: Callable[[Session, J], None]) -> None:
    """Run stream k's jobs in order on ``sessions[k]``, the streams side by side (one thread each).

    After an error in one stream the others stop after their current job (whose confirmations are
    journalled); the first error is raised here, so the caller's reconnect-and-re-plan takes over.
    """
    if len(streams) == 1:
        for job in streams[0]:
            work(sessions[0], job)
        return
    stop = threading.Event()
    errors: list[BaseException] = []

    def run(session: Session, jobs: Sequence[J]) -> None:
        try:
            for job in jobs:
                if stop.is_set():
                    return
                work(session, job)
        except BaseException as exc:  # handed to the calling thread
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=run, args=(s, jobs), daemon=True, name=f"restore-upload-{k}")
               for k, (s, jobs) in enumerate(zip(sessions, streams, strict=False))]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    finally:
        stop.set()
    if errors:
        raise errors[0]


def close_all(sessions: Sequence[Session]) -> None:
    """LOGOUT the extra sessions (errors on broken ones ignored)."""
    for s in sessions:
        with contextlib.suppress(Exception):
            s.logout()


def split(items: Sequence[T], key: Callable[[T], str | None], n: int) -> list[list[T]]:
    """``items`` in ``n`` lists by ``stream_of(key(item))``, each keeping the items' order."""
    out: list[list[T]] = [[] for _ in range(max(1, n))]
    for it in items:
        out[stream_of(key(it), n)].append(it)
    return out


def abort_all(sessions: Sequence[Session]) -> None:
    """Drop the extra sessions without LOGOUT (an interrupt: another thread may be mid-command on them)."""
    for s in sessions:
        s.abort()
