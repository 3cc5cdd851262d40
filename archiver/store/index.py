"""The index: which pack holds each blob and page, at which offset (formats/index.md).

On disk, immutable *segments* ``index/<sha256>``, one per flush: a zstd frame of msgpack
``{"version": 1, "packs": [[pack id (32 bytes), [[kind, id (32 bytes), offset, length, raw_length,
dict id | nil], ...]], ...]}``.  The union of all segments is the index.  It can always be rebuilt from the
packs' tables of contents alone (:func:`rebuild_from_packs`), and must then be equal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.errors import FormatError, IntegrityError, UnsupportedVersion
from archiver.store import codec
from archiver.store.backend import Backend
from archiver.store.fsutil import write_atomic
from archiver.store.layout import as_backend, hashed_names, read_hashed
from archiver.store.locmap import Location, LocationMap, Tables
from archiver.store.pack import KIND_BLOB, KIND_PAGE, PackEntry, dict_hex, list_packs, read_pack_toc

__all__ = ["Index", "Location", "add_segment", "adopt_packs", "decode_segment", "encode_segment",
           "list_segments", "load_index", "load_index_tolerant", "read_cache", "read_segment",
           "rebuild_from_packs", "write_cache"]

VERSION = 1


@dataclass
class Index:
    """The in-memory union of index segments: blob id -> Location, page id -> Location."""

    tables: Tables = field(default_factory=Tables)
    blobs: LocationMap = field(init=False)
    pages: LocationMap = field(init=False)
    packs: dict[str, int] = field(default_factory=dict)
    """pack id -> number of entries."""
    segments: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.blobs = LocationMap(self.tables)
        self.pages = LocationMap(self.tables)

    def add_pack(self, pack_id: str, entries: Iterable[PackEntry]) -> None:
        self.add_rows(pack_id, [(e.kind, bytes.fromhex(e.id), e.offset, e.length, e.raw_length,
                                 bytes.fromhex(e.dict_id) if e.dict_id else None) for e in entries])

    def add_rows(self, pack_id: str, rows: Sequence[Sequence[Any]]) -> None:
        """Add a pack's entries as decoded from msgpack: (kind, id bytes, offset, length, raw, dict bytes)."""
        pack_no = self.tables.pack_number(pack_id)
        dict_number = self.tables.dict_number
        blobs, pages = self.blobs.put, self.pages.put
        for kind, raw_id, off, length, raw_len, dict_raw in rows:
            (blobs if kind == KIND_BLOB else pages)(raw_id, pack_no, off, length, raw_len,
                                                    dict_number(dict_hex(dict_raw)))
        self.packs[pack_id] = self.packs.get(pack_id, 0) + len(rows)

    def as_mapping(self) -> dict[tuple[int, str], Location]:
        """Everything, keyed by (kind, id): what 'the same index' means when comparing with a rebuild."""
        out = {(KIND_BLOB, k): v for k, v in self.blobs.items()}
        out.update({(KIND_PAGE, k): v for k, v in self.pages.items()})
        return out


def encode_segment(packs: Mapping[str, Sequence[PackEntry]]) -> bytes:
    """The bytes of one index segment listing ``packs`` (deterministic: packs sorted by id)."""
    rows = [(bytes.fromhex(pid), [(e.kind, bytes.fromhex(e.id), e.offset, e.length, e.raw_length,
                                   bytes.fromhex(e.dict_id) if e.dict_id else None) for e in entries])
            for pid, entries in sorted(packs.items())]
    return codec.packz({"version": VERSION, "packs": rows})


def decode_segment(data: bytes, name: str) -> dict[str, list[PackEntry]]:
    """Inverse of :func:`encode_segment`; IntegrityError / UnsupportedVersion naming the segment."""
    what = f"index segment {name[:12]}"
    doc = codec.unpackz(data, what)
    if not isinstance(doc, dict) or "version" not in doc:
        raise IntegrityError(f"{what} is not an index segment")
    if doc["version"] != VERSION:
        raise UnsupportedVersion(f"{what} has version {doc['version']}; this program reads {VERSION}")
    out: dict[str, list[PackEntry]] = {}
    try:
        for raw_pid, rows in doc["packs"]:
            out[raw_pid.hex()] = [PackEntry(k, i.hex(), o, n, r, dict_hex(d))
                                  for k, i, o, n, r, d in rows]
    except (TypeError, ValueError, AttributeError) as exc:
        raise IntegrityError(f"{what} has a malformed entry: {exc}") from None
    return out


