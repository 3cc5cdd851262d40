"""Which stored copies of blobs are known to be unusable, so the next backup stores them again.

Two sources (formats/layout.md "Damage record"):

- the *damage record* ``damage.json``, written by ``verify``: the copies (blob id, pack id) it found missing
  or damaged.  Small, rewritten atomically, and only ever a hint: deleting it loses nothing the next
  ``verify --read-data`` does not find again;
- a cheap *presence check* each backup runs: a copy is unusable when its pack is missing, or its size or
  trailer do not match the index (one ``open`` and one 16-byte read per pack; no data is read).  Only
  when a pack fails it, or the record names copies, are the blobs' copies looked at one by one.

A blob is unusable when none of its copies is usable (formats/index.md "Several copies").
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

from archiver.store.backend import Backend
from archiver.store.index import Index, Location
from archiver.store.layout import Layout, pack_name
from archiver.store.pack import END_MAGIC, MAGIC, TRAILER

FILE = "damage.json"
VERSION = 1

Copy = tuple[str, str]
"""(blob id, pack id): one stored copy of one blob."""


def damage_path(layout: Layout) -> Path:
    """The local file of the record (a local archive's ``damage.json``)."""
    return layout.root / FILE


def read_damage(layout: Layout) -> dict[Copy, str]:
    """The recorded damaged copies, (blob id, pack id) -> why.  A missing file is an empty record; an
    unreadable one (or of another version) is ignored: the record is a hint that verify rebuilds."""
    try:
        doc = json.loads(layout.backend.read(FILE))
        if doc.get("version") != VERSION:
            return {}
        return {(str(b), str(p)): str(why) for b, p, why in doc["copies"]}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def write_damage(layout: Layout, copies: Mapping[Copy, str]) -> bool:
    """Replace the record with ``copies`` (durably and atomically; the file is removed when there are
    none).  Returns False when the record already said exactly this (nothing is written)."""
    backend = layout.backend
    if read_damage(layout) == dict(copies) and (copies or not backend.exists(FILE)):
        return False
    if not copies:
        backend.delete(FILE)
        return True
    rows = [[b, p, why] for (b, p), why in sorted(copies.items())]
    data = json.dumps({"version": VERSION, "copies": rows}, indent=0).encode()
    backend.replace(FILE, data)
    return True


def put_back_pack(layout: Layout, pack_id: str, data: bytes, blob_ids: Iterable[str]) -> None:
    """Store a pack holding blobs stored again (``data`` hashes to ``pack_id``).  Healing can rebuild a pack
    byte for byte (the same frames in the same order): when a file of that name exists but its bytes do
    not match its name, it is replaced by the bytes the name promises (the durable write; the one case
    besides index repair where an immutable name is written again).  The damage record then forgets the
    copies of ``blob_ids`` in that pack: they are sound now."""
    name = pack_name(pack_id)
    try:
        sound = hashlib.sha256(layout.backend.read(name)).hexdigest() == pack_id
    except (FileNotFoundError, NotADirectoryError):
        sound = False
    if not sound:
        layout.backend.replace(name, data)
    recorded = read_damage(layout)
    if recorded:
        healed = {(b, pack_id) for b in blob_ids}
        if healed & set(recorded):
            write_damage(layout, {c: why for c, why in recorded.items() if c not in healed})


def _pack_problem(backend: Backend, pack_id: str, needed_end: int) -> str | None:
    """Why the pack ``pack_id`` cannot hold frames up to ``needed_end``, or None when it can (checked
    from its size and trailer only)."""
    name = f"pack {pack_id[:12]}"
    obj = pack_name(pack_id)
    try:
        size = backend.size(obj)
        if size < len(MAGIC) + TRAILER.size:
            return f"{name} is truncated ({size} bytes)"
        toc_len, _crc, end = TRAILER.unpack(backend.read_range(obj, size - TRAILER.size, TRAILER.size))
    except (FileNotFoundError, NotADirectoryError):
        return f"{name} is missing"
    except (OSError, struct.error) as exc:
        return f"{name} cannot be read: {exc}"
    if end != END_MAGIC or size - TRAILER.size - toc_len < needed_end:
        return f"{name} is truncated or damaged (its size does not match the index)"
    return None


class PackPresence:
    """The cheap presence check, memoised per pack: does a copy's pack exist and reach its frame?"""

    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._seen: dict[str, tuple[int, str | None]] = {}

    def problem(self, loc: Location) -> str | None:
        """Why the copy at ``loc`` cannot be read (from the pack's size and trailer), or None."""
        end = loc.offset + loc.length
        known = self._seen.get(loc.pack)
        if known is None or (known[1] is None and known[0] < end):
            known = (end, _pack_problem(self._layout.backend, loc.pack, end))
            self._seen[loc.pack] = known
        return known[1]


def unusable_blobs(index: Index, layout: Layout, blob_ids: Iterable[str],
                   damaged: Mapping[Copy, str] | None = None) -> dict[str, str]:
    """Blob id -> why, for every blob of ``blob_ids`` with no usable copy: not in ``index``, or each copy
    in a missing or truncated pack or named in ``damaged`` (the damage record)."""
    damaged = damaged or {}
    wanted = set(blob_ids)
    if not damaged and not any(_pack_problem(layout.backend, pid, 0) for pid in index.packs):
        # the common case: every pack there with a sound trailer (a cut pack loses it), nothing recorded
        return {b: f"blob {b[:12]} is not in the archive" for b in wanted if b not in index.blobs}
    spans = {b: index.blobs.spans(b) for b in wanted}
    extents: dict[str, int] = {}  # the frame end each pack must reach, over the copies asked about
    for copies in spans.values():
        for pack, end in copies:
            if end > extents.get(pack, 0):
                extents[pack] = end
    problems = {pack: _pack_problem(layout.backend, pack, end) for pack, end in extents.items()}
    out: dict[str, str] = {}
    for b, copies in spans.items():
        if not copies:
            out[b] = f"blob {b[:12]} is not in the archive"
            continue
        why = None
        for pack, _end in copies:
            why = problems[pack] or damaged.get((b, pack))
            if why is None:
                break
        if why is not None:
            out[b] = why
    return out
