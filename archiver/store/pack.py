"""Pack files: many zstd frames, then a table of contents (TOC), then a fixed trailer (formats/pack.md).

    offset 0      8 bytes   magic b"GMAPACK1"
    8             ...       frames, one per entry, back to back
    T             toc_len   TOC: one zstd frame of msgpack [[kind, id(32 bytes), offset, length, raw_length,
                            dict id(32 bytes) | nil], ...]
    end - 16      4 bytes   toc_len, unsigned little-endian
    end - 12      4 bytes   CRC-32 of the TOC bytes, unsigned little-endian
    end - 8       8 bytes   magic b"GMAPEND1"

The file is named by the SHA-256 of all its bytes.  The TOC at the end lets the index be rebuilt from packs
alone; the index makes reading one entry a single seek.  ``kind`` is ``KIND_BLOB`` (a message) or
``KIND_PAGE`` (a manifest page).
"""

from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from archiver.errors import IntegrityError
from archiver.store import codec
from archiver.store.backend import Backend
from archiver.store.layout import as_backend, hashed_names, pack_name

MAGIC = b"GMAPACK1"
END_MAGIC = b"GMAPEND1"
TRAILER = struct.Struct("<II8s")
KIND_BLOB = 0
KIND_PAGE = 1


@dataclass(frozen=True, slots=True)
class PackEntry:
    """Where one blob or page sits inside a pack."""

    kind: int
    id: str
    offset: int
    length: int
    raw_length: int
    dict_id: str | None


class PackBuilder:
    """Collects compressed frames in memory until :meth:`finish` returns the pack bytes and its entries."""

    def __init__(self) -> None:
        self._parts: list[bytes] = [MAGIC]
        self.size = len(MAGIC)
        self.entries: list[PackEntry] = []

    def add(self, kind: int, entry_id: str, frame: bytes, raw_length: int, dict_id: str | None) -> None:
        self.entries.append(PackEntry(kind, entry_id, self.size, len(frame), raw_length, dict_id))
        self._parts.append(frame)
        self.size += len(frame)

    def __len__(self) -> int:
        return len(self.entries)

    def finish(self) -> bytes:
        toc = encode_toc(self.entries)
        return b"".join([*self._parts, toc, TRAILER.pack(len(toc), zlib.crc32(toc), END_MAGIC)])


def encode_toc(entries: list[PackEntry]) -> bytes:
    rows = [(e.kind, bytes.fromhex(e.id), e.offset, e.length, e.raw_length,
             bytes.fromhex(e.dict_id) if e.dict_id else None) for e in entries]
    return codec.packz(rows)


def read_toc(path: Path) -> list[PackEntry]:
    """The entries of the local pack file at ``path`` (``ARCHIVE/packs/xx/<id>``) from its TOC alone."""
    return read_pack_toc(as_backend(path, 3), path.name)


def read_pack_toc(backend: Backend, pack_id: str) -> list[PackEntry]:
    """The entries of a pack from its TOC alone; IntegrityError names the pack if missing or damaged."""
    name = f"pack {pack_id[:12]}"
    obj = pack_name(pack_id)
    try:
        size = backend.size(obj)
        if size < len(MAGIC) + TRAILER.size:
            raise IntegrityError(f"{name} is truncated ({size} bytes)")
        toc_len, crc, end = TRAILER.unpack(backend.read_range(obj, size - TRAILER.size, TRAILER.size))
        if end != END_MAGIC or toc_len > size - TRAILER.size - len(MAGIC):
            raise IntegrityError(f"{name} has no valid trailer (truncated or not a pack)")
        toc_start = size - TRAILER.size - toc_len
        toc = backend.read_range(obj, toc_start, toc_len)
        if backend.read_range(obj, 0, len(MAGIC)) != MAGIC:
            raise IntegrityError(f"{name} does not start with the pack magic")
    except (FileNotFoundError, NotADirectoryError):
        raise IntegrityError(f"{name} is missing") from None
    if zlib.crc32(toc) != crc:
        raise IntegrityError(f"{name} has a damaged table of contents (CRC mismatch)")
    rows = codec.unpackz(toc, f"{name} table of contents")
    entries = []
    for row in rows:
        kind, raw_id, off, length, raw_len, dict_raw = row
        if off + length > toc_start or off < len(MAGIC):
            raise IntegrityError(f"{name} lists an entry outside its frames")
        dict_id = dict_hex(dict_raw)
        entries.append(PackEntry(kind, raw_id.hex(), off, length, raw_len, dict_id))
    return entries


@functools.lru_cache(maxsize=64)
def dict_hex(raw: bytes | None) -> str | None:
    """Hex id of a dictionary, one shared str per dictionary (an archive has very few; 10^6 entries)."""
    return raw.hex() if raw else None


def pack_path(packs_dir: Path, pack_id: str) -> Path:
    """Packs are spread over 256 sub-folders by the first two hex digits of their id."""
    return packs_dir / pack_id[:2] / pack_id


def list_packs(packs: Backend | Path) -> list[str]:
    """Ids of every pack file present (sorted); ``packs`` is a backend or a local archive's packs/."""
    return hashed_names(as_backend(packs), "packs")
