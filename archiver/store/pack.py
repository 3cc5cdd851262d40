"""Pack files: zstd frames, then a table of contents (TOC), then a fixed trailer (formats/pack.md).

Version 1 (``GMAPACK1`` ... ``GMAPEND1``): one frame per entry.

    offset 0      8 bytes   magic b"GMAPACK1"
    8             ...       frames, one per entry, back to back
    T             toc_len   TOC: one zstd frame of msgpack [[kind, id(32 bytes), offset, length, raw_length,
                            dict id(32 bytes) | nil], ...]
    end - 16      4 bytes   toc_len, unsigned little-endian
    end - 12      4 bytes   CRC-32 of the TOC bytes, unsigned little-endian
    end - 8       8 bytes   magic b"GMAPEND1"

Version 2 (``GMAPACK2`` ... ``GMAPEND2``): *blocks*.  A block is one zstd frame holding several entries
back to back (consecutive small messages, ~1 MiB), or one big message or one manifest page alone.  Each
dictionary the pack's frames need is carried in the pack too (a zstd frame of the dictionary's bytes), so
that a damaged ``dicts/<id>`` costs nothing (formats/pack.md "Dictionaries").

    offset 0      8 bytes   magic b"GMAPACK2"
    8             ...       frames: blocks, then the dictionary copies
    T             toc_len   TOC: one zstd frame of msgpack {"dicts": [[dict id(32), offset, length], ...],
                            "blocks": [[offset, length, dict index | nil, [[kind, id(32), raw_length],
                            ...]], ...]} (see encode_blocks)
    end - 16      16 bytes  trailer as in version 1, magic b"GMAPEND2"

The file is named by the SHA-256 of all its bytes.  The TOC at the end lets the index be rebuilt from packs
alone; the index makes reading one entry a single seek (and, in v2, one block decompression).  ``kind`` is
``KIND_BLOB`` (a message) or ``KIND_PAGE`` (a manifest page).
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.errors import IntegrityError
from archiver.store import codec
from archiver.store.backend import Backend
from archiver.store.layout import as_backend, hashed_names, pack_name

MAGIC = b"GMAPACK1"
END_MAGIC = b"GMAPEND1"
MAGIC2 = b"GMAPACK2"
END_MAGIC2 = b"GMAPEND2"
TRAILER = struct.Struct("<II8s")
KIND_BLOB = 0
KIND_PAGE = 1


@dataclass(frozen=True, slots=True)
class PackEntry:
    """Where one blob or page sits inside a pack: the frame at (offset, length); in a v2 pack the frame is
    a block and the entry is ``raw_length`` bytes at ``inner`` of its decompressed bytes (``inner`` is None
    for a v1 frame, which decompresses to exactly the entry)."""

    kind: int
    id: str
    offset: int
    length: int
    raw_length: int
    dict_id: str | None
    inner: int | None = None


@dataclass(frozen=True)
class PackToc:
    """A pack's table of contents: its version, entries and (v2) the dictionary copies it carries."""

    version: int
    entries: list[PackEntry]
    dicts: dict[str, tuple[int, int]] = field(default_factory=dict)
    """dict id -> (offset, length) of its zstd-compressed copy."""


DictSource = Callable[[str], bytes]
"""The bytes of a dictionary by id (a v2 pack carries a copy of each one its frames need)."""


