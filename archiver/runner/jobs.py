"""``run --jobs N``: N accounts at a time on threads, each log line and progress event naming its account.

The accounts' backups mostly wait on their servers and on zstd, which release the GIL, so threads suffice;
:class:`~archiver.runner.limits.Limits` keeps them from meeting each other's locks.  With N = 1 the accounts
run in the calling thread, one after the other, exactly as before (Ctrl-C interrupts the running backup).
With N > 1 an interrupt stops waiting and propagates; the running backups end with the process (like a
``kill -9``, which leaves every archive valid; the next run resumes them).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

log = logging.getLogger("archiver.run")

ACCOUNT: contextvars.ContextVar[str | None] = contextvars.ContextVar("archiver_run_account", default=None)
"""The config account the current thread works for (None outside ``run``)."""

T = TypeVar("T")
R = TypeVar("R")


class AccountTag(logging.Filter):
    """Prefixes a record logged while working for an account with ``[NAME]`` (once, whatever the handlers).

    The runner's own lines (``archiver.run``) already start with the name.  Threads the backup starts for its
    connections do not inherit the name: their few lines stay untagged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "account_tagged", False):
            return True
        record.account_tagged = True
        name = ACCOUNT.get()
        if name and record.name != log.name:
            prefix = name.replace("%", "%%") if record.args else name
            record.msg = f"[{prefix}] {record.msg}"
        return True


@contextlib.contextmanager
def tagged(handlers: Sequence[logging.Handler]) -> Iterator[None]:
    """Attach :class:`AccountTag` to ``handlers`` for the duration."""
    tag = AccountTag()
    for h in handlers:
        h.addFilter(tag)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(tag)


class LogProgress:
    """A backup's :class:`~archiver.progress.Progress` as INFO lines naming the account: readable when several
    accounts' lines interleave (a bar per account would not be)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._phase = ""
        self._items = 0
        self._bytes = 0

    def start(self, phase: str, total: int | None = None, unit: str = "msg") -> None:
        self._phase, self._items, self._bytes = phase, 0, 0
        log.info("%s: %s%s", self.name, phase, f" ({total} {unit})" if total is not None else "")

    def advance(self, n: int = 1, nbytes: int = 0) -> None:
        self._items += n
        self._bytes += nbytes

    def note(self, message: str) -> None:
        log.info("%s: %s", self.name, message)

    def finish(self) -> None:
        log.info("%s: %s done (%d items, %d bytes)", self.name, self._phase, self._items, self._bytes)


def run_all(items: Sequence[T], jobs: int, name: Callable[[T], str], work: Callable[[T], R],
            on_done: Callable[[R], None] | None = None) -> list[R]:
    """``work(item)`` for every item, ``jobs`` at a time; the results in the items' order.

    ``work`` must not raise (the runner turns every failure into a result).  ``on_done`` is called as each
    finishes, one call at a time (so its printed lines never interleave).
    """
    results: list[R | None] = [None] * len(items)
    done_lock = threading.Lock()

    def one(i: int) -> None:
        token = ACCOUNT.set(name(items[i]))
        try:
            results[i] = r = work(items[i])
        finally:
            ACCOUNT.reset(token)
        if on_done is not None:
            with done_lock:
                on_done(r)

    if jobs <= 1 or len(items) <= 1:
        for i in range(len(items)):
            one(i)
        return [r for r in results if r is not None]
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(len(items)):
        todo.put(i)
    running: set[str] = set()

    def worker() -> None:
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            with done_lock:
                running.add(name(items[i]))
            try:
                one(i)
            finally:
                with done_lock:
                    running.discard(name(items[i]))

    threads = [threading.Thread(target=worker, name=f"run-job-{k}", daemon=True)
               for k in range(min(jobs, len(items)))]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except BaseException:
        log.warning("interrupted while %s ran; their next run resumes where they stopped",
                    ", ".join(sorted(running)) or "no account")
        raise
    return [r for r in results if r is not None]
