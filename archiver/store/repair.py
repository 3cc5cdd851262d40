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

from archiver.errors import ArchiveNotFound, FormatError, IntegrityError, UnsupportedVersion
from archiver.store import codec
from archiver.store.check import (
    check_cache,
    check_entries,
    check_entries_apart,
    check_pack_toc,
    load_dicts,
    load_segments,
    read_pack,
)
from archiver.store.dictionary import Codecs, read_dict
from archiver.store.ids import blob_hasher
from archiver.store.index import encode_segment, list_segments, load_index, read_segment, write_cache
from archiver.store.layout import CONFIG, Layout, check_config, config_bytes, looks_like_archive, pack_name
from archiver.store.lock import lock_archive_exclusive
from archiver.store.maintenance import PrunePlan, execute_prune
from archiver.store.pack import MAGIC2, PackEntry, list_packs, read_dict_copy, read_pack_toc


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
    damaged_cache: str | None = None
    """Why ``cache/index`` was damaged, when it was (then it was rewritten from the segments)."""
    tocs_rewritten: dict[str, str] = field(default_factory=dict)
    """Indexed packs whose table of contents was damaged (id -> why): their sound frames were copied into a
    new pack with a sound TOC and the old pack deleted."""
    frames_lost: int = 0
    """Frames of those packs that were damaged too (left out: verify names the messages they held)."""
    config_rewritten: bool = False
    dicts_restored: dict[str, str] = field(default_factory=dict)
    """Dictionary files that were missing or damaged (id -> why) and were written back from the copy a v2
    pack carries (formats/pack.md "Dictionaries")."""
    """``archive.json`` was missing or damaged and was written again (``Archive.open_for_repair``)."""

    @property
    def changed(self) -> bool:
        return bool(self.damaged_segments or self.segment_written or self.damaged_cache
                    or self.tocs_rewritten or self.config_rewritten or self.dicts_restored)


def repair_index(layout: Layout) -> IndexRepair:
    """Index every pack no sound segment lists, then delete the damaged segments (see the module doc);
    then rewrite damaged pack TOCs (:func:`repair_tocs`) and a damaged ``cache/index``.

    A segment of an unknown version raises UnsupportedVersion and nothing is changed.
    """
    result = _repair_segments(layout)
    restore_dicts(layout, result)
    repair_tocs(layout, result)
    cache = layout.cache / "index"
    finding = check_cache(layout, load_segments(layout))
    if finding is not None:
        result.damaged_cache = finding.detail.split("; ")[0]
        cache.unlink(missing_ok=True)
        write_cache(cache, load_index(layout.backend))
    return result


def restore_dicts(layout: Layout, result: IndexRepair) -> None:
    """Write back every dictionary the index names whose file is missing or damaged, from a sound copy in a
    v2 pack (the copy is checked against the id; one atomic replace each).  Without a copy it stays as it is
    (verify keeps naming what it costs)."""
    wanted = {e.dict_id for entries in load_segments(layout).packs.values() for e in entries if e.dict_id}
    packs: list[str] | None = None
    for did in sorted(wanted):
        try:
            read_dict(layout.backend, did)
            continue
        except FormatError as exc:
            why = str(exc)
        packs = list_packs(layout.backend) if packs is None else packs
        for pid in packs:
            copy = read_dict_copy(layout.backend, pid, did)
            if copy is not None:
                layout.backend.replace(f"dicts/{did}", copy)
                result.dicts_restored[did] = why
                break