def read_segment(index_dir: Backend | Path, name: str) -> dict[str, list[PackEntry]]:
    """Read and check one segment file (its name must be the SHA-256 of its bytes)."""
    data = read_hashed(as_backend(index_dir), f"index/{name}", f"index segment {name[:12]}")
    return decode_segment(data, name)


def add_segment(index: Index, index_dir: Backend | Path, name: str) -> None:
    """Read one segment (checked against its name) into ``index`` without building PackEntry objects."""
    data = read_hashed(as_backend(index_dir), f"index/{name}", f"index segment {name[:12]}")
    what = f"index segment {name[:12]}"
    try:  # streamed pack by pack: a 10^6-entry segment is never decoded whole
        stream = codec.unpacker(codec.decompress(data, what))
        keys = stream.read_map_header()
        version = None
        for _ in range(keys):
            key = stream.unpack()
            if key == "version":
                version = stream.unpack()
                if version != VERSION:
                    raise UnsupportedVersion(f"{what} has version {version}; this program reads {VERSION}")
            elif key == "packs" and version == VERSION:
                for _ in range(stream.read_array_header()):
                    raw_pid, rows = stream.unpack()
                    pid = raw_pid.hex()
                    if pid not in index.packs:
                        if any(len(row) != 6 or len(row[1]) != 32 for row in rows):
                            raise ValueError("an entry is not [kind, id, offset, length, raw length, dict]")
                        index.add_rows(pid, rows)
            else:  # unknown keys are ignored; "packs" must come after "version"
                if key == "packs":
                    raise ValueError('"packs" before "version"')
                stream.skip()
        if version is None:
            raise ValueError("no version")
    except FormatError:
        raise
    except Exception as exc:  # msgpack raises several unrelated classes
        raise IntegrityError(f"{what} is not a valid index segment: {exc}") from None
    index.segments.add(name)


def list_segments(index_dir: Backend | Path) -> list[str]:
    """The ids of every segment (``index_dir``: a backend, or a local archive's index/)."""
    return hashed_names(as_backend(index_dir), "index")


def load_index(index_dir: Backend | Path, cache: Path | None = None) -> Index:
    """The union of every segment in ``index_dir``.

    With ``cache`` (a file under ``cache/``), segments already merged into it are not read again, and the
    cache is rewritten when ``CACHE_AFTER`` or more segments had to be read, or when it is damaged.  The
    cache is local and rebuildable: it is checked whole (its checksum) and used only when every segment it
    lists still exists; correctness never needs it.
    """
    index_dir = as_backend(index_dir)
    names = list_segments(index_dir)
    index = Index()
    damaged = False
    if cache is not None:
        cached, why = read_cache(cache, set(names))
        damaged = why is not None
        if cached is not None:
            index = cached
    fresh = [n for n in names if n not in index.segments]
    for name in fresh:
        add_segment(index, index_dir, name)
    if cache is not None and (len(fresh) >= CACHE_AFTER or damaged):
        write_cache(cache, index)
    return index


def load_index_tolerant(backend: Backend, cache: Path | None = None) -> tuple[Index, dict[str, str]]:
    """Like :func:`load_index`, but a damaged segment does not stop reading: returns the union of the
    readable segments plus the TOCs of the packs none of them lists, and the damaged segments (id -> why).

    The index is derived data, so what a damaged segment listed is rebuilt from the packs themselves
    (formats/invariants.md "Read order").  A segment of an unknown version still raises
    (UnsupportedVersion): that is not damage.  Nothing is written.
    """
    index_dir = backend
    try:
        return load_index(index_dir, cache), {}
    except UnsupportedVersion:
        raise
    except IntegrityError:
        pass
    damaged: dict[str, str] = {}
    while True:  # a segment may fail half-way, after adding some rows: start over without it
        index = Index()
        try:
            for name in list_segments(index_dir):
                if name not in damaged:
                    add_segment(index, index_dir, name)
            break
        except UnsupportedVersion:
            raise
        except IntegrityError as exc:
            damaged[name] = str(exc)
    adopt_packs(index, backend)
    return index, damaged


