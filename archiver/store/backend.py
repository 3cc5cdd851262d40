"""Where an archive's files live: the one small interface every store read and write of archive data goes
through, so that an object store (or an encrypting layer) can stand in for the local folder.

Names are relative, "/"-separated paths inside the archive (``packs/ab/ab12...``, ``index/<id>``,
``snapshots/<id>``, ``dicts/<id>``, ``archive.json``, ``damage.json``).  The interface covers the archive's
*data*: immutable named files and the few small documents that are replaced whole.  Local working state
(``locks/``, ``journals/``, ``tmp/``, ``cache/``) is not part of it: it belongs to the machine that runs,
and each backend says where it keeps it (``Backend.local_state``).

The ordering rules of formats/invariants.md hold per call: when ``write_if_absent`` or ``replace`` returns,
the file is durable, so a caller that writes a pack, then the segment naming it, then the snapshot
referring to both, gets that order on disk as in an object store.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from archiver.errors import UsageError
from archiver.store.fsutil import fsync_dir, step, write_atomic


@runtime_checkable
class Backend(Protocol):
    """The archive's files: list, read, create-only write, replace, delete."""

    @property
    def url(self) -> str:
        """Where the archive is, for people (never with a credential in it)."""
        ...

    @property
    def local_state(self) -> Path:
        """A local folder for this archive's locks, journals, temporary files and caches."""
        ...

    def list(self, folder: str) -> Iterator[str]:
        """Names of the files under ``folder`` (recursively), in no particular order; a missing folder is
        empty."""
        ...

    def read(self, name: str) -> bytes:
        """All bytes of ``name``; FileNotFoundError when there is no such file."""
        ...

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        """``length`` bytes of ``name`` from ``offset`` (fewer only at the end of the file);
        FileNotFoundError when there is no such file."""
        ...

    def size(self, name: str) -> int:
        """The size of ``name`` in bytes; FileNotFoundError when there is no such file."""
        ...

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists."""
        ...

    def write_if_absent(self, name: str, data: bytes) -> bool:
        """Create ``name`` holding ``data``, atomically and durably, unless it exists: True when this call
        created it, False when it was already there (its bytes are left as they are)."""
        ...

    def replace(self, name: str, data: bytes) -> None:
        """Atomically and durably make ``name`` hold ``data`` (a small mutable document such as
        ``damage.json``): readers see the old bytes or the new, never a mix."""
        ...

    def delete(self, name: str) -> None:
        """Remove ``name``, durably; a missing file is not an error."""
        ...


class HeldLock(Protocol):
    """A lock a backend holds in its own storage (``LockingBackend.hold``)."""

    def check(self) -> None:
        """ArchiveLocked once the lock may have been lost (e.g. a lease that could not be renewed)."""
        ...

    def release(self) -> None:
        ...


@runtime_checkable
class LockingBackend(Protocol):
    """A backend that several machines may share (an object store): its archive and account locks are
    kept in the storage itself, besides the local lock files (formats/remote.md "Locks")."""

    def hold(self, lock: str, *, exclusive: bool, what: str, hint: str) -> HeldLock:
        """Take ``lock`` (``archive`` or ``account-<h>``); ArchiveLocked naming the holder when taken."""
        ...


_OPENERS: dict[str, Callable[[str], Backend]] = {}


def register_scheme(scheme: str, opener: Callable[[str], Backend]) -> None:
    """Let ``Archive.open``/``init`` reach archives at ``scheme://...`` (archiver.remote registers s3)."""
    _OPENERS[scheme] = opener


PROVIDERS = {"s3": "archiver.remote"}
"""URL scheme -> the layer above the store that opens it (registering with ``register_scheme`` when
imported): imported on the first URL of that scheme, so a local archive never loads an object-store client
and the store never imports that layer's code by name."""


def backend_at(where: str | os.PathLike[str]) -> Backend:
    """The Backend of a folder, or of a ``scheme://`` URL whose scheme is registered (UsageError else)."""
    if isinstance(where, str) and (m := re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", where)):
        scheme = m.group(1).lower()
        if scheme not in _OPENERS and scheme in PROVIDERS:
            importlib.import_module(PROVIDERS[scheme])  # the layer registers its opener on import
        opener = _OPENERS.get(scheme)
        if opener is None:
            raise UsageError(f"archives can be local folders or s3://BUCKET/PREFIX, not {m.group(1)}://",
                             hint="give a folder or an s3:// URL")
        return opener(where)
    return LocalBackend(Path(where))


class LocalBackend:
    """An archive in a local folder: today's layout (formats/layout.md), files 0600 and folders 0700, new
    files created under ``tmp/`` and renamed into place, never written through a symbolic link."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.root)!r})"

    @property
    def url(self) -> str:
        return str(self.root)

    @property
    def local_state(self) -> Path:
        return self.root

    def _path(self, name: str) -> Path:
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"not an archive file name: {name!r}")
        return self.root.joinpath(*parts)

    def list(self, folder: str) -> Iterator[str]:
        base = self._path(folder)
        for dirpath, _dirs, files in os.walk(base):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for f in files:
                yield f"{rel}/{f}"

    def read(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        fd = os.open(self._path(name), os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    def size(self, name: str) -> int:
        return self._path(name).stat().st_size

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def write_if_absent(self, name: str, data: bytes) -> bool:
        path = self._path(name)
        if path.exists():
            return False
        write_atomic(path, data, self.root / "tmp")
        return True

    def replace(self, name: str, data: bytes) -> None:
        write_atomic(self._path(name), data, self.root / "tmp")

    def delete(self, name: str) -> None:
        path = self._path(name)
        step()
        try:
            path.unlink()
        except FileNotFoundError:
            return
        fsync_dir(path.parent)


__all__ = ["Backend", "HeldLock", "LocalBackend", "LockingBackend", "backend_at", "register_scheme"]
