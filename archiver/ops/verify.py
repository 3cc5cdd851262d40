"""Check an archive, and say which messages and snapshots any damage affects.

Two tiers (restic's ``check`` and ``check --read-data``):

- *structure* (always): the config and the folders snapshots/, packs/ and index/; every snapshot record
  reads and matches its name; every index segment matches its name and decodes; every pack the index names
  exists, with a sound trailer and a table of contents equal to the index's entries; every manifest page of
  every snapshot is in the index, decompresses, matches its name and decodes; every blob a snapshot
  references is in the index; every dictionary an indexed entry needs exists and matches its name.
- *data* (``read_data=True``): every pack (or the packs of slice N of T) is read whole, one after another,
  its bytes re-hashed against its name, and every entry decompressed and re-hashed, in tasks of ~2 MB on two
  threads (zstd and hashlib release the GIL) while the next pack is read.

Packs in no index segment (left by an interrupted run; ``prune`` removes them) are counted, not damage.

A blob stored in several packs (formats/index.md "Several copies") is damaged only when no copy is intact;
a damaged or missing pack whose referenced entries all have intact copies elsewhere (a backup stored them
again) is reported in ``healed``, not as damage.  The damaged copies found are written to the archive's
damage record (store/damage.py), so the next backup stores those messages again.

Damage that loses nothing else is reported without affected messages: a damaged ``cache/index`` (kind
``cache``), and a pack whose TOC is damaged while the index still locates its frames (only frames beyond
its end count as lost copies).  ``Archive.rebuild_index`` (``verify --repair-index``) repairs both.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from archiver.errors import FormatError, UsageError
from archiver.model import MessageRecord
from archiver.progress import NullProgress, Progress
from archiver.store import Archive
from archiver.store.check import (
    Finding,
    PageReader,
    Segments,
    check_cache,
    check_entries,
    check_entries_apart,
    check_layout,
    check_pack_name,
    check_pack_toc,
    damaged_manifests,
    load_dicts,
    load_segments,
    load_snapshots,
    lost_frames,
    present_packs,
    read_pack,
    subset_of,
    unindexed_entries,
    walk_tree,
)
from archiver.store.damage import read_damage, write_damage
from archiver.store.dictionary import Codecs
from archiver.store.ids import blob_hasher
from archiver.store.layout import Layout
from archiver.store.manifest import decode_page
from archiver.store.pack import PackEntry
from archiver.store.snapshot import SnapshotRecord

TOC_NOTE = ("the index still locates its frames, so no message is lost; "
            "`gmail-archiver verify --repair-index` rewrites the pack")

MAX_LISTED = 10_000
"""At most this many affected messages are listed (the count is always exact)."""


@dataclass(frozen=True, slots=True)
class AffectedMessage:
    """A message of a snapshot whose stored body is damaged or missing."""

    snapshot_id: str
    key: str
    message_id: str | None
    blob_id: str


@dataclass
class VerifyReport:
    """What verify checked and what it found; ``ok`` when nothing is damaged."""

    read_data: bool
    subset: tuple[int, int] | None
    snapshots: int = 0
    pages: int = 0
    blobs_referenced: int = 0
    packs: int = 0
    packs_read: int = 0
    bytes_read: int = 0
    unindexed_packs: int = 0
    damage: list[Finding] = field(default_factory=list)
    damaged_snapshots: list[str] = field(default_factory=list)
    """Snapshots that cannot be restored whole: record or manifest damaged, or a body damaged."""
    affected_messages: list[AffectedMessage] = field(default_factory=list)
    affected_count: int = 0
    """Messages named one by one as affected (bodies damaged, in snapshots whose manifest reads)."""
    unlisted_snapshots: list[str] = field(default_factory=list)
    """Snapshots whose manifest is damaged: their messages cannot be listed, every one of them is at risk."""
    unlisted_messages: int = 0
    """How many messages those snapshots hold (from their records)."""
    healed: list[Finding] = field(default_factory=list)
    """Damaged or missing packs and entries whose referenced entries are all intact in another pack."""
    damage_recorded: int = 0
    """Damaged copies of blobs now in the damage record (the next backup stores them again)."""
    record_error: str | None = None
    """Why the damage record could not be written (e.g. a read-only archive), or None."""

    @property
    def ok(self) -> bool:
        return not self.damage


def parse_subset(text: str) -> tuple[int, int]:
    """``"N/T"`` with 1 <= N <= T (UsageError otherwise)."""
    try:
        n_text, t_text = text.split("/")
        n, t = int(n_text), int(t_text)
    except ValueError:
        raise UsageError(f"--subset takes N/T (e.g. 1/7), not {text!r}") from None
    if not 1 <= n <= t:
        raise UsageError(f"--subset {text}: N must be between 1 and T")
    return n, t


def verify(archive: Archive, read_data: bool = False, subset: tuple[int, int] | None = None,
           progress: Progress | None = None, workers: int | None = None) -> VerifyReport:
    """Check ``archive`` (see the module doc); never raises for damage, returns it in the report."""
    progress = progress or NullProgress()
    layout = archive.layout
    report = VerifyReport(read_data=read_data, subset=subset)
    report.damage.extend(check_layout(layout))
    segments = load_segments(layout)
    report.damage.extend(segments.findings)
    snaps, bad_snaps = load_snapshots(layout)
    report.damage.extend(bad_snaps)
    report.snapshots = len(snaps) + len(bad_snaps)
    report.packs = len(segments.packs)

    # dictionaries needed by indexed entries
    wanted = {loc.dict_id for loc in (*segments.blobs.values(), *segments.pages.values()) if loc.dict_id}
    dicts, bad_dicts = load_dicts(layout, wanted)
    report.damage.extend(bad_dicts)
    bad_dict_ids = {f.id for f in bad_dicts if f.id not in dicts}  # not even a copy in a pack

    cache = check_cache(layout, segments)
    if cache is not None:
        report.damage.append(cache)

    # packs named by the index: present, sound trailer, TOC equal to the index.  A damaged TOC is damage of
    # the pack alone while the index still locates its frames: only a missing pack, or frames beyond its
    # end, cost messages (--read-data checks every frame)
    progress.start("structure", total=len(segments.packs), unit="pack")
    lost: dict[str, set[str]] = {}
    for pid, entries in segments.packs.items():
        finding = check_pack_toc(layout, pid, entries)
        if finding:
            gone = lost_frames(layout, pid, entries)
            if len(gone) < len(entries):
                finding = Finding(finding.kind, finding.id, f"{finding.detail}; {TOC_NOTE}")
            report.damage.append(finding)
            lost[pid] = gone
        progress.advance()
    report.unindexed_packs = len(set(present_packs(layout)) - set(segments.packs))

    # manifests: every page, and the set of referenced blobs
    reader = PageReader(layout, segments, dicts)
    seen: set[str] = set()
    bad_pages: dict[str, str] = {}
    referenced: set[str] = set()
    pages_of: dict[str, list[str]] = {}

    def collect(_pid: str, records: tuple[MessageRecord, ...]) -> None:
        referenced.update(r.blob_id for r in records)

    for sid, rec in snaps.items():
        pages_of[sid] = list(walk_tree(rec.root, reader.read, seen, bad_pages, collect))
    report.pages = len(seen)
    report.damage.extend(_count_mismatches(snaps, bad_pages, reader))
    report.damage.extend(Finding("page", pid, why) for pid, why in sorted(bad_pages.items()))
    report.blobs_referenced = len(referenced)

    bad_copies: set[tuple[str, str]] = set()  # (entry id, pack id)
    for pid, entries in segments.packs.items():
        for e in entries:
            if e.id in lost.get(pid, ()) or e.dict_id in bad_dict_ids:
                bad_copies.add((e.id, pid))
    damaged_blobs: set[str] = set()
    for blob_id in sorted(referenced):
        if blob_id not in segments.blobs:
            report.damage.append(Finding("blob", blob_id, f"blob {blob_id[:12]} is not in the index"))
            damaged_blobs.add(blob_id)
    progress.finish()

    if read_data:
        bad_copies |= _read_data(layout, segments.packs, dicts, subset, report, progress, workers)
    copies = _copies(segments.packs, {i for i, _p in bad_copies})
    wanted_ids = referenced | seen
    broken = {i for i, ps in copies.items() if i in wanted_ids and all((i, p) in bad_copies for p in ps)}
    damaged_blobs |= broken & referenced
    _set_healed(report, segments.packs, bad_copies, wanted_ids, broken)
    covered = {pid for pid in segments.packs if subset_of(pid, subset)} if read_data else set()
    _record(layout, report, segments, bad_copies, covered)

    _attribute(report, snaps, pages_of, bad_pages, damaged_blobs, reader)
    _note_orphans(layout, set(segments.packs), report)
    return report


def _copies(packs: dict[str, list[PackEntry]], ids: set[str]) -> dict[str, list[str]]:
    """Entry id -> the packs holding it (several when a blob was stored again), for ``ids`` only."""
    out: dict[str, list[str]] = {}
    if ids:
        for pid, entries in packs.items():
            for e in entries:
                if e.id in ids:
                    out.setdefault(e.id, []).append(pid)
    return out


def _set_healed(report: VerifyReport, packs: dict[str, list[PackEntry]], bad_copies: set[tuple[str, str]],
                referenced: set[str], unhealed: set[str]) -> None:
    """Move to ``report.healed`` the findings about damaged copies of referenced entries that are intact
    in another pack: a pack with at least one such copy and no damaged referenced entry without one, and
    the entries' own findings."""
    healed_ids = {b for b, _p in bad_copies if b in referenced and b not in unhealed}
    if not healed_ids:
        return
    by_pack: dict[str, tuple[bool, bool]] = {}  # pack -> (has a healed copy, has an unhealed damaged copy)
    for b, p in bad_copies:
        if b in referenced:
            healed, broken = by_pack.get(p, (False, False))
            by_pack[p] = (healed or b in healed_ids, broken or b not in healed_ids)
    keep: list[Finding] = []
    for f in report.damage:
        if f.kind == "pack" and f.id in packs:
            healed, broken = by_pack.get(f.id, (False, False))
            moved = healed and not broken
        else:
            moved = f.kind in ("blob", "page") and f.id in healed_ids and "not in the index" not in f.detail
        (report.healed if moved else keep).append(f)
    report.damage = keep


