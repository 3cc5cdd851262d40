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
from archiver.store.layout import CONFIG, Layout, check_config, config_bytes, pack_name
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
from archiver.store.writer import BIG, BLOCK_TARGET, PACK_TARGET

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


def _weight(e: PackEntry) -> int:
    """What an entry costs in its pack: its frame (v1), or its share of its block (v2: raw bytes)."""
    return e.length if e.inner is None else e.raw_length


def _size(layout: Layout, pack_id: str) -> int:
    try:
        return layout.backend.size(pack_name(pack_id))
    except (FileNotFoundError, NotADirectoryError):
        return 0


def plan_prune(layout: Layout, repack_below: float = REPACK_BELOW, ignore: frozenset[str] = frozenset(),
               *, upgrade: bool = False) -> PrunePlan:
    """Find referenced blobs and pages from every snapshot (but those in ``ignore``: a dry run of forget)
    and decide the fate of each pack.

    DamageFound when a snapshot, index segment or manifest page cannot be read: what is referenced would
    then be unknown, and deleting anything could lose data (run verify first).  With ``upgrade`` every v1
    pack that holds live entries is repacked too (into v2 packs: ``gmail-archiver upgrade``).
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
        total = sum(_weight(e) for e in entries) or 1
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
        elif (shadowed or sum(_weight(e) for e in alive) / total < repack_below
              or any((e.id, pid) in damaged for e in entries)
              or (upgrade and any(e.inner is None for e in entries))):
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


class Repacker:
    """Copies live entries into new packs of the archive's version, sealing each at ``PACK_TARGET``.

    Into v1 packs frames are copied as they are.  Into v2 packs, a frame holding one entry (a v1 frame, a
    page, a big message) is copied as a block of one, a v2 block whose entries all live is copied whole, and
    the other messages (small v1 frames, the live part of a block) are put into new ~1 MiB blocks: this is
    how prune and ``upgrade`` move v1 data into v2.  Every entry is re-checked against its id first.
    ``write=False`` only sizes what would be written (a dry run)."""

    def __init__(self, layout: Layout, version: int, codecs: Codecs, plan: PrunePlan,
                 rewrite: frozenset[str] = frozenset(), write: bool = True) -> None:
        self.layout, self.version, self.codecs, self.plan = layout, version, codecs, plan
        self.rewrite, self.write = rewrite, write
        self.builder = PackBuilder(version)
        self.blocks: dict[str | None, list[tuple[int, str, bytes]]] = {}
        self.block_bytes: dict[str | None, int] = {}
        self.written_bytes = 0

    def copy_pack(self, pack_id: str, entries: list[PackEntry]) -> None:
        content = self.layout.backend.read(pack_name(pack_id))  # one read of the whole pack
        by_block: dict[int, list[PackEntry]] = {}
        for e in sorted(entries, key=lambda e: (e.offset, e.inner or 0)):
            by_block.setdefault(e.offset, []).append(e)
        for members in by_block.values():
            self._copy_frame(pack_id, content, members)
            if self.builder.size >= PACK_TARGET:
                self._seal()

    def _copy_frame(self, pack_id: str, content: bytes, members: list[PackEntry]) -> None:
        first = members[0]
        frame = content[first.offset:first.offset + first.length]
        what = f"entry {first.id[:12]} of pack {pack_id[:12]}"
        try:
            if first.inner is None:
                raws = [self.codecs.decompress(frame, first.dict_id, first.raw_length, what)]
                whole = raws[0]
            else:
                whole = self.codecs.decompress_block(frame, first.dict_id, what)
                raws = [whole[e.inner or 0:(e.inner or 0) + e.raw_length] for e in members]
        except FormatError:
            raws, whole = [], b""
        blob_id = blob_hasher(self.layout.backend)

        def id_of(e: PackEntry, raw: bytes) -> str:
            return blob_id(raw) if e.kind == KIND_BLOB else codec.sha256_hex(raw)

        bad = next((e for i, e in enumerate(members) if i >= len(raws) or id_of(e, raws[i]) != e.id), None)
        if bad is not None:
            raise DamageFound(f"entry {bad.id[:12]} of pack {pack_id[:12]} is damaged; prune stopped",
                              hint="run `gmail-archiver verify --read-data`")
        self._place(members, frame, raws, whole)

    def _place(self, members: list[PackEntry], frame: bytes, raws: list[bytes], whole: bytes) -> None:
        first = members[0]
        if self.version < 2:
            self.builder.add(first.kind, first.id, frame, first.raw_length, first.dict_id)
            return
        if len(members) == 1 and len(whole) == first.raw_length and (
                first.inner is not None or first.kind != KIND_BLOB or first.raw_length > BIG):
            # alone in its frame (a page, a big message, a v2 block of one): as it is, in place, so that a
            # pack repacked whole comes out byte for byte the same
            self.builder.add(first.kind, first.id, frame, first.raw_length, first.dict_id)
            return
        if first.inner is not None and sum(e.raw_length for e in members) == len(whole) and len(members) > 1:
            self.builder.add_block(frame, [(e.kind, e.id, e.inner or 0, e.raw_length) for e in members],
                                   first.dict_id)  # a block whose entries all live: as it is
            return
        for e, raw in zip(members, raws, strict=True):  # into new blocks
            if e.kind != KIND_BLOB or e.raw_length > BIG:
                self.builder.add(e.kind, e.id, self.codecs.compress(raw, e.dict_id), e.raw_length, e.dict_id)
                continue
            self.blocks.setdefault(e.dict_id, []).append((e.kind, e.id, raw))
            self.block_bytes[e.dict_id] = self.block_bytes.get(e.dict_id, 0) + len(raw)
            if self.block_bytes[e.dict_id] >= BLOCK_TARGET:
                self._block(e.dict_id)

    def _block(self, dict_id: str | None) -> None:
        items = self.blocks.pop(dict_id, [])
        self.block_bytes.pop(dict_id, None)
        if not items:
            return
        members, at = [], 0
        for kind, entry_id, raw in items:
            members.append((kind, entry_id, at, len(raw)))
            at += len(raw)
        frame = self.codecs.compress(b"".join(r for *_, r in items), dict_id)
        self.builder.add_block(frame, members, dict_id)

    def _seal(self) -> None:
        data = self.builder.finish(self.codecs.data)
        entries = self.builder.entries
        self.builder = PackBuilder(self.version)
        self.written_bytes += len(data)
        if not self.write:
            return
        pack_id = codec.sha256_hex(data)
        if pack_id in self.rewrite:  # a damaged file of that very name: put back the bytes its name promises
            self.layout.backend.replace(pack_name(pack_id), data)
        else:
            self.layout.backend.write_if_absent(pack_name(pack_id), data)
        self.plan.keep[pack_id] = list(entries)

    def finish(self) -> None:
        for dict_id in sorted(self.blocks, key=lambda d: d or ""):
            self._block(dict_id)
        if len(self.builder):
            self._seal()


def _codecs_for(layout: Layout, plan: PrunePlan) -> Codecs:
    dict_ids = {e.dict_id for es in plan.repack.values() for e in es if e.dict_id}
    dicts, bad = load_dicts(layout, dict_ids)
    missing = [f for f in bad if f.id not in dicts]
    if missing:
        raise DamageFound(f"prune stopped: {missing[0].detail}")
    codecs = Codecs()
    for did, data in dicts.items():
        codecs.add(did, data)
    return codecs


def planned_bytes_after(layout: Layout, plan: PrunePlan) -> int:
    """The pack bytes ``execute_prune(plan)`` leaves, without doing it: deleted and repacked packs go, and
    the new packs it writes are sized exactly (the same frames, cut where it cuts, the same table of
    contents), so a dry run's figure is what a real run then reports.  (In a v2 archive that means
    building the new packs in memory: blocks are compressed anew.)"""
    gone = sum(_size(layout, pid) for pid in {*plan.delete, *plan.repack})
    if check_config(layout) >= 2 and plan.repack:
        repacker = Repacker(layout, 2, _codecs_for(layout, plan), PrunePlan(), write=False)
        for pid, live in sorted(plan.repack.items()):
            repacker.copy_pack(pid, live)
        repacker.finish()
        return plan.bytes_before - gone + repacker.written_bytes
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
    return plan.bytes_before - gone + written


def execute_prune(layout: Layout, plan: PrunePlan, rewrite: frozenset[str] = frozenset()) -> tuple[int, int]:
    """Carry out ``plan`` in the crash-safe order; returns (packs written, packs deleted).  A new pack
    named in ``rewrite`` replaces a (damaged) file of the same name instead of being taken as present.
    New packs are of the archive's version (archive.json)."""
    if plan.nothing_to_do:
        return 0, 0
    codecs = _codecs_for(layout, plan)
    before = set(plan.keep)
    repacker = Repacker(layout, 2 if check_config(layout) >= 2 else 1, codecs, plan, rewrite)
    for pid, entries in sorted(plan.repack.items()):
        repacker.copy_pack(pid, entries)
    repacker.finish()
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


