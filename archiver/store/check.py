"""Low-level, damage-tolerant readers of an archive's files, for ``verify`` and ``prune``.

Unlike the ``Archive`` facade, nothing here stops at the first bad file: every reader returns what it could
read plus a list of :class:`Finding` naming what it could not.  Nothing here writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from archiver.errors import FormatError
from archiver.model import MessageRecord
from archiver.store import codec
from archiver.store.dictionary import Codecs, read_dict
from archiver.store.ids import BlobHasher
from archiver.store.index import Index, Location, list_segments, read_cache, read_segment
from archiver.store.layout import Layout, check_config, pack_name
from archiver.store.manifest import decode_page
from archiver.store.pack import KIND_BLOB, PackEntry, list_packs, read_dict_copy, read_pack_toc
from archiver.store.snapio import load_snapshot, snapshot_ids
from archiver.store.snapshot import SnapshotRecord


@dataclass(frozen=True, slots=True)
class Finding:
    """One damaged or missing file or entry: ``kind`` is config, folder, snapshot, index, cache, pack, page,
    blob or dict."""

    kind: str
    id: str
    detail: str


@dataclass
class Segments:
    """Every readable index segment: which packs each lists, with their entries."""

    by_segment: dict[str, dict[str, list[PackEntry]]] = field(default_factory=dict)
    blobs: dict[str, Location] = field(default_factory=dict)
    pages: dict[str, Location] = field(default_factory=dict)
    packs: dict[str, list[PackEntry]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


REQUIRED_DIRS = ("snapshots", "packs", "index")
"""Folders ``init`` creates whose loss would otherwise read as an empty, healthy archive (no snapshots, no
index: every pack unindexed).  ``dicts`` is checked through the dictionaries entries need; the others
(journals, locks, tmp, cache) are rebuilt on demand."""


def check_layout(layout: Layout) -> list[Finding]:
    """The config file and the required folders (ArchiveNotFound still raises: there is no archive)."""
    try:
        check_config(layout)
    except FormatError as exc:
        return [Finding("config", "archive.json", str(exc))]
    if not layout.is_local:  # an object store has no folders, only names
        return []
    return [Finding("folder", f"{name}/", f"the {name}/ folder is missing")
            for name in REQUIRED_DIRS if not (layout.root / name).is_dir()]


def load_segments(layout: Layout) -> Segments:
    """The union of all readable segments (a blob in several packs: the smallest pack id wins)."""
    out = Segments()
    for name in list_segments(layout.backend):
        try:
            packs = read_segment(layout.backend, name)
        except FormatError as exc:
            out.findings.append(Finding("index", name, str(exc)))
            continue
        out.by_segment[name] = packs
        for pid, entries in packs.items():
            if pid in out.packs:
                continue
            out.packs[pid] = entries
            for e in entries:
                target = out.blobs if e.kind == KIND_BLOB else out.pages
                old = target.get(e.id)
                if old is None or pid < old.pack:
                    target[e.id] = Location(pid, e.offset, e.length, e.raw_length, e.dict_id, e.inner)
    return out


CACHE_FIX = "readers ignore it and rebuild it; `gmail-archiver verify --repair-index` rewrites it now"


def check_cache(layout: Layout, segments: Segments) -> Finding | None:
    """``cache/index`` (rebuildable, so never trusted): its header and checksum hold, and it locates every
    entry exactly as the segments it lists do.  A missing, old-format or stale cache is no finding."""
    cache = layout.cache / "index"
    cached, why = read_cache(cache, set(list_segments(layout.backend)))
    if why is not None:
        return Finding("cache", "cache/index", f"{why}; {CACHE_FIX}")
    if cached is None or not cached.segments <= set(segments.by_segment):
        return None  # absent or stale, or it lists a damaged segment (reported as such)
    truth = Index()
    for name in sorted(cached.segments):
        for pid, entries in segments.by_segment[name].items():
            if pid not in truth.packs:
                truth.add_pack(pid, entries)
    if cached.as_mapping() != truth.as_mapping():
        return Finding("cache", "cache/index", "cache/index does not match the index segments it lists; "
                                               + CACHE_FIX)
    return None


def load_snapshots(layout: Layout) -> tuple[dict[str, SnapshotRecord], list[Finding]]:
    """Every snapshot record that reads and matches its name, and findings for the others."""
    good: dict[str, SnapshotRecord] = {}
    bad: list[Finding] = []
    for sid in snapshot_ids(layout.backend):
        try:
            good[sid] = load_snapshot(layout.backend, sid)
        except FormatError as exc:
            bad.append(Finding("snapshot", sid, str(exc)))
    return good, bad


def load_dicts(layout: Layout, wanted: set[str]) -> tuple[dict[str, bytes], list[Finding]]:
    """The named dictionaries: from ``dicts/`` when sound, else from a copy a v2 pack carries.  A missing or
    damaged dictionary file is a finding either way; when a copy was found the dictionary is in the first
    result too (nothing that needs it is lost) and the finding says so."""
    good: dict[str, bytes] = {}
    bad: list[Finding] = []
    packs: list[str] | None = None
    for did in sorted(wanted):
        try:
            good[did] = read_dict(layout.backend, did)
        except FormatError as exc:
            packs = list_packs(layout.backend) if packs is None else packs
            copy = next((c for pid in packs if (c := read_dict_copy(layout.backend, pid, did)) is not None),
                        None)
            if copy is None:
                bad.append(Finding("dict", did, str(exc)))
                continue
            good[did] = copy
            bad.append(Finding("dict", did, f"{exc}; {DICT_COPY_NOTE}"))
    return good, bad


DICT_COPY_NOTE = ("packs carry copies of it, so nothing is lost; `gmail-archiver verify --repair-index` "
                  "writes it back")


def entry_bytes(codecs: Codecs, frame: bytes | memoryview, e: PackEntry | Location, what: str) -> bytes:
    """The bytes of the entry ``e`` whose frame (v1) or block (v2) is ``frame``; FormatError when the frame
    does not decompress or the entry lies outside its block (the caller checks the hash)."""
    if e.inner is None:
        return codecs.decompress(frame, e.dict_id, e.raw_length, what)  # type: ignore[arg-type]
    block = codecs.decompress_block(frame, e.dict_id, what)
    raw = block[e.inner:e.inner + e.raw_length]
    if len(raw) != e.raw_length:
        raise FormatError(f"{what} lies beyond the end of its block")
    return raw


def present_packs(layout: Layout) -> list[str]:
    return list_packs(layout.backend)


def unindexed_entries(layout: Layout, indexed_packs: set[str]) -> dict[str, str]:
    """Entry id -> pack id for the entries of packs present on disk but in no index segment (left by an
    interrupted write, or orphaned by a damaged segment); unreadable packs are skipped."""
    out: dict[str, str] = {}
    for pid in sorted(set(list_packs(layout.backend)) - indexed_packs):
        try:
            toc = read_pack_toc(layout.backend, pid)
        except FormatError:
            continue
        for e in toc:
            out.setdefault(e.id, pid)
    return out


def check_pack_toc(layout: Layout, pack_id: str, indexed: list[PackEntry]) -> Finding | None:
    """The pack exists, its trailer and TOC are sound, and the TOC lists exactly the indexed entries."""
    try:
        toc = read_pack_toc(layout.backend, pack_id)
    except FormatError as exc:
        return Finding("pack", pack_id, str(exc))
    if sorted(toc, key=_place) != sorted(indexed, key=_place):
        return Finding("pack", pack_id, f"pack {pack_id[:12]}: its table of contents differs from the index")
    return None


def _place(e: PackEntry) -> tuple[int, int]:
    return e.offset, e.inner or 0


def lost_frames(layout: Layout, pack_id: str, indexed: list[PackEntry]) -> set[str]:
    """Ids of the indexed entries a pack cannot hold any more: all of them when it is missing, else those
    lying beyond its end (a truncated pack); frames within it are checked by reading (``check_entries``)."""
    try:
        size = layout.backend.size(pack_name(pack_id))
    except (FileNotFoundError, NotADirectoryError):
        return {e.id for e in indexed}
    return {e.id for e in indexed if e.offset + e.length > size}


def read_frame(layout: Layout, loc: Location) -> bytes:
    """The stored (compressed) frame at ``loc``; FormatError when the pack is missing or too short."""
    try:
        data = layout.backend.read_range(pack_name(loc.pack), loc.offset, loc.length)
    except (FileNotFoundError, NotADirectoryError):
        raise FormatError(f"pack {loc.pack[:12]} is missing") from None
    if len(data) != loc.length:
        raise FormatError(f"pack {loc.pack[:12]} is shorter than its index says")
    return data


class PageReader:
    """Reads manifest pages through the index; every page is read at most once."""

    def __init__(self, layout: Layout, segments: Segments, dicts: dict[str, bytes]) -> None:
        self.layout = layout
        self.segments = segments
        self.codecs = Codecs()
        for did, data in dicts.items():
            self.codecs.add(did, data)
        self._copies: dict[str, list[Location]] | None = None
        self.bad_copies: set[tuple[str, str]] = set()
        """(page id, pack id) of every copy that failed to read (prune keeps another copy instead)."""

    def read(self, page_id: str) -> bytes:
        """The page's bytes from its first intact copy (formats/index.md "Several copies"); a copy that
        fails is remembered in ``bad_copies``."""
        loc = self.segments.pages.get(page_id)
        if loc is None:
            raise FormatError(f"manifest page {page_id[:12]} is not in the index")
        try:
            return self._read(loc, page_id)
        except FormatError as first:
            self.bad_copies.add((page_id, loc.pack))
            for other in self._other_copies(page_id, loc.pack):
                try:
                    return self._read(other, page_id)
                except FormatError:
                    self.bad_copies.add((page_id, other.pack))
            raise first

    def _other_copies(self, page_id: str, pack: str) -> list[Location]:
        if self._copies is None:  # built once, on the first failure: copies of pages are rare
            self._copies = {}
            for pid, entries in self.segments.packs.items():
                for e in entries:
                    if e.kind != KIND_BLOB:
                        self._copies.setdefault(e.id, []).append(
                            Location(pid, e.offset, e.length, e.raw_length, e.dict_id, e.inner))
        return sorted((c for c in self._copies.get(page_id, ()) if c.pack != pack), key=lambda c: c.pack)

    def _read(self, loc: Location, page_id: str) -> bytes:
        if not self.codecs.has(loc.dict_id):
            raise FormatError(f"manifest page {page_id[:12]} needs a missing or damaged dictionary")
        raw = entry_bytes(self.codecs, read_frame(self.layout, loc), loc, f"manifest page {page_id[:12]}")
        if codec.sha256_hex(raw) != page_id:
            raise FormatError(f"manifest page {page_id[:12]} does not match its name")
        return raw


def walk_tree(root: str | None, read: Callable[[str], bytes], seen: set[str], bad: dict[str, str],
              on_records: Callable[[str, tuple[MessageRecord, ...]], None]) -> Iterator[str]:
    """Yield the id of every page under ``root`` not in ``seen`` (added to it); call ``on_records`` with
    each leaf's records; pages that cannot be read or decoded go to ``bad`` (id -> reason) and their
    subtrees are skipped.  A page already in ``bad`` is yielded again so callers see the damage."""
    stack = [root] if root else []
    while stack:
        pid = stack.pop()
        if pid in bad:
            yield pid
            continue
        if pid in seen:
            continue
        seen.add(pid)
        yield pid
        try:
            page = decode_page(read(pid), pid)
        except FormatError as exc:
            bad[pid] = str(exc)
            continue
        if page.level == 0:
            on_records(pid, page.records)
        else:
            stack.extend(reversed(page.children))


def damaged_manifests(roots: dict[str, str | None], read: Callable[[str], bytes]) -> dict[str, str]:
    """Snapshot id -> why, for the snapshots (id -> manifest root) with a page under their root that cannot
    be read or decoded.  Every page is read once; a page shared by several snapshots damages each of them."""
    memo: dict[str, str | None] = {}

    def bad_under(pid: str) -> str | None:
        if pid not in memo:
            try:
                page = decode_page(read(pid), pid)
            except FormatError as exc:
                memo[pid] = str(exc)
            else:
                memo[pid] = next((why for child in page.children if (why := bad_under(child))), None) \
                    if page.level else None
        return memo[pid]

    return {sid: why for sid, root in sorted(roots.items()) if root and (why := bad_under(root))}


def subset_of(pack_id: str, subset: tuple[int, int] | None) -> bool:
    """Whether a pack is in slice N of T (1-based), chosen by a hash of the pack id (deterministic)."""
    if subset is None:
        return True
    n, t = subset
    return int(hashlib.sha256(pack_id.encode()).hexdigest()[:8], 16) % t == n - 1


def read_pack(layout: Layout, pack_id: str) -> bytes | None:
    """The whole pack file (one sequential read), or None when it is missing."""
    try:
        return layout.backend.read(pack_name(pack_id))
    except (FileNotFoundError, NotADirectoryError):
        return None


def check_pack_name(pack_id: str, data: bytes) -> Finding | None:
    """A pack's bytes must hash to its name (catches damage anywhere, frames or table of contents)."""
    if hashlib.sha256(data).hexdigest() != pack_id:
        return Finding("pack", pack_id, f"pack {pack_id[:12]} does not match its name")
    return None