def _record(layout: Layout, report: VerifyReport, segments: Segments, bad_copies: set[tuple[str, str]],
            covered: set[str]) -> None:
    """Write the damaged blob copies to the damage record: what this run found, plus what earlier runs
    found in packs still indexed that this run did not read."""
    found = {c for c in bad_copies if c[0] in segments.blobs}
    packs = segments.packs
    merged = {c: why for c, why in read_damage(layout).items() if c[1] in packs and c[1] not in covered}
    merged.update({c: _why(report, c) for c in found})
    report.damage_recorded = len(merged)
    try:
        write_damage(layout, merged)
    except OSError as exc:
        report.record_error = f"the damage record could not be written: {exc.strerror or exc}"


def _why(report: VerifyReport, copy: tuple[str, str]) -> str:
    blob, pack = copy
    for f in (*report.damage, *report.healed):
        if f.id in (blob, pack):
            return f.detail
    return f"blob {blob[:12]} in pack {pack[:12]} is damaged"


def _note_orphans(layout: Layout, indexed: set[str], report: VerifyReport) -> None:
    """Say so when an entry the index lacks sits in a pack no segment lists: rebuilding the index fixes it."""
    if not any("not in the index" in f.detail for f in report.damage):
        return
    orphans = unindexed_entries(layout, indexed)
    for i, f in enumerate(report.damage):
        if "not in the index" in f.detail and f.id in orphans:
            report.damage[i] = Finding(f.kind, f.id, f"{f.detail}; unindexed pack {orphans[f.id][:12]} holds "
                                                     "it (rebuilding the index repairs this)")


