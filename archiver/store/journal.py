"""Append-only journals of msgpack maps (restore's record of what it did; formats/layout.md "journals").

Each entry is framed ``length (u32 LE) | CRC-32 of payload (u32 LE) | payload (msgpack map)`` and fsynced
before :meth:`Journal.append` returns.  A reader stops at the first frame that is short or fails its CRC (a
torn tail from a crash); the next append first cuts that tail off.  A journal (or its folder) that is a
symbolic link is refused (FormatError naming it), never read or written through.

In an encrypted archive each payload is sealed (an ``EntrySeal``, store/crypto/journal_seal.py) so that no
folder name, Message-ID or label sits in plaintext on the disk; the framing and the torn-tail rule stay.
There a bad entry (short, failing its CRC or not authenticating) is a torn tail only when it is the file's
last or only zero bytes follow it; anywhere else it is damage (IntegrityError naming the journal).
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

import msgpack

from archiver.errors import IntegrityError, UsageError
from archiver.store import codec
from archiver.store.fsutil import ensure_dir, fsync_dir, open_nofollow, step

HEADER = struct.Struct("<II")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def journal_path(journals_dir: Path, name: str) -> Path:
    """``journals/<name>.journal``; UsageError unless ``name`` is a plain file name."""
    if not _NAME.match(name):
        raise UsageError(f"invalid journal name {name!r}")
    return journals_dir / f"{name}.journal"


class EntrySeal(Protocol):
    """Seals the payload of the entry at ``offset`` of journal file ``journal``; ``open`` gives it back, or
    None when it does not authenticate."""

    def seal(self, journal: str, offset: int, payload: bytes) -> bytes: ...

    def open(self, journal: str, offset: int, sealed: bytes) -> bytes | None: ...


class Journal:
    """A crash-safe append-only log; entries are maps with str keys, sealed when ``seal`` is given."""

    def __init__(self, path: Path, seal: EntrySeal | None = None) -> None:
        self.path = path
        self._seal = seal
        self._end: int | None = None

    def _scan(self, data: bytes) -> tuple[int, list[bytes]]:
        """The end of the valid entries of ``data`` and their (opened) payloads."""
        pos, payloads = 0, []
        while pos + HEADER.size <= len(data):
            n, crc = HEADER.unpack_from(data, pos)
            end = pos + HEADER.size + n
            payload = data[pos + HEADER.size: end]
            good = len(payload) == n and zlib.crc32(payload) == crc
            if good and self._seal is not None:
                opened = self._seal.open(self.path.name, pos, payload)
                good, payload = opened is not None, opened or b""
            if not good:
                if self._seal is not None and end < len(data) and data[pos:].count(0) != len(data) - pos:
                    raise IntegrityError(
                        f"journal {self.path.name} is damaged: its entry at byte {pos} does not authenticate "
                        "(changed, or moved from elsewhere)",
                        hint=f"delete {self.path} (a journal only spares work: the run redoes it)")
                break
            payloads.append(payload)
            pos = end
        return pos, payloads

    def _valid_end(self, data: bytes) -> int:
        return self._scan(data)[0]

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
        for payload in self._scan(data)[1]:
            entry = codec.unpack(payload, f"journal {self.path.name}")
            if isinstance(entry, dict):
                yield entry

    def append(self, entry: Mapping[str, object]) -> None:
        """Add one entry; durable when this returns."""
        try:
            payload = msgpack.packb(dict(entry), use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as exc:
            raise UsageError(f"journal entry cannot be encoded: {exc}") from None
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
            if self._seal is not None:
                payload = self._seal.seal(self.path.name, size, payload)
            frame = HEADER.pack(len(payload), zlib.crc32(payload)) + payload
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