def adopt_packs(index: Index, packs_dir: Backend | Path, unreadable: dict[str, str] | None = None
                ) -> list[str]:
    """Add the TOC of every pack in ``packs_dir`` that ``index`` lacks; return their ids.

    Packs are immutable and named by their hash, so an entry read this way is as good as an indexed one.
    A pack whose TOC cannot be read is skipped (recorded in ``unreadable``, id -> why, and not retried
    when already there).
    """
    adopted = []
    backend = as_backend(packs_dir)
    for pid in list_packs(backend):
        if pid in index.packs or (unreadable is not None and pid in unreadable):
            continue
        try:
            entries = read_pack_toc(backend, pid)
        except (FormatError, OSError) as exc:
            if unreadable is not None:
                unreadable[pid] = str(exc)
            continue
        index.add_pack(pid, entries)
        adopted.append(pid)
    return adopted


CACHE_AFTER = 8
CACHE_VERSION = 2
CACHE_MAGIC = b"GMAIDXC2"
"""``cache/index`` = this magic, the SHA-256 of the rest (32 bytes), then one zstd frame of msgpack
``{"version": 2, "segments": [ids], "entries": n, "packs": [... as in a segment ...]}`` (formats/index.md)."""
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def read_cache(cache: Path, present: set[str]) -> tuple[Index | None, str | None]:
    """The cached index, or None; with the reason when the file is there but damaged.

    None without a reason when the cache is missing, of the older unchecked format, or stale (it lists a
    segment that no longer exists): then the segments are simply read.
    """
    try:
        data = cache.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cache/index cannot be read: {exc.strerror or exc}"
    if not data.startswith(CACHE_MAGIC):
        if data.startswith(_ZSTD_MAGIC):
            return None, None  # written by an older version, without a checksum: rebuilt, not damage
        return None, "cache/index is damaged (no cache header)"
    head = len(CACHE_MAGIC) + 32
    body = data[head:]
    if len(data) < head or codec.sha256_hex(body) != data[len(CACHE_MAGIC):head].hex():
        return None, "cache/index is damaged (its checksum does not match)"
    try:
        doc = codec.unpackz(body, "index cache")
        if doc["version"] != CACHE_VERSION:
            return None, None
        if not set(doc["segments"]) <= present:
            return None, None  # prune or repair replaced segments since
        index = Index()
        for raw_pid, rows in doc["packs"]:
            if any(len(row) != 6 or len(row[1]) != 32 for row in rows):
                raise ValueError("an entry is not [kind, id, offset, length, raw length, dict]")
            index.add_rows(raw_pid.hex(), rows)
        if sum(index.packs.values()) != doc["entries"]:
            raise ValueError(f"it lists {sum(index.packs.values())} entries, its header {doc['entries']}")
        index.segments.update(doc["segments"])
        return index, None
    except (IntegrityError, KeyError, TypeError, ValueError, AttributeError) as exc:
        return None, f"cache/index is damaged ({exc})"


def write_cache(cache: Path, index: Index) -> None:
    """Write ``index`` as the cache (atomically; a read-only archive or a full disk goes without it)."""
    packs: dict[str, list[PackEntry]] = {pid: [] for pid in index.packs}
    for kind, table in ((KIND_BLOB, index.blobs), (KIND_PAGE, index.pages)):
        for entry_id, loc in table.all_items():  # the other copies too
            packs.setdefault(loc.pack, []).append(
                PackEntry(kind, entry_id, loc.offset, loc.length, loc.raw_length, loc.dict_id))
    rows = [(bytes.fromhex(pid), [(e.kind, bytes.fromhex(e.id), e.offset, e.length, e.raw_length,
                                   bytes.fromhex(e.dict_id) if e.dict_id else None)
                                  for e in sorted(entries, key=lambda e: e.offset)])
            for pid, entries in sorted(packs.items())]
    body = codec.packz({"version": CACHE_VERSION, "segments": sorted(index.segments),
                        "entries": sum(len(r) for _, r in rows), "packs": rows})
    data = CACHE_MAGIC + bytes.fromhex(codec.sha256_hex(body)) + body
    with contextlib.suppress(OSError):
        write_atomic(cache, data, cache.parent.parent / "tmp", sync_dir=False)


def rebuild_from_packs(packs_dir: Backend | Path) -> Index:
    """The index from the packs' tables of contents alone (for repair, and to check the segments)."""
    index = Index()
    backend = as_backend(packs_dir)
    for pid in list_packs(backend):
        index.add_pack(pid, read_pack_toc(backend, pid))
    return index
