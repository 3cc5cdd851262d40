"""Store-level primitives of forget and prune: delete snapshot records, find what is still referenced,
plan and carry out the removal of unreferenced packs and the repacking of mostly-empty ones.

Crash safety (formats/invariants.md write order, applied to deletion): new packs are written first, then
one new index segment listing every pack that stays, then the old segments are deleted, then the packs no
longer listed.  An interruption at any step leaves an index that names only existing packs and holds
every referenced blob and page.  Every unlink counts as one durable step of the crash hook
(``fsutil.step``), so tests can stop prune between any two of them.  Callers hold the exclusive lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from archiver.errors import DamageFound, FormatError
from archiver.model import MessageRecord
from archiver.store import codec
from archiver.store.check import (
    Finding,
    PageReader,
    damaged_manifests,
    load_dicts,
    load_segments,
    load_snapshots,
    walk_tree,
)
from archiver.store.damage import read_damage
from archiver.store.dictionary import Codecs
from archiver.store.ids import blob_hasher
from archiver.store.index import encode_segment, list_segments
from archiver.store.layout import Layout, pack_name
from archiver.store.pack import (
    KIND_BLOB,
    MAGIC,
    TRAILER,
    PackBuilder,
    PackEntry,
    encode_toc,
    list_packs,
    read_pack_toc,
)
from archiver.store.snapio import snapshot_name
from archiver.store.snapshot import SnapshotRecord
from archiver.store.writer import PACK_TARGET

REPACK_BELOW = 0.5
"""A pack whose live frames make up less than this share of its frame bytes is repacked."""


def delete_snapshot(layout: Layout, snapshot_id: str) -> None:
    """Remove one snapshot record (its data stays until prune)."""
    layout.backend.delete(snapshot_name(snapshot_id))


@dataclass
class PrunePlan:
    """What prune will do; ``entries`` maps every pack that stays or is written to its entries."""

    referenced_blobs: set[str] = field(default_factory=set)
    referenced_pages: set[str] = field(default_factory=set)
    keep: dict[str, list[PackEntry]] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)
    """Packs with nothing referenced (indexed, or left unindexed by an interrupted run)."""
    repack: dict[str, list[PackEntry]] = field(default_factory=dict)
    """Mostly-empty packs -> their live entries, to be copied into new packs."""
    old_segments: list[str] = field(default_factory=list)
    bytes_before: int = 0
    bytes_deleted: int = 0
    entries_removed: int = 0

    @property
    def nothing_to_do(self) -> bool:
        return not self.delete and not self.repack


def _size(layout: Layout, pack_id: str) -> int:
    try:
        return layout.backend.size(pack_name(pack_id))
    except (FileNotFoundError, NotADirectoryError):
        return 0


def plan_prune(layout: Layout, repack_below: float = REPACK_BELOW, ignore: frozenset[str] = frozenset()
               ) -> PrunePlan:
    """Find referenced blobs and pages from every snapshot (but those in ``ignore``: a dry run of forget)
    and decide the fate of each pack.

    DamageFound when a snapshot, index segment or manifest page cannot be read: what is referenced would
    then be unknown, and deleting anything could lose data (run verify first).
    """
    segments = load_segments(layout)
    snaps, bad_snaps = load_snapshots(layout)
    wanted = {loc.dict_id for loc in segments.pages.values() if loc.dict_id}
    dicts, bad_dicts = load_dicts(layout, wanted)
    reader = PageReader(layout, segments, dicts)
    plan = PrunePlan(old_segments=list_segments(layout.backend))
    bad_pages: dict[str, str] = {}
    seen: set[str] = set()

    def collect(_pid: str, records: tuple[MessageRecord, ...]) -> None:
        plan.referenced_blobs.update(r.blob_id for r in records)

    for sid, rec in snaps.items():
        if sid in ignore:
            continue
        for _ in walk_tree(rec.root, reader.read, seen, bad_pages, collect):
            pass
    plan.referenced_pages = seen
    _refuse_damage(layout, segments.findings, [f for f in bad_snaps if f.id not in ignore], bad_dicts,
                   bad_pages, {sid: r for sid, r in snaps.items() if sid not in ignore}, reader)

    # of an entry's copies (formats/index.md "Several copies") the one kept is in the smallest pack id among
    # packs that exist and do not hold it damaged (the damage record, or a page copy that failed to read
    # just now); failing that, the smallest pack id
    present = set(list_packs(layout.backend))
    damaged = set(read_damage(layout)) | reader.bad_copies
    best: dict[tuple[int, str], tuple[bool, str]] = {}
    for pid in sorted(segments.packs):
        for e in segments.packs[pid]:
            usable = pid in present and (e.id, pid) not in damaged
            cur = best.get((e.kind, e.id))
            if cur is None or (usable and not cur[0]):
                best[(e.kind, e.id)] = (usable, pid)

    def live(pack_id: str, e: PackEntry) -> bool:
        ids = plan.referenced_blobs if e.kind == KIND_BLOB else plan.referenced_pages
        return e.id in ids and best[(e.kind, e.id)][1] == pack_id

    for pid, entries in sorted(segments.packs.items()):
        plan.bytes_before += _size(layout, pid)
        alive = [e for e in entries if live(pid, e)]
        total = sum(e.length for e in entries) or 1
        # another copy of a referenced page than the one kept (e.g. a damaged one a backup stored again,
        # which a read of the kept copy never tried): repacked away, pages are small
        shadowed = any(e.kind != KIND_BLOB and e.id in plan.referenced_pages and not live(pid, e)
                       for e in entries)
        if not alive:
            plan.delete.append(pid)
            plan.bytes_deleted += _size(layout, pid)
            plan.entries_removed += len(entries)
        elif pid not in present:  # lost, and some of it has no other copy: nothing to copy, verify says so
            plan.keep[pid] = entries
        elif shadowed or sum(e.length for e in alive) / total < repack_below or any((e.id, pid) in damaged
                                                                                    for e in entries):
            plan.repack[pid] = alive
            plan.entries_removed += len(entries) - len(alive)
        else:
            plan.keep[pid] = entries
    for pid in sorted(present - set(segments.packs)):
        plan.bytes_before += _size(layout, pid)
        try:
            toc = read_pack_toc(layout.backend, pid)
        except FormatError:  # an unreadable leftover of an interrupted write: garbage
            toc = []
        needed = [e for e in toc if (e.id in plan.referenced_blobs and e.id not in segments.blobs)
                  or (e.id in plan.referenced_pages and e.id not in segments.pages)]
        if needed:  # never lose a referenced entry, even one only an unindexed pack holds
            plan.keep[pid] = toc
        else:
            plan.delete.append(pid)
            plan.bytes_deleted += _size(layout, pid)
    return plan


def _refuse_damage(layout: Layout, bad_segments: list[Finding], bad_snaps: list[Finding],
                   bad_dicts: list[Finding], bad_pages: dict[str, str], snaps: dict[str, SnapshotRecord],
                   reader: PageReader) -> None:
    """DamageFound naming what blocks prune and the one command that unblocks it."""
    where = layout.where
    if bad_segments:
        raise DamageFound(f"prune refuses to run: {bad_segments[0].detail}",
                          hint=f"`gmail-archiver verify --repair-index {where}` rebuilds the index")
    doomed = {f.id: f.detail for f in bad_snaps}
    if bad_pages:
        doomed.update(damaged_manifests({sid: r.root for sid, r in snaps.items()}, reader.read))
    if doomed:
        ids = " ".join(sid[:12] for sid in sorted(doomed))
        first = next(iter(sorted(doomed)))
        what = f"{len(doomed)} snapshots cannot" if len(doomed) > 1 else "a snapshot cannot"
        raise DamageFound(f"prune refuses to run: {what} be read, so what is referenced is unknown "
                          f"({doomed[first]})",
                          hint=f"forget them first: `gmail-archiver forget {where} {ids}`")
    if bad_dicts or bad_pages:
        what = bad_dicts[0].detail if bad_dicts else next(iter(bad_pages.values()))
        raise DamageFound(f"prune refuses to run: {what}",
                          hint=f"`gmail-archiver verify {where}` names what it affects")


def _copy_live(layout: Layout, pack_id: str, entries: list[PackEntry], codecs: Codecs,
               builder: PackBuilder) -> None:
    """Append the live frames of one pack to ``builder``, each re-checked against its id first."""
    content = layout.backend.read(pack_name(pack_id))  # one read of the whole pack
    blob_id = blob_hasher(layout.backend)
    for e in entries:
        frame = content[e.offset:e.offset + e.length]
        what = f"entry {e.id[:12]} of pack {pack_id[:12]}"
        raw = codecs.decompress(frame, e.dict_id, e.raw_length, what)
        if (blob_id(raw) if e.kind == KIND_BLOB else codec.sha256_hex(raw)) != e.id:
            raise DamageFound(f"entry {e.id[:12]} of pack {pack_id[:12]} is damaged; prune stopped",
                              hint="run `gmail-archiver verify --read-data`")
        builder.add(e.kind, e.id, frame, e.raw_length, e.dict_id)


def _seal(layout: Layout, builder: PackBuilder, plan: PrunePlan, rewrite: frozenset[str]) -> None:
    data = builder.finish()
    pack_id = codec.sha256_hex(data)
    if pack_id in rewrite:  # a damaged file of that very name: put back the bytes its name promises
        layout.backend.replace(pack_name(pack_id), data)
    else:
        layout.backend.write_if_absent(pack_name(pack_id), data)
    plan.keep[pack_id] = list(builder.entries)


def planned_bytes_after(layout: Layout, plan: PrunePlan) -> int:
    """The pack bytes ``execute_prune(plan)`` leaves, without doing it: deleted and repacked packs go, and
    the new packs it writes are sized exactly (the same frames, cut where it cuts, the same table of
    contents), so a dry run's figure is what a real run then reports."""
    written = 0
    entries: list[PackEntry] = []
    size = len(MAGIC)

    def seal() -> int:
        return size + len(encode_toc(entries)) + TRAILER.size

    for _pid, live in sorted(plan.repack.items()):
        for e in live:
            entries.append(PackEntry(e.kind, e.id, size, e.length, e.raw_length, e.dict_id))
            size += e.length
        if size >= PACK_TARGET:
            written += seal()
            entries, size = [], len(MAGIC)
    if entries:
        written += seal()
    gone = sum(_size(layout, pid) for pid in {*plan.delete, *plan.repack})
    return plan.bytes_before - gone + written