class PackBuilder:
    """Collects compressed frames in memory until :meth:`finish` returns the pack bytes and its entries."""

    def __init__(self, version: int = 1) -> None:
        self.version = version
        self._parts: list[bytes] = [MAGIC2 if version >= 2 else MAGIC]
        self.size = len(MAGIC)
        self.entries: list[PackEntry] = []
        self.dicts: dict[str, tuple[int, int]] = {}

    def add(self, kind: int, entry_id: str, frame: bytes, raw_length: int, dict_id: str | None) -> None:
        """One entry alone in its frame (a v2 pack: a block of one)."""
        self.entries.append(PackEntry(kind, entry_id, self.size, len(frame), raw_length, dict_id,
                                      0 if self.version >= 2 else None))
        self._parts.append(frame)
        self.size += len(frame)

    def add_block(self, frame: bytes, members: Sequence[tuple[int, str, int, int]], dict_id: str | None
                  ) -> None:
        """One v2 block: ``members`` are (kind, id, offset in the block, raw length)."""
        assert self.version >= 2
        for kind, entry_id, inner, raw_length in members:
            self.entries.append(PackEntry(kind, entry_id, self.size, len(frame), raw_length, dict_id, inner))
        self._parts.append(frame)
        self.size += len(frame)

    def __len__(self) -> int:
        return len(self.entries)

    def finish(self, dict_source: DictSource | None = None) -> bytes:
        """The pack's bytes; a v2 pack first appends a copy of each dictionary its entries use."""
        if self.version >= 2:
            for dict_id in sorted({e.dict_id for e in self.entries if e.dict_id}):
                if dict_source is None or dict_id in self.dicts:
                    continue
                frame = codec.compress(dict_source(dict_id))
                self.dicts[dict_id] = (self.size, len(frame))
                self._parts.append(frame)
                self.size += len(frame)
        toc = encode_toc(self.entries, self.dicts, self.version)
        end = END_MAGIC2 if self.version >= 2 else END_MAGIC
        return b"".join([*self._parts, toc, TRAILER.pack(len(toc), zlib.crc32(toc), end)])


def entry_row(e: PackEntry) -> tuple[object, ...]:
    """An entry as stored in a v1 TOC or index segment (six fields), or a v2 one (seven)."""
    row: tuple[object, ...] = (e.kind, bytes.fromhex(e.id), e.offset, e.length, e.raw_length,
                               bytes.fromhex(e.dict_id) if e.dict_id else None)
    return row if e.inner is None else (*row, e.inner)


def encode_blocks(entries: Sequence[PackEntry], dict_ids: Sequence[str]) -> list[tuple[object, ...]]:
    """The entries of a v2 pack as its blocks: ``[[offset, length, dict index | nil, [[kind, id(32),
    raw_length], ...]], ...]`` in pack order; an entry's offset inside its block is the sum of the raw
    lengths before it (entries of a block are contiguous from 0).  ``dict_ids``: the dictionary table the
    index points into."""
    where = {d: i for i, d in enumerate(dict_ids)}
    blocks: list[tuple[object, ...]] = []
    members: list[tuple[int, bytes, int]] = []
    at: tuple[int, int, str | None] | None = None
    running = 0
    for e in sorted(entries, key=lambda e: (e.offset, e.inner or 0)):
        if at != (e.offset, e.length, e.dict_id):
            if at is not None:
                blocks.append((at[0], at[1], None if at[2] is None else where[at[2]], members))
            at, members, running = (e.offset, e.length, e.dict_id), [], 0
        if (e.inner or 0) != running:
            raise ValueError(f"entry {e.id[:12]} is not contiguous in its block")
        members.append((e.kind, bytes.fromhex(e.id), e.raw_length))
        running += e.raw_length
    if at is not None:
        blocks.append((at[0], at[1], None if at[2] is None else where[at[2]], members))
    return blocks


def decode_blocks(blocks: Sequence[Sequence[Any]], dict_ids: Sequence[str | None], limit: int,
                  what: str) -> list[PackEntry]:
    """Inverse of :func:`encode_blocks`; IntegrityError naming ``what`` when a block lies outside
    ``[8, limit)`` or a field is malformed."""
    out: list[PackEntry] = []
    try:
        for off, length, dict_no, members in blocks:
            if off < len(MAGIC) or off + length > limit:
                raise IntegrityError(f"{what} lists an entry outside its frames")
            dict_id = None if dict_no is None else dict_ids[dict_no]
            inner = 0
            for kind, raw_id, raw_length in members:
                if len(raw_id) != 32:
                    raise IntegrityError(f"{what} lists an id that is not 32 bytes")
                out.append(PackEntry(kind, raw_id.hex(), off, length, raw_length, dict_id, inner))
                inner += raw_length
    except (TypeError, ValueError, IndexError) as exc:
        raise IntegrityError(f"{what} has a malformed block: {exc}") from None
    return out