def _count_mismatches(snaps: dict[str, SnapshotRecord], bad_pages: dict[str, str], reader: PageReader
                      ) -> list[Finding]:
    """A snapshot record's message count must equal what its manifest root says it holds."""
    out = []
    for sid, rec in sorted(snaps.items()):
        held = 0
        if rec.root is not None:
            if rec.root in bad_pages:
                continue
            try:
                page = decode_page(reader.read(rec.root), rec.root)
            except FormatError:
                continue
            held = sum(page.counts) if page.level else len(page.records)
        if held != rec.info.message_count:
            says = rec.info.message_count
            out.append(Finding("snapshot", sid, f"snapshot {sid[:12]} says {says} messages, its manifest "
                                                f"holds {held}"))
    return out


CHUNK_BYTES = 2 * 1024 * 1024
"""Entries are checked in tasks of about this many stored bytes, so two threads share even one pack."""


def _chunks(entries: list[PackEntry]) -> list[list[PackEntry]]:
    out: list[list[PackEntry]] = [[]]
    size = 0
    last = -1
    for e in sorted(entries, key=lambda e: (e.offset, e.inner or 0)):
        if e.offset == last:  # another entry of the same v2 block: same task, its bytes counted once
            out[-1].append(e)
            continue
        if size >= CHUNK_BYTES:
            out.append([])
            size = 0
        out[-1].append(e)
        size += e.length
        last = e.offset
    return out


