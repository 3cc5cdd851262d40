"""Repair of the index, which is derived data: rebuilt from the packs' tables of contents alone.

Order (formats/invariants.md "Repairing the index"): the new segment, listing every pack no sound segment
lists, is written durably first; only then are the damaged segments unlinked, then the folder fsynced.
Segments are deterministic, so the rebuilt one often has the very name of the damaged one: then it replaces
it by an atomic rename (the file gets back the bytes its name promises) instead of being skipped.  A
crash at any step leaves an archive that readers open (they fall back to the packs' TOCs while a damaged
segment remains) and that the next repair finishes.  The caller holds the exclusive archive lock, so no
writer is running and every unlisted pack is whole and immutable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archiver.errors import FormatError, IntegrityError
from archiver.store import codec
from archiver.store.fsutil import fsync_dir, step, write_atomic
from archiver.store.index import encode_segment, list_segments, read_segment
from archiver.store.layout import Layout
from archiver.store.pack import PackEntry, list_packs, pack_path, read_toc


@dataclass
class IndexRepair:
    """What :meth:`Archive.rebuild_index` did."""

    damaged_segments: dict[str, str] = field(default_factory=dict)
    """Damaged segments it repaired (id -> why they were unreadable): deleted, or rewritten whole when the
    rebuilt segment has the same name."""
    segment_written: str | None = None
    """The new segment (None when every pack was already listed by a sound segment)."""
    packs_indexed: int = 0
    """Packs the new segment lists."""
    unreadable_packs: dict[str, str] = field(default_factory=dict)
    """Packs whose TOC cannot be read (id -> why): they stay unindexed and verify reports what they held."""

    @property
    def changed(self) -> bool:
        return bool(self.damaged_segments or self.segment_written)


def repair_index(layout: Layout) -> IndexRepair:
    """Index every pack no sound segment lists, then delete the damaged segments (see the module doc).

    A segment of an unknown version raises UnsupportedVersion and nothing is changed.
    """
    result = IndexRepair()
    listed: set[str] = set()
    for name in list_segments(layout.index):
        try:
            listed.update(read_segment(layout.index, name))
        except IntegrityError as exc:
            result.damaged_segments[name] = str(exc)
    unlisted: dict[str, list[PackEntry]] = {}
    for pid in list_packs(layout.packs):
        if pid not in listed:
            try:
                unlisted[pid] = read_toc(pack_path(layout.packs, pid))
            except FormatError as exc:
                result.unreadable_packs[pid] = str(exc)
    if not unlisted and not result.damaged_segments:
        return result
    (layout.cache / "index").unlink(missing_ok=True)  # a rebuildable cache of the segments about to change
    if unlisted:
        data = encode_segment(unlisted)
        result.segment_written = codec.sha256_hex(data)
        result.packs_indexed = len(unlisted)
        target = layout.index / result.segment_written
        if result.segment_written in result.damaged_segments or not target.exists():
            write_atomic(target, data, layout.tmp)
    doomed = sorted(set(result.damaged_segments) - {result.segment_written})
    for name in doomed:
        step()
        (layout.index / name).unlink(missing_ok=True)
    if doomed:
        fsync_dir(layout.index)
    return result
