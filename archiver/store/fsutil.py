"""Atomic, durable file writes (tmp -> fsync -> rename -> fsync(dir)) and the crash-test hook.

Crash hook: when the environment variable ``GMAIL_ARCHIVER_TEST_CRASH_AT`` holds a number N, the N-th durable
step of this process (each write, fsync, rename and directory fsync counts one) kills the process with SIGKILL
just before it would run.  Tests use it to stop a writer between every step; it costs one integer compare.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import signal
import stat
from collections.abc import Callable
from pathlib import Path

from archiver.errors import FormatError, IntegrityError, UsageError

FILE_MODE = 0o600
DIR_MODE = 0o700
CRASH_ENV = "GMAIL_ARCHIVER_TEST_CRASH_AT"

_crash_at = int(os.environ.get(CRASH_ENV, "0") or "0")
_steps = 0


def step() -> None:
    """Count one durable step; SIGKILL this process when it is the one named by the crash hook."""
    global _steps
    _steps += 1
    if _crash_at and _steps == _crash_at:
        os.kill(os.getpid(), signal.SIGKILL)


def arm_crash(n: int) -> None:
    """Tests: SIGKILL this process at its n-th durable step from now (0 disarms); same as the env hook."""
    global _crash_at, _steps
    _crash_at, _steps = n, 0


def steps_taken() -> int:
    """How many durable steps this process has taken (tests size their crash loops with it)."""
    return _steps


def fsync_dir(path: Path) -> None:
    """Make a rename or creation inside ``path`` durable."""
    step()
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path) -> None:
    """Create ``path`` (mode 0700) and its missing parents; new entries are made durable."""
    if path.is_dir():
        return
    ensure_dir(path.parent)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        return
    fsync_dir(path.parent)


def check_new_folder(path: Path, command: str, empty: Callable[[Path], bool] | None = None) -> None:
    """UsageError (exit 2) unless ``path`` is an empty folder or can be made one: it is a file (or
    anything but a folder), a folder with entries, or below a file.  ``command`` is what to run instead,
    with ``{path}`` for a suggested new path; ``empty`` decides what counts as an empty folder (default:
    no entries at all)."""
    for above in reversed(path.parents):
        if os.path.exists(above) and not above.is_dir():
            raise UsageError(f"cannot create {path}: {above} is a file, not a folder",
                             hint="give a path that is not below a file")
    suggestion = path.with_name(path.name + "-archive") if path.name else path / "archive"
    hint = "give a new or empty folder, e.g. " + command.format(path=suggestion)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{path} is a file, not a folder; an archive is a folder", hint=hint)
    if not (empty(path) if empty is not None else _no_entries(path)):
        raise UsageError(f"{path} is a folder that is not empty; an archive needs a new or empty one",
                         hint=hint)


def _no_entries(path: Path) -> bool:
    with os.scandir(path) as entries:
        return next(entries, None) is None


def write_atomic(path: Path, data: bytes, tmp_dir: Path, *, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` so that ``path`` either does not exist or holds all of ``data``.

    The temporary file lives in ``tmp_dir`` (same file system); a crash leaves at most a stray temporary file.
    """
    ensure_dir(path.parent)
    ensure_dir(tmp_dir)
    tmp = tmp_dir / f"{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        step()
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        step()
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    step()
    os.replace(tmp, path)
    if sync_dir:
        fsync_dir(path.parent)


def open_nofollow(path: Path, flags: int, what: str) -> int:
    """``os.open`` of a file the store writes in place (a lock, a journal), never through a symbolic link:
    neither ``path`` nor its folder may be one (the archive root itself may).  Created files get 0600.

    A link there would make the store truncate or append to whatever it points at, outside the archive:
    FormatError naming the file instead.  Other OSErrors (missing folder, permissions) pass through.
    """
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except NotADirectoryError:
        _refuse_link(path.parent, f"the folder of {what}")
        raise
    try:
        return os.open(path.name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            _refuse_link(path, what)
        raise
    finally:
        os.close(dir_fd)


def _refuse_link(path: Path, what: str) -> None:
    """FormatError when ``path`` is a symbolic link (the store never writes through one); else return."""
    try:
        is_link = stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return
    if is_link:
        raise FormatError(f"{what} ({path}) is a symbolic link; the archive never writes through one",
                          hint=f"remove the link (rm '{path}'); the archive recreates the file")


def read_named(path: Path, what: str) -> bytes:
    """The bytes of an immutable file named by their SHA-256; IntegrityError naming ``what`` when it is
    missing or its bytes do not match its name (the read side of ``write_named``)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"{what} is missing") from None
    if hashlib.sha256(data).hexdigest() != path.name:
        raise IntegrityError(f"{what} is damaged (its bytes do not match its name)")
    return data


def write_named(directory: Path, name: str, data: bytes, tmp_dir: Path, *, fanout: bool = False) -> Path:
    """Store an immutable file named ``name`` (its SHA-256) unless it is already there; return its path."""
    target = (directory / name[:2] / name) if fanout else (directory / name)
    if not target.exists():
        write_atomic(target, data, tmp_dir)
    return target
