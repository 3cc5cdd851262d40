"""Where an export writes: only regular files and folders it creates, never through a symbolic link.

The user names the output; its last component must be a regular file (mbox), a folder, or absent: a
device, FIFO or socket is refused even with ``--overwrite`` (``-o /dev/null`` once replaced the device with
a file), and so is a symbolic link.  Inside an output folder every folder is reached from the output one
name at a time with ``O_NOFOLLOW`` (``openat``), so a link planted there (``cur`` -> elsewhere) is refused,
naming it, instead of being followed out of the output.  Files are created with
``O_CREAT|O_EXCL|O_NOFOLLOW`` under a temporary name and renamed into place; a rename replaces a link or
file of that name itself, never what a link points to.  Files get mode 0600 and created folders 0700
whatever the umask: an export is as private as the archive.
"""

from __future__ import annotations

import collections
import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

from archiver.errors import UsageError

FILE_MODE = 0o600
DIR_MODE = 0o700
OPEN_CACHE = 64
"""Folders kept open between messages (Maildir label folders); more are reopened from the output."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a folder" if stat.S_ISDIR(mode) else "a file"


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def check_output(fmt: str, output: Path, overwrite: bool) -> None:
    """Refuse an output we must not write (UsageError, exit 2) before anything is written; create a
    missing output folder (and its missing parents) with mode 0700."""
    st = _lstat(output)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise UsageError(f"{output} is a symbolic link; export never writes through one",
                         hint=f"name the real path: -o {os.path.realpath(output)}")
    if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise UsageError(f"{output} is {_kind(st.st_mode)}, not a regular file or folder; export writes "
                         "only files and folders it creates (--overwrite does not change this)",
                         hint="name a new file or folder" + ("; -o - writes the mbox to standard output"
                                                            if fmt == "mbox" else ""))
    if fmt == "mbox":
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{output} is a folder; an mbox is one file",
                             hint=f"name a file, e.g. -o {output / 'mail.mbox'}, or use --format maildir")
        if st is not None and st.st_size and not overwrite:
            raise UsageError(f"{output} exists and is not empty", hint="pass --overwrite to replace it")
        if not output.parent.is_dir():
            raise UsageError(f"no folder {output.parent} for {output.name}",
                             hint=f"create it first: mkdir -p '{output.parent}'")
        return
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{output} is a file; {fmt} export writes a folder", hint="name a new folder")
    if st is not None:
        with os.scandir(output) as entries:
            if next(entries, None) is not None and not overwrite:
                raise UsageError(f"{output} is not empty", hint="pass --overwrite to write into it anyway")
        return
    missing = [output]
    while _lstat(missing[-1].parent) is None and missing[-1].parent != missing[-1]:
        missing.append(missing[-1].parent)
    for folder in reversed(missing):
        os.mkdir(folder, DIR_MODE)
        os.chmod(folder, DIR_MODE, follow_symlinks=False)


def _clear_name(name: str, dir_fd: int, where: Path) -> None:
    """Unlink a leftover ``name`` in the folder ``dir_fd`` (only the name, never what a link points to);
    a folder there is refused (``where`` names it)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{where} is a folder where export writes a file",
                         hint="remove it, or export into an empty folder")
    os.unlink(name, dir_fd=dir_fd)


