"""Locks (fcntl.flock, released by the kernel when a holder dies; formats/invariants.md "Locks").

- ``locks/account-<h>.lock``: exclusive, one writer per account; holds "pid host" of the holder.
- ``locks/archive.lock``: every writer holds it shared, prune/forget hold it exclusive.  So prune never runs
  while a writer may still reference a pack it would delete.  Readers take no lock.

Lock files are opened without following symbolic links (``fsutil.open_nofollow``): a planted link is refused
with FormatError naming it, never truncated through.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import socket
from pathlib import Path

from archiver.errors import ArchiveLocked
from archiver.store.backend import Backend, HeldLock, LockingBackend
from archiver.store.fsutil import ensure_dir, open_nofollow


class FileLock:
    """One held flock; :meth:`release` (idempotent) lets it go."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd
        self.remote: HeldLock | None = None
        """The same lock held in a shared backend's storage (formats/remote.md "Locks"), if any."""

    def check(self) -> None:
        """ArchiveLocked when the remote part of the lock may have been lost: stop before writing."""
        if self.remote is not None:
            self.remote.check()

    def release(self) -> None:
        if self.remote is not None:
            self.remote.release()
            self.remote = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


RELEASED_ON_EXIT = ("the system releases this lock when its holder exits, so there is no stale lock to "
                    "delete; `fuser -v {path}` shows the process that holds it")


def _record(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def _running(record: str) -> bool | None:
    """Whether the process a lock file names runs: None when it cannot be told (no record, another host)."""
    m = re.fullmatch(r"pid (\d+) on (\S+)", record)
    if m is None or m.group(2) != socket.gethostname():
        return None
    try:
        os.kill(int(m.group(1)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _describe(record: str) -> str:
    """A holder in words: its pid and host and whether it still runs."""
    if not re.fullmatch(r"pid \d+ on \S+", record):
        return "a process that left no record of itself"
    running = _running(record)
    if running is None:
        return f"{record} (another host: whether it still runs cannot be checked from here)"
    if running:
        return f"{record} (running)"
    return f"a process started by {record}, which is no longer running (its child inherited the lock)"


def _holder(path: Path) -> str:
    """Who holds the lock at ``path``.  The archive lock is held shared by writers, which leave no record in
    it (its text is the last prune's): then the running writers are named from their account locks."""
    record = _record(path)
    if path.name == "archive.lock" and not _running(record):
        writers = sorted({r for r in map(_record, path.parent.glob("account-*.lock")) if _running(r)})
        if writers:
            return "a running writer: " + ", ".join(f"{w} (running)" for w in writers)
        return "a writer (a backup) that left no record of itself"
    return _describe(record)


def _acquire(path: Path, mode: int, what: str, hint: str) -> FileLock:
    ensure_dir(path.parent)
    fd = open_nofollow(path, os.O_RDWR | os.O_CREAT, "a lock file")
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ArchiveLocked(f"{what} is locked by {_holder(path)}",
                            hint=f"{hint}; {RELEASED_ON_EXIT.format(path=path)}") from None
    if mode == fcntl.LOCK_EX:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
    return FileLock(path, fd)


def also_in(lock: FileLock, backend: Backend, name: str, exclusive: bool) -> FileLock:
    """``lock``, also taken in ``backend``'s own storage when it (or the backend a layer such as
    EncryptedBackend wraps, as ``inner``) is a LockingBackend (several machines may share it); the local
    lock is released when the remote one is refused."""
    url = backend.url
    while not isinstance(backend, LockingBackend) and isinstance(getattr(backend, "inner", None), Backend):
        backend = backend.inner  # type: ignore[attr-defined]  # a layer over it (EncryptedBackend): its store
    if isinstance(backend, LockingBackend):
        what = "the archive" if name == "archive" else f"an account ({name})"
        try:
            lock.remote = backend.hold(name, exclusive=exclusive, what=f"{what} of {url}",
                                       hint="another machine runs a backup or prune of it: retry when it "
                                            "has finished")
        except BaseException:
            lock.release()
            raise
    return lock


def account_lock_path(locks_dir: Path, account: str) -> Path:
    return locks_dir / f"account-{hashlib.sha256(account.encode()).hexdigest()[:16]}.lock"


def lock_account(locks_dir: Path, account: str) -> FileLock:
    """The per-account writer lock; ArchiveLocked naming the holder's pid and host when taken."""
    return _acquire(account_lock_path(locks_dir, account), fcntl.LOCK_EX, f"account {account}",
                    "another backup of this account is running: wait for it to finish")


def lock_archive_shared(locks_dir: Path) -> FileLock:
    """Held by every writer: fails while prune/forget holds the archive exclusively."""
    return _acquire(locks_dir / "archive.lock", fcntl.LOCK_SH, "the archive",
                    "prune or forget is running: retry when it has finished")


def lock_archive_exclusive(locks_dir: Path) -> FileLock:
    """Held by prune/forget: fails while any writer is running."""
    lock = _acquire(locks_dir / "archive.lock", fcntl.LOCK_EX, "the archive",
                    "a backup is running: retry when it has finished")
    try:
        _write_holder(locks_dir / "archive.holder")
    except BaseException:
        lock.release()
        raise
    return lock


def _write_holder(path: Path) -> None:
    """``pid <pid> on <host>`` into ``path``, opened without following a link."""
    fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "the lock holder file")
    try:
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    finally:
        os.close(fd)
