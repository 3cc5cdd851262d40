"""Append-only journals of msgpack maps (restore's record of what it did; formats/layout.md "journals").

Each entry is framed ``length (u32 LE) | CRC-32 of payload (u32 LE) | payload (msgpack map)`` and fsynced
before :meth:`Journal.append` returns.  A reader stops at the first frame that is short or fails its CRC (a
torn tail from a crash); the next append first cuts that tail off.  A journal (or its folder) that is a
symbolic link is refused (FormatError naming it), never read or written through.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import msgpack

from archiver.errors import UsageError
from archiver.store import codec
from archiver.store.fsutil import ensure_dir, fsync_dir, open_nofollow, step

HEADER = struct.Struct("<II")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def journal_path(journals_dir: Path, name: str) -> Path:
    """``journals/<name>.journal``; UsageError unless ``name`` is a plain file name."""
    if not _NAME.match(name):
        raise UsageError(f"invalid journal name {name!r}")
    return journals_dir / f"{name}.journal"


class Journal:
    """A crash-safe append-only log; entries are maps with str keys."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._end: int | None = None

    def _valid_end(self, data: bytes) -> int:
        pos = 0
        while pos + HEADER.size <= len(data):
            n, crc = HEADER.unpack_from(data, pos)
            payload = data[pos + HEADER.size: pos + HEADER.size + n]
            if len(payload) < n or zlib.crc32(payload) != crc:
                break
            pos += HEADER.size + n
        return pos

    def __iter__(self) -> Iterator[dict[str, object]]:
        try:
            fd = open_nofollow(self.path, os.O_RDONLY, f"journal {self.path.name}")
        except FileNotFoundError:
            return
        try:
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read()
        finally:
            os.close(fd)
        end = self._valid_end(data)
        pos = 0
        while pos < end:
            n, _ = HEADER.unpack_from(data, pos)
            entry = codec.unpack(data[pos + HEADER.size: pos + HEADER.size + n], f"journal {self.path.name}")
            pos += HEADER.size + n
            if isinstance(entry, dict):
                yield entry

    def append(self, entry: Mapping[str, object]) -> None:
        """Add one entry; durable when this returns."""
        try:
            payload = msgpack.packb(dict(entry), use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as exc:
            raise UsageError(f"journal entry cannot be encoded: {exc}") from None
        frame = HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        ensure_dir(self.path.parent)
        created = not self.path.exists()
        fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT, f"journal {self.path.name}")
        try:
            size = os.fstat(fd).st_size
            if size and size != self._end:  # first append here, or someone else wrote: check the tail
                end = self._valid_end(os.pread(fd, size, 0))
                if end != size:
                    os.ftruncate(fd, end)
                size = end
            step()
            os.pwrite(fd, frame, size)
            step()
            os.fsync(fd)
            self._end = size + len(frame)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)


def remove_journal(journals_dir: Path, name: str) -> None:
    """Delete the journal ``name`` durably (unlink, then fsync the folder); an absent one is fine."""
    path = journal_path(journals_dir, name)
    step()
    try:
        path.unlink()
    except FileNotFoundError:
        return
    fsync_dir(journals_dir)