def block_dicts(entries: Sequence[PackEntry]) -> list[str]:
    """The dictionaries entries need, sorted: the table blocks point into."""
    return sorted({e.dict_id for e in entries if e.dict_id})


def encode_toc(entries: list[PackEntry], dicts: Mapping[str, tuple[int, int]] | None = None,
               version: int = 1) -> bytes:
    if version < 2:
        return codec.packz([entry_row(e) for e in entries])
    names = block_dicts(entries)
    copies = [(bytes.fromhex(d), *(dicts or {}).get(d, (None, None))) for d in names]
    return codec.packz({"dicts": copies, "blocks": encode_blocks(entries, names)})


def read_toc(path: Path) -> list[PackEntry]:
    """The entries of the local pack file at ``path`` (``ARCHIVE/packs/xx/<id>``) from its TOC alone."""
    return read_pack_toc(as_backend(path, 3), path.name)


def read_pack_toc(backend: Backend, pack_id: str) -> list[PackEntry]:
    """The entries of a pack from its TOC alone; IntegrityError names the pack if missing or damaged."""
    return read_pack_toc_full(backend, pack_id).entries


def read_pack_toc_full(backend: Backend, pack_id: str) -> PackToc:
    """A pack's TOC (either version); IntegrityError names the pack if missing or damaged."""
    name = f"pack {pack_id[:12]}"
    obj = pack_name(pack_id)
    try:
        size = backend.size(obj)
        if size < len(MAGIC) + TRAILER.size:
            raise IntegrityError(f"{name} is truncated ({size} bytes)")
        toc_len, crc, end = TRAILER.unpack(backend.read_range(obj, size - TRAILER.size, TRAILER.size))
        if end not in (END_MAGIC, END_MAGIC2) or toc_len > size - TRAILER.size - len(MAGIC):
            raise IntegrityError(f"{name} has no valid trailer (truncated or not a pack)")
        version = 2 if end == END_MAGIC2 else 1
        toc_start = size - TRAILER.size - toc_len
        toc = backend.read_range(obj, toc_start, toc_len)
        if backend.read_range(obj, 0, len(MAGIC)) != (MAGIC2 if version == 2 else MAGIC):
            raise IntegrityError(f"{name} does not start with the pack magic")
    except (FileNotFoundError, NotADirectoryError):
        raise IntegrityError(f"{name} is missing") from None
    if zlib.crc32(toc) != crc:
        raise IntegrityError(f"{name} has a damaged table of contents (CRC mismatch)")
    doc = codec.unpackz(toc, f"{name} table of contents")
    dicts: dict[str, tuple[int, int]] = {}
    try:
        if version == 2:
            names: list[str | None] = []
            for raw_id, off, length in doc["dicts"]:
                names.append(raw_id.hex())
                if off is None:
                    continue
                if off + length > toc_start or off < len(MAGIC):
                    raise IntegrityError(f"{name} lists a dictionary outside its frames")
                dicts[raw_id.hex()] = (off, length)
            entries = decode_blocks(doc["blocks"], names, toc_start, name)
        else:
            entries = []
            for row in doc:
                if len(row) != 6:
                    raise IntegrityError(f"{name} table of contents has a malformed entry")
                kind, raw_id, off, length, raw_len, dict_raw = row
                if off + length > toc_start or off < len(MAGIC):
                    raise IntegrityError(f"{name} lists an entry outside its frames")
                entries.append(PackEntry(kind, raw_id.hex(), off, length, raw_len, dict_hex(dict_raw)))
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise IntegrityError(f"{name} table of contents is malformed: {exc}") from None
    return PackToc(version, entries, dicts)


def read_dict_copy(backend: Backend, pack_id: str, dict_id: str) -> bytes | None:
    """The copy of dictionary ``dict_id`` a v2 pack carries, checked against the id; None when the pack has
    none (or it is damaged)."""
    try:
        at = read_pack_toc_full(backend, pack_id).dicts.get(dict_id)
        if at is None:
            return None
        data = codec.decompress(backend.read_range(pack_name(pack_id), *at), f"dictionary copy in {pack_id}")
    except (IntegrityError, OSError):
        return None
    return data if codec.sha256_hex(data) == dict_id else None


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