@dataclass(frozen=True)
class UpgradeReport:
    """What :func:`upgrade_archive` did."""

    version_before: int
    v1_packs_before: int
    packs_written: int
    packs_deleted: int
    v1_packs_after: int
    """v1 packs left: those holding nothing live are deleted, live ones repacked, so 0 unless one is lost."""


def _v1_packs(layout: Layout) -> int:
    return sum(1 for pid in list_packs(layout.backend) if _is_v1(layout, pid))


def _is_v1(layout: Layout, pack_id: str) -> bool:
    try:
        return layout.backend.read_range(pack_name(pack_id), 0, len(MAGIC)) == MAGIC
    except OSError:
        return False


def upgrade_archive(layout: Layout) -> UpgradeReport:
    """Make the archive format v2 (formats/invariants.md "Upgrading"); the caller holds the exclusive lock.

    1. ``archive.json`` says version 2 (one atomic replace): from then on writers write v2 packs, and the
       archive, v1 packs and all, is a valid v2 archive;
    2. prune's plan with every v1 pack that holds live entries marked for repacking, carried out in prune's
       crash-safe order (new v2 packs, one new segment, old segments deleted, old packs deleted).

    A crash at any step leaves a valid archive (v1, or v2 holding v1 packs) and running it again finishes.
    DamageFound (nothing changed after step 1) when the archive is damaged, as for prune.
    """
    before = check_config(layout)
    v1_before = _v1_packs(layout)
    if before < 2:
        layout.backend.replace(CONFIG, config_bytes(2))
    plan = plan_prune(layout, upgrade=True)
    written, deleted = execute_prune(layout, plan)
    return UpgradeReport(before, v1_before, written, deleted, _v1_packs(layout))


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