def _read_data(layout: Layout, packs: dict[str, list[PackEntry]], dicts: dict[str, bytes],
               subset: tuple[int, int] | None, report: VerifyReport, progress: Progress,
               workers: int | None) -> set[tuple[str, str]]:
    """Read the chosen packs one after another; hash each and check its entries on a thread pool.
    Returns the entries that failed, as (entry id, pack id)."""
    chosen = sorted(pid for pid in packs if subset_of(pid, subset))
    codecs = Codecs()
    for did, data in dicts.items():
        codecs.add(did, data)
    failed: set[tuple[str, str]] = set()  # (entry id, pack id)
    blob_id = blob_hasher(layout.backend)  # keyed in an encrypted archive
    progress.start("read data", total=len(chosen), unit="pack")
    with ThreadPoolExecutor(max_workers=workers or min(2, os.cpu_count() or 1)) as pool:
        pending: list[tuple[str, int, list[Future[object]]]] = []

        def drain(keep: int) -> None:
            while len(pending) > keep:
                done_pid, nbytes, futures = pending.pop(0)
                for fut in futures:
                    res = fut.result()
                    found: list[Finding] = []
                    if isinstance(res, Finding):
                        found = [res]
                    elif isinstance(res, tuple):
                        found, bad = res
                        failed.update((b, done_pid) for b in bad)
                    report.damage.extend(f for f in found if f not in report.damage)
                report.packs_read += 1
                report.bytes_read += nbytes
                progress.advance(1, nbytes)

        for pid in chosen:
            try:
                content = read_pack(layout, pid)
            except FormatError as exc:  # a sealed pack with a damaged chunk: its other entries still read
                report.damage.append(Finding("pack", pid, str(exc)))
                found, bad = check_entries_apart(layout, pid, packs[pid], codecs, blob_id)
                report.damage.extend(f for f in found if f not in report.damage)
                failed.update((b, pid) for b in bad)
                report.packs_read += 1
                continue
            if content is None:
                missing = Finding("pack", pid, f"pack {pid[:12]} is missing")
                if missing not in report.damage:
                    report.damage.append(missing)
                failed.update((e.id, pid) for e in packs[pid])
                continue
            futures: list[Future[object]] = [pool.submit(check_pack_name, pid, content)]
            futures += [pool.submit(check_entries, pid, content, chunk, codecs, blob_id)
                        for chunk in _chunks(packs[pid])]
            pending.append((pid, len(content), futures))
            drain(keep=1)  # read the next pack while this one is checked; at most two in memory
        drain(keep=0)
    progress.finish()
    return failed


def _attribute(report: VerifyReport, snaps: dict[str, SnapshotRecord], pages_of: dict[str, list[str]],
               bad_pages: dict[str, str], damaged_blobs: set[str], reader: PageReader) -> None:
    """Name the snapshots and messages that damaged pages and blobs affect (a second, cheap pass)."""
    damaged = {f.id for f in report.damage if f.kind == "snapshot"}
    if bad_pages:  # a shared page may sit under a page another snapshot's walk already saw: walk each
        unlisted = damaged_manifests({sid: rec.root for sid, rec in snaps.items()}, reader.read)
        damaged.update(unlisted)
        report.unlisted_snapshots = sorted(unlisted)
        report.unlisted_messages = sum(snaps[sid].info.message_count for sid in unlisted)
    if damaged_blobs:
        for sid in sorted(pages_of):
            root = snaps[sid].root
            hits: list[MessageRecord] = []

            def find(_pid: str, records: tuple[MessageRecord, ...], hits: list[MessageRecord] = hits) -> None:
                hits.extend(r for r in records if r.blob_id in damaged_blobs)

            for _ in walk_tree(root, reader.read, set(), dict(bad_pages), find):
                pass
            if hits:
                damaged.add(sid)
                report.affected_count += len(hits)
                room = MAX_LISTED - len(report.affected_messages)
                report.affected_messages.extend(
                    AffectedMessage(sid, r.key, r.message_id, r.blob_id) for r in hits[:max(room, 0)])
    report.damaged_snapshots = sorted(damaged)