def new_file(dir_fd: int, name: str, where: Path) -> int:
    """A new regular file ``name`` (mode 0600) in the folder ``dir_fd``, open for writing.  A leftover of
    that name (from an interrupted export) is unlinked first: only the name, never what a link points to; a
    folder there is refused (``where`` names it)."""
    _clear_name(name, dir_fd, where)
    fd = os.open(name, _NEW_FILE, FILE_MODE, dir_fd=dir_fd)
    os.fchmod(fd, FILE_MODE)
    return fd


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def open_parent(output: Path) -> int:
    """The folder an mbox goes into, as named by the user (links in that path are the user's choice)."""
    return os.open(output.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def temp_name(output: Path) -> str:
    """A fresh hidden name next to ``output`` for its temporary file (``O_EXCL`` never meets an old one)."""
    return f".{output.name}.{secrets.token_hex(4)}.partial"


class OutputTree:
    """An output folder opened without following a link, and folders below it reached one name at a time.

    :meth:`folder` keeps up to ``OPEN_CACHE`` folders open; call :meth:`trim` between messages (never while
    a descriptor from :meth:`folder` is still in use) to close the least recently used ones.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._root = self._open(None, str(path), path)
        self._open_dirs: collections.OrderedDict[tuple[str, ...], int] = collections.OrderedDict()

    @staticmethod
    def _open(parent: int | None, name: str, where: Path) -> int:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except OSError:
                raise exc from None
            if stat.S_ISDIR(st.st_mode):
                raise
            raise UsageError(f"{where} is {_kind(st.st_mode)} where export needs a folder; export never "
                             "writes through a link or into anything it did not create",
                             hint=f"remove it (rm '{where}'), or export into an empty folder") from None

    def _child(self, parent: int, name: str, where: Path) -> int:
        try:
            os.mkdir(name, DIR_MODE, dir_fd=parent)
        except FileExistsError:
            return self._open(parent, name, where)
        fd = self._open(parent, name, where)
        os.fchmod(fd, DIR_MODE)
        return fd

    @property
    def root(self) -> int:
        return self._root

    def folder(self, parts: Sequence[str]) -> int:
        """The descriptor of ``OUT/parts...``, creating missing folders (0700); UsageError when one of them
        is a link, a file or anything but a folder."""
        key = tuple(parts)
        if not key:
            return self._root
        fd = self._open_dirs.get(key)
        if fd is not None:
            self._open_dirs.move_to_end(key)
            return fd
        parent = self._open_dirs.get(key[:-1])
        if parent is None:  # walk down from the root, closing what we pass
            fd = self._root
            for i, name in enumerate(key):
                child = self._child(fd, name, self.path.joinpath(*key[:i + 1]))
                if fd != self._root:
                    os.close(fd)
                fd = child
        else:
            fd = self._child(parent, key[-1], self.path.joinpath(*key))
        self._open_dirs[key] = fd
        return fd

    def trim(self) -> None:
        while len(self._open_dirs) > OPEN_CACHE:
            _, fd = self._open_dirs.popitem(last=False)
            os.close(fd)

    def close(self) -> None:
        for fd in self._open_dirs.values():
            os.close(fd)
        self._open_dirs.clear()
        if self._root >= 0:
            os.close(self._root)
            self._root = -1


def put_file(tmp_dir: int, tmp_name: str, dir_fd: int, name: str, data: bytes, where: Path,
             mtime: float | None = None) -> None:
    """``data`` into a new file ``tmp_name`` of ``tmp_dir``, renamed to ``name`` in ``dir_fd`` (replacing the
    name itself, whatever it held, but never a folder); ``where`` names the file in errors."""
    fd = new_file(tmp_dir, tmp_name, where)
    try:
        write_all(fd, data)
        if mtime is not None:
            os.utime(fd, (mtime, mtime))
    except BaseException:
        os.close(fd)
        os.unlink(tmp_name, dir_fd=tmp_dir)
        raise
    os.close(fd)
    os.replace(tmp_name, name, src_dir_fd=tmp_dir, dst_dir_fd=dir_fd)


def link_or_put(src_dir: int, src_name: str, tmp_dir: int, dir_fd: int, name: str, data: bytes, where: Path,
                mtime: float | None = None) -> None:
    """Another copy of a file already written as ``src_name`` in ``src_dir``: a hard link named ``name`` in
    ``dir_fd`` (a leftover of that name is unlinked first, only the name), or the bytes again through
    ``tmp_dir`` where the file system refuses links."""
    _clear_name(name, dir_fd, where)
    try:
        os.link(src_name, name, src_dir_fd=src_dir, dst_dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        put_file(tmp_dir, name + ".partial", dir_fd, name, data, where, mtime)