def repair_tocs(layout: Layout, result: IndexRepair) -> None:
    """Rewrite the packs whose TOC is damaged but whose frames the index still locates: copy their sound
    frames (each re-hashed) into a new pack, in prune's crash-safe order (new pack, one new segment listing
    every pack that stays, old segments deleted, old pack deleted: ``maintenance.execute_prune``).

    A pack whose frames need a missing dictionary is left as it is (verify keeps reporting it).
    """
    segments = load_segments(layout)
    bad: dict[str, str] = {}
    for pid, entries in sorted(segments.packs.items()):
        if not layout.backend.exists(pack_name(pid)):
            continue  # a lost pack: nothing to copy
        finding = check_pack_toc(layout, pid, entries)
        if finding is not None:
            bad[pid] = finding.detail
    if not bad:
        return
    dict_ids = {e.dict_id for pid in bad for e in segments.packs[pid] if e.dict_id}
    dicts, missing = load_dicts(layout, dict_ids)
    codecs = Codecs()
    for did, data in dicts.items():
        codecs.add(did, data)
    unusable = {f.id for f in missing}
    plan = PrunePlan(old_segments=list_segments(layout.backend))
    for pid, entries in segments.packs.items():
        if pid not in bad or any(e.dict_id in unusable for e in entries):
            plan.keep[pid] = entries
            bad.pop(pid, None)
            continue
        try:
            content = read_pack(layout, pid) or b""
        except FormatError:  # a sealed pack with a damaged chunk (formats/encryption.md)
            _findings, failed = check_entries_apart(layout, pid, entries, codecs, blob_hasher(layout.backend))
        else:
            _findings, failed = check_entries(pid, content, entries, codecs, blob_hasher(layout.backend))
        plan.repack[pid] = [e for e in entries if e.id not in set(failed)]
        result.frames_lost += len(failed)
    if bad:
        execute_prune(layout, plan, rewrite=frozenset(bad))
        result.tocs_rewritten.update(bad)


def _repair_segments(layout: Layout) -> IndexRepair:
    """Index every pack no sound segment lists, then delete the damaged segments."""
    result = IndexRepair()
    listed: set[str] = set()
    backend = layout.backend
    for name in list_segments(backend):
        try:
            listed.update(read_segment(backend, name))
        except IntegrityError as exc:
            result.damaged_segments[name] = str(exc)
    unlisted: dict[str, list[PackEntry]] = {}
    for pid in list_packs(backend):
        if pid not in listed:
            try:
                unlisted[pid] = read_pack_toc(backend, pid)
            except FormatError as exc:
                result.unreadable_packs[pid] = str(exc)
    if not unlisted and not result.damaged_segments:
        return result
    (layout.cache / "index").unlink(missing_ok=True)  # a rebuildable cache of the segments about to change
    if unlisted:
        data = encode_segment(unlisted)
        result.segment_written = codec.sha256_hex(data)
        result.packs_indexed = len(unlisted)
        target = f"index/{result.segment_written}"
        if result.segment_written in result.damaged_segments:
            backend.replace(target, data)
        else:
            backend.write_if_absent(target, data)
    doomed = sorted(set(result.damaged_segments) - {result.segment_written})
    for name in doomed:
        backend.delete(f"index/{name}")
    return result


def _version_of_data(layout: Layout) -> int:
    """2 when any pack is a v2 pack (the archive was v2: a v1 archive never holds one), else 1."""
    for pid in list_packs(layout.backend):
        try:
            if layout.backend.read_range(pack_name(pid), 0, len(MAGIC2)) == MAGIC2:
                return 2
        except OSError:
            continue
    return 1


def repair_config(layout: Layout) -> bool:
    """Rewrite a missing or damaged ``archive.json`` when the folder holds the folders of an archive
    (snapshots/, packs/, index/); return whether it was rewritten (formats/layout.md "A lost config").

    Holds the exclusive lock while it writes (atomically).  A config of another version is never touched
    (UnsupportedVersion), nor a folder that does not look like an archive (the original error).
    """
    try:
        check_config(layout)
        return False
    except UnsupportedVersion:
        raise
    except (ArchiveNotFound, FormatError):
        if not looks_like_archive(layout) or (layout.is_local and layout.config.is_dir()):
            raise
        if next(iter(layout.backend.list("keys")), None) is not None:  # formats/encryption.md
            raise FormatError(f"{layout.where}/{CONFIG} of an encrypted archive is missing or damaged: a "
                              "plain config would make every sealed file look damaged, so it is not "
                              "rewritten", hint="restore archive.json from a copy of the archive") from None
    with lock_archive_exclusive(layout.locks):
        try:
            check_config(layout)  # another repair may have won the race
            return False
        except UnsupportedVersion:
            raise
        except (ArchiveNotFound, FormatError):
            layout.backend.replace(CONFIG, config_bytes(_version_of_data(layout)))
    return True
