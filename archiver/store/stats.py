"""ArchiveStats: what ``gmail-archiver stats`` shows (sizes, counts, the dictionary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from archiver.model import SnapshotInfo
from archiver.store.dictionary import list_dicts
from archiver.store.index import Index
from archiver.store.layout import DATA_DIRS, LOCAL_DIRS, Layout, pack_name
from archiver.store.pack import list_packs


@dataclass(frozen=True)
class ArchiveStats:
    """Counts and sizes of one archive; ``ratio`` = raw_bytes / blob_stored_bytes (0.0 when empty)."""

    packs: int
    blobs: int
    raw_bytes: int
    """Sum of the message sizes, each stored message once."""
    blob_stored_bytes: int
    """Sum of the compressed frames of those messages."""
    pages: int
    pack_bytes: int
    """Bytes of all pack files on disk (blobs, pages, tables of contents)."""
    total_bytes: int
    """Bytes of every file of the archive."""
    ratio: float
    snapshots: int
    partial_snapshots: int
    accounts: tuple[str, ...]
    dictionaries: tuple[str, ...]
    dictionary_bytes: int
    blobs_with_dictionary: int = 0
    per_account: dict[str, int] = field(default_factory=dict)
    """account -> number of snapshots."""
    unreadable_snapshots: dict[str, str] = field(default_factory=dict)
    """Records that cannot be read (id -> why): not counted above, so the counts are incomplete."""


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except FileNotFoundError:
        return 0


def total_pack_bytes(layout: Layout, packs: list[str] | None = None) -> int:
    """Bytes on disk of ``packs`` (default: every pack of the archive)."""
    names = list_packs(layout.backend) if packs is None else packs
    return sum(_backend_size(layout, pack_name(p)) for p in names)


def _backend_size(layout: Layout, name: str) -> int:
    try:
        return layout.backend.size(name)
    except (FileNotFoundError, NotADirectoryError):
        return 0


def _total_bytes(layout: Layout) -> int:
    """Every data file (through the backend) and every local file (locks, journals, tmp, cache)."""
    data = sum(_backend_size(layout, n) for folder in DATA_DIRS for n in layout.backend.list(folder))
    data += sum(_backend_size(layout, n) for n in ("archive.json", "damage.json"))
    local = sum(_size(p) for sub in LOCAL_DIRS for p in (layout.root / sub).rglob("*") if p.is_file())
    return data + local


def compute_stats(layout: Layout, index: Index, snapshots: list[SnapshotInfo],
                  unreadable: dict[str, str] | None = None) -> ArchiveStats:
    raw = stored = with_dict = 0
    for length, raw_length, dict_no in index.blobs.raw_lengths():
        stored += length
        raw += raw_length
        with_dict += dict_no != 0
    packs = list_packs(layout.backend)
    pack_bytes = total_pack_bytes(layout, packs)
    total = _total_bytes(layout)
    dicts = tuple(list_dicts(layout.backend))
    per_account: dict[str, int] = {}
    for s in snapshots:
        per_account[s.account] = per_account.get(s.account, 0) + 1
    return ArchiveStats(
        packs=len(packs), blobs=len(index.blobs), raw_bytes=raw, blob_stored_bytes=stored,
        pages=len(index.pages), pack_bytes=pack_bytes, total_bytes=total,
        ratio=round(raw / stored, 3) if stored else 0.0, snapshots=len(snapshots),
        partial_snapshots=sum(1 for s in snapshots if s.partial), accounts=tuple(sorted(per_account)),
        dictionaries=dicts, dictionary_bytes=sum(_backend_size(layout, f"dicts/{d}") for d in dicts),
        blobs_with_dictionary=with_dict, per_account=per_account, unreadable_snapshots=dict(unreadable or {}))