def check_entries(pack_id: str, data: bytes, entries: list[PackEntry], codecs: Codecs,
                  blob_id: BlobHasher = codec.sha256_hex) -> tuple[list[Finding], list[str]]:
    """Decompress and re-hash ``entries`` of the pack whose bytes are ``data`` (blobs with ``blob_id``:
    ``blob_hasher(backend)``, keyed in an encrypted archive; pages by SHA-256).

    Returns (findings, ids of the entries that failed).  Thread-safe (``Codecs`` keeps per-thread state).
    """
    findings: list[Finding] = []
    failed: list[str] = []
    view = memoryview(data)
    block_at: tuple[int, int] | None = None
    block: bytes | FormatError = b""
    for e in entries:
        kind = "blob" if e.kind == KIND_BLOB else "page"
        what = f"{kind} {e.id[:12]} in pack {pack_id[:12]}"
        try:
            if e.offset + e.length > len(data):
                raise FormatError(f"{what} lies beyond the end of the pack")
            if not codecs.has(e.dict_id):
                raise FormatError(f"{what} needs a missing or damaged dictionary")
            frame = view[e.offset:e.offset + e.length]
            if e.inner is None:
                raw = codecs.decompress(frame, e.dict_id, e.raw_length, what)  # type: ignore[arg-type]
            else:  # a v2 block: decompressed once for the entries of it that follow one another
                if block_at != (e.offset, e.length):
                    block_at = (e.offset, e.length)
                    try:
                        block = codecs.decompress_block(frame, e.dict_id, f"block at {e.offset} of pack "
                                                                          f"{pack_id[:12]}")
                    except FormatError as exc:
                        block = exc
                if isinstance(block, FormatError):
                    raise FormatError(f"{what}: {block}")
                raw = block[e.inner:e.inner + e.raw_length]
                if len(raw) != e.raw_length:
                    raise FormatError(f"{what} lies beyond the end of its block")
            if (blob_id(raw) if e.kind == KIND_BLOB else codec.sha256_hex(raw)) != e.id:
                raise FormatError(f"{what} does not match its hash")
        except FormatError as exc:
            findings.append(Finding(kind, e.id, str(exc)))
            failed.append(e.id)
    return findings, failed


def check_entries_apart(layout: Layout, pack_id: str, entries: list[PackEntry], codecs: Codecs,
                        blob_id: BlobHasher = codec.sha256_hex) -> tuple[list[Finding], list[str]]:
    """``check_entries`` for a pack that does not read whole (a sealed pack with a damaged chunk,
    formats/encryption.md): each entry read on its own, so only the entries in damaged chunks fail."""
    findings: list[Finding] = []
    failed: list[str] = []
    for e in entries:
        try:
            frame = layout.backend.read_range(pack_name(pack_id), e.offset, e.length)
        except (FormatError, OSError) as exc:
            kind = "blob" if e.kind == KIND_BLOB else "page"
            findings.append(Finding(kind, e.id, f"{kind} {e.id[:12]} in pack {pack_id[:12]}: {exc}"))
            failed.append(e.id)
            continue
        found, bad = check_entries(pack_id, frame, [replace(e, offset=0)], codecs, blob_id)
        findings += found
        failed += bad
    return findings, failed
