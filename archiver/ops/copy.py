"""Replicate an archive to another place (local folder <-> S3, S3 <-> S3), incrementally and verified.

Only the files missing at the destination are copied, each checked on the way (its bytes hash to its
name, formats/layout.md) and written create-only.  Order keeps the destination a valid archive at every
moment: dictionaries, packs, index segments, then the snapshot records that refer to them.  An
interrupted copy leaves whole files only, and running it again copies what is still missing.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from archiver.errors import ArchiveNotFound, UsageError
from archiver.progress import NullProgress, Progress
from archiver.remote import S3Options, backend_for
from archiver.store import Archive
from archiver.store.backend import Backend, LocalBackend
from archiver.store.lock import FileLock, also_in, lock_archive_shared

ORDER = ("dicts", "packs", "index", "snapshots")
"""What a snapshot needs is copied before it: a reader of the destination never sees a dangling one."""


@dataclass
class CopyResult:
    """What ``copy_archive`` did; ``ok`` is False when a source file was damaged or missing."""

    source: str
    destination: str
    copied: int = 0
    already_there: int = 0
    bytes_copied: int = 0
    snapshots_copied: int = 0
    damaged: dict[str, str] = field(default_factory=dict)
    """Source files not copied (name -> why): their bytes do not hash to their name, or they vanished."""

    @property
    def ok(self) -> bool:
        return not self.damaged


def _digest_name(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _open_destination(where: str | os.PathLike[str] | Backend, s3: S3Options | None) -> Archive:
    backend = backend_for(where, s3)
    try:
        return Archive.open_backend(backend)
    except ArchiveNotFound:
        if isinstance(backend, LocalBackend):
            return Archive.init(backend.root)
        return Archive.init_backend(backend)


def copy_archive(source: str | os.PathLike[str] | Backend, destination: str | os.PathLike[str] | Backend, *,
                 s3: S3Options | None = None, threads: int = 8,
                 progress: Progress | None = None) -> CopyResult:
    """Copy every file of ``source`` that ``destination`` lacks (creating the destination archive when
    there is none).  Holds the destination's shared archive lock, as a backup does, so a prune there
    waits; the source is read without a lock (a prune of it while copying: run the copy again)."""
    progress = progress or NullProgress()
    src = Archive.open_backend(backend_for(source, s3))
    dst = _open_destination(destination, s3)
    if src.backend.url == dst.backend.url:
        raise UsageError(f"the source and the destination are the same archive ({src.backend.url})")
    result = CopyResult(src.backend.url, dst.backend.url)
    lock: FileLock = also_in(lock_archive_shared(dst.layout.locks), dst.backend, "archive", False)
    try:
        snapshots = set(src.backend.list("snapshots"))  # listed first: all they need is listed after them
        for folder in ORDER:
            names = snapshots if folder == "snapshots" else set(src.backend.list(folder))
            there = set(dst.backend.list(folder))
            missing = sorted(names - there)
            result.already_there += len(names & there)
            progress.start(f"copy {folder}", total=len(missing), unit="file")
            with ThreadPoolExecutor(max(1, threads)) as pool:
                for name, outcome in zip(missing, pool.map(
                        lambda n: _copy_one(src.backend, dst.backend, n), missing), strict=True):
                    if isinstance(outcome, str):
                        result.damaged[name] = outcome
                        progress.note(f"not copied: {name}: {outcome}")
                    else:
                        result.copied += 1
                        result.bytes_copied += outcome
                        result.snapshots_copied += folder == "snapshots"
                    progress.advance(1, outcome if isinstance(outcome, int) else 0)
            progress.finish()
            lock.check()
    finally:
        lock.release()
    return result


def _copy_one(src: Backend, dst: Backend, name: str) -> int | str:
    """Copy ``name`` after checking its bytes against its name: the bytes written, or why not."""
    try:
        data = src.read(name)
    except FileNotFoundError:
        return "gone from the source while copying (a prune there?)"
    if hashlib.sha256(data).hexdigest() != _digest_name(name):
        return "damaged at the source: its bytes do not hash to its name"
    dst.write_if_absent(name, data)
    return len(data)


__all__ = ["CopyResult", "copy_archive"]