def execute_prune(layout: Layout, plan: PrunePlan, rewrite: frozenset[str] = frozenset()) -> tuple[int, int]:
    """Carry out ``plan`` in the crash-safe order; returns (packs written, packs deleted).  A new pack
    named in ``rewrite`` replaces a (damaged) file of the same name instead of being taken as present."""
    if plan.nothing_to_do:
        return 0, 0
    dict_ids = {e.dict_id for es in plan.repack.values() for e in es if e.dict_id}
    dicts, bad = load_dicts(layout, dict_ids)
    if bad:
        raise DamageFound(f"prune stopped: {bad[0].detail}")
    codecs = Codecs()
    for did, data in dicts.items():
        codecs.add(did, data)
    before = set(plan.keep)
    builder = PackBuilder()
    for pid, entries in sorted(plan.repack.items()):
        _copy_live(layout, pid, entries, codecs, builder)
        if builder.size >= PACK_TARGET:
            _seal(layout, builder, plan, rewrite)
            builder = PackBuilder()
    if len(builder):
        _seal(layout, builder, plan, rewrite)
    written = len(set(plan.keep) - before)
    (layout.cache / "index").unlink(missing_ok=True)  # a rebuildable cache of the segments about to change
    segment = encode_segment(plan.keep)
    new_name = codec.sha256_hex(segment)
    layout.backend.write_if_absent(f"index/{new_name}", segment)
    for name in plan.old_segments:
        if name != new_name:
            layout.backend.delete(f"index/{name}")
    # a repack after an interrupted prune can rebuild a pack byte for byte (same id): it stays
    doomed = [pid for pid in (*plan.delete, *plan.repack) if pid not in plan.keep]
    for pid in doomed:
        layout.backend.delete(pack_name(pid))
    return written, len(doomed)


def clean_tmp(layout: Layout) -> int:
    """Remove temporary files of interrupted writes (only while no writer runs); returns how many."""
    n = 0
    tmp: Path = layout.tmp
    if tmp.is_dir():
        for p in tmp.iterdir():
            if p.is_file():
                p.unlink(missing_ok=True)
                n += 1
    return n
