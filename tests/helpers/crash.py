"""Work run in a forked child that SIGKILLs itself before durable step ``crash_at``
(``store.fsutil.arm_crash``): the crash tests' one way to stop a writer at an exact step."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from archiver.store import Archive, fsutil


def crash_in_child(work: Callable[[], object], crash_at: int) -> int:
    """``work()`` in a forked child killed before its ``crash_at``-th durable step: -9 when the kill
    happened, 0 when the work finished first, 1 when it raised."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            fsutil.arm_crash(crash_at)
            work()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def rebuild_index_in_child(path: Path, crash_at: int) -> int:
    """``Archive.rebuild_index`` in a child killed before its ``crash_at``-th durable step."""
    return crash_in_child(lambda: Archive.open(path).rebuild_index(), crash_at)
