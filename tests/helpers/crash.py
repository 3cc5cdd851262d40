"""Index repair run in a forked child that SIGKILLs itself before durable step ``crash_at``
(``store.fsutil.arm_crash``): the crash tests' one way to stop a writer at an exact step."""

from __future__ import annotations

import os
from pathlib import Path

from archiver.store import Archive, fsutil


def rebuild_index_in_child(path: Path, crash_at: int) -> int:
    """``Archive.rebuild_index`` in a child killed before its ``crash_at``-th durable step: -9 when the kill
    happened, 0 when the repair finished first, 1 when it raised."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            fsutil.arm_crash(crash_at)
            Archive.open(path).rebuild_index()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
