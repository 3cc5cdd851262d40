"""The Archive facade of docs/contracts.md: open/init, read blobs and snapshots, hand out writers."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path

from archiver.errors import FormatError, IntegrityError, UnsupportedVersion, UsageError
from archiver.model import FolderState, MessageRecord, SnapshotInfo
from archiver.store import codec
from archiver.store.backend import Backend, LocalBackend, backend_at
from archiver.store.check import damaged_manifests
from archiver.store.damage import read_damage, unusable_blobs
from archiver.store.dictionary import ROLE_BLOB, Codecs, list_dicts, read_dict
from archiver.store.fsutil import DIR_MODE, check_new_folder, ensure_dir, fsync_dir
from archiver.store.ids import blob_hasher
from archiver.store.index import Index, Location, add_segment, adopt_packs, list_segments, load_index_tolerant
from archiver.store.journal import Journal, journal_path, remove_journal
from archiver.store.layout import (
    CONFIG,
    DATA_DIRS,
    FORMAT_VERSION,
    LOCAL_DIRS,
    SUBDIRS,
    Layout,
    check_config,
    config_bytes,
    is_encrypted,
    pack_name,
)
from archiver.store.lock import FileLock, also_in, lock_archive_exclusive
from archiver.store.maintenance import UpgradeReport, upgrade_archive
from archiver.store.manifest import Page, decode_page, iter_records, lookup
from archiver.store.pack import list_packs, read_dict_copy
from archiver.store.repair import IndexRepair, repair_config, repair_index
from archiver.store.snapio import load_snapshot, salvage_snapshot, snapshot_ids
from archiver.store.snapshot import SnapshotRecord
from archiver.store.stats import ArchiveStats, compute_stats
from archiver.store.writer import ArchiveWriter

_HEX = re.compile(r"^[0-9a-f]{4,64}$")
BLOCK_CACHE_BYTES = 16 * 1024 * 1024
"""Decompressed v2 blocks kept for the next reads (about 16 blocks of ~1 MiB)."""


class Snapshot:
    """One snapshot: header, folder state, and its records, read page by page from the manifest tree."""

    def __init__(self, archive: Archive, record: SnapshotRecord) -> None:
        self._archive = archive
        self.info: SnapshotInfo = record.info
        self.folders: tuple[FolderState, ...] = record.folders
        self.root = record.root
        self._pages: OrderedDict[str, Page] = OrderedDict()

    def __iter__(self) -> Iterator[MessageRecord]:
        """Every record, sorted by key, in constant memory."""
        return iter_records(self.root, self._archive.read_page)

    def __len__(self) -> int:
        return self.info.message_count

    def _decoded(self, page_id: str) -> Page:
        page = self._pages.get(page_id)
        if page is None:
            page = decode_page(self._archive.read_page(page_id), page_id)
            self._pages[page_id] = page
            if len(self._pages) > 256:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page_id)
        return page

    def get(self, key: str) -> MessageRecord | None:
        """The record with this key, or None (reads one page per tree level, cached)."""
        return lookup(self.root, key, self._decoded)


def _unfinished_init(root: Path) -> bool:
    """True for an empty folder, or one holding nothing but an unfinished init: no ``archive.json``, only
    sub-folders of the layout, all empty but ``tmp`` (where the other init writes ``archive.json`` first)."""
    for entry in root.iterdir():
        if entry.name not in SUBDIRS or not entry.is_dir() or entry.is_symlink():
            return False
        if entry.name != "tmp" and any(entry.iterdir()):
            return False
    return True


class Archive:
    """An archive (formats/layout.md): its data in a :class:`Backend`, its locks, journals and caches in
    the backend's local folder.  Readers never take a lock."""

    def __init__(self, where: Path | Backend) -> None:
        backend = LocalBackend(where) if isinstance(where, Path) else where
        self.backend: Backend = backend
        self.layout = Layout.of(backend)
        self.path = self.layout.root
        """The local folder (for a local archive, the archive itself)."""
        self.format_version = FORMAT_VERSION
        """The archive's format version (archive.json): 2 writes v2 packs, 1 keeps writing v1 packs."""
        self._blocks: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._blocks_size = 0
        self._block_lock = threading.Lock()
        self.codecs = Codecs()
        self._index: Index | None = None
        self._index_problems: dict[str, str] = {}
        self._unreadable_packs: dict[str, str] = {}
        self._snapshots: dict[str, SnapshotRecord] = {}
        self.unreadable_snapshots: dict[str, str] = {}
        self._claims: dict[str, SnapshotInfo | None] = {}
        self.damaged_entries: set[str] = set()
        """Ids of pages and blobs this process found damaged or missing (no copy reads): a writer stores
        such an entry again instead of taking it as present."""
        self._dict_ids: dict[int, str] = {}
        self._blob_id = blob_hasher(backend)

    # -- opening -------------------------------------------------------------------------------------

    @classmethod
    def init(cls, path: str | os.PathLike[str], *, version: int = FORMAT_VERSION) -> Archive:
        """Create an empty archive; UsageError if ``path`` exists and is not an empty folder.

        A folder holding only the empty sub-folders of an init that has not written ``archive.json`` yet (one
        running at the same time, or one interrupted) counts as empty: both inits then write the same
        ``archive.json`` atomically, so two at once both succeed.
        """
        where = backend_at(path)
        if not isinstance(where, LocalBackend):  # s3://... (formats/remote.md)
            return cls.init_backend(where)
        root = Path(path)
        check_new_folder(root, "gmail-archiver init {path}", empty=_unfinished_init)
        ensure_dir(root)
        os.chmod(root, DIR_MODE)
        for sub in SUBDIRS:
            ensure_dir(root / sub)
        backend = LocalBackend(root)
        backend.replace(CONFIG, config_bytes(version))
        fsync_dir(root)
        return cls.open_backend(backend)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Archive:
        """Open an existing archive (a folder, or an ``s3://`` URL): ArchiveNotFound, UnsupportedVersion,
        FormatError."""
        return cls.open_backend(backend_at(path))

    @classmethod
    def init_backend(cls, backend: Backend, *, version: int = FORMAT_VERSION) -> Archive:
        """Create an empty archive in ``backend`` (an object store, an encrypting layer...); UsageError
        when it already holds archive data.  Two inits at once both succeed (the same ``archive.json``)."""
        if isinstance(backend, LocalBackend):
            return cls.init(backend.root, version=version)
        for folder in DATA_DIRS:
            if next(iter(backend.list(folder)), None) is not None:
                raise UsageError(f"{backend.url} already holds archive data ({folder}/)",
                                 hint="give a new, empty location")
        if backend.exists(CONFIG) and backend.read(CONFIG) != config_bytes(version):
            raise UsageError(f"{backend.url} already holds an archive", hint="give a new, empty location")
        local = Path(backend.local_state)
        ensure_dir(local)
        for sub in LOCAL_DIRS:
            ensure_dir(local / sub)
        backend.write_if_absent(CONFIG, config_bytes(version))
        return cls.open_backend(backend)

    @classmethod
    def open_backend(cls, backend: Backend) -> Archive:
        """Open the archive held by ``backend``: ArchiveNotFound, UnsupportedVersion, FormatError.  An
        encrypted one (formats/encryption.md) is opened through an EncryptedBackend, with the password
        store/archive_password.py provides (AuthError, exit 12, when it opens no key)."""
        archive = cls(backend)
        archive.format_version = check_config(archive.layout)
        if is_encrypted(backend) and not hasattr(backend, "content_id"):
            from archiver.store.crypto import open_encrypted  # loads cryptography only for these

            archive = cls(open_encrypted(backend, None))
            archive.format_version = check_config(archive.layout)
        return archive

    @classmethod
    def open_for_repair(cls, path: str | os.PathLike[str]) -> tuple[Archive, bool]:
        """Open an archive, first rewriting a missing or damaged ``archive.json`` when the folder holds
        snapshots/, packs/ and index/ (formats/layout.md); returns (archive, whether it was rewritten)."""
        rewritten = repair_config(Layout(Path(path)))
        return cls.open(path), rewritten

    # -- index and dictionaries ----------------------------------------------------------------------

    @property
    def index(self) -> Index:
        """The union of all index segments (loaded on first use).  A damaged segment does not stop reads:
        the packs no sound segment lists are indexed from their own TOCs, in memory (nothing is written),
        and the segment is named in :attr:`index_problems`."""
        if self._index is None:
            self._index, self._index_problems = load_index_tolerant(self.backend, self.layout.cache / "index")
        return self._index

    @property
    def index_problems(self) -> dict[str, str]:
        """Damaged index segments (id -> why) the loaded index did without; ``rebuild_index`` repairs them."""
        _ = self.index
        return dict(self._index_problems)

    def _locate(self, entry_id: str, page: bool) -> Location | None:
        """Where an entry is: the loaded index, then new segments, then packs no segment lists (a lost or
        not yet written segment must not make an intact pack unreadable)."""
        def find() -> Location | None:
            return (self.index.pages if page else self.index.blobs).get(entry_id)

        loc = find()
        if loc is None:
            self.refresh()
            loc = find()
        if loc is None and adopt_packs(self.index, self.backend, self._unreadable_packs):
            loc = find()
        return loc

    def rebuild_index(self) -> IndexRepair:
        """Repair the index from the packs' TOCs under the exclusive lock (ArchiveLocked while a writer
        runs): write one segment listing every pack no sound segment lists, then delete the damaged
        segments; rewrite packs whose TOC is damaged (their sound frames repacked) and a damaged
        ``cache/index``.  Crash-safe at every step (formats/invariants.md); a sound archive is left
        unchanged."""
        with self.exclusive_lock():
            result = repair_index(self.layout)
        self.close()  # a rewritten pack's old file is gone
        self._index = None
        self._index_problems = {}
        return result

    def upgrade(self) -> UpgradeReport:
        """Make the archive format v2, repacking its v1 packs into v2 blocks, under the exclusive lock
        (ArchiveLocked while a writer runs; DamageFound on a damaged archive, as prune).  Crash-safe at every
        step; running it again finishes an interrupted upgrade (formats/invariants.md "Upgrading")."""
        with self.exclusive_lock():
            report = upgrade_archive(self.layout)
        self.format_version = 2
        self._index = None
        self._index_problems = {}
        self.close()
        return report

    def refresh(self) -> None:
        """Read index segments written since the index was loaded (by another process); start over if
        prune replaced segments meanwhile (packs it deleted must not stay in memory)."""
        if self._index is None:
            return
        present = list_segments(self.backend)
        if not (self._index.segments | set(self._index_problems)) <= set(present):
            self._index = None  # prune or a repair replaced segments
            return
        for name in present:
            if name not in self._index.segments and name not in self._index_problems:
                try:
                    add_segment(self._index, self.backend, name)
                except UnsupportedVersion:
                    raise
                except IntegrityError:  # may have added part of it: reload, tolerating it
                    self._index = None
                    return

    def current_dict_id(self, role: int = ROLE_BLOB, refresh: bool = False) -> str | None:
        """The dictionary of ``role`` new entries are compressed with (the smallest id of that role whose
        bytes can be had: from ``dicts/``, else from a copy a v2 pack carries).  A dictionary no sound copy
        of which is left is passed over, so that damage never blocks the backup that heals it."""
        if role not in self._dict_ids or refresh:
            # dicts/ and the dictionaries the index names (whose file may be lost: packs carry copies)
            known = {d for d in self.index.tables.dicts if d is not None}
            for dict_id in sorted(known | set(list_dicts(self.backend))):
                try:
                    if self._load_dict(dict_id) == role:
                        self._dict_ids[role] = dict_id
                        break
                except FormatError:
                    continue
        return self._dict_ids.get(role)

    def _load_dict(self, dict_id: str, pack: str | None = None) -> int:
        """Make the dictionary usable by codecs; return its role.  When ``dicts/<id>`` is missing or damaged,
        the copy carried by ``pack`` (or, without one, by any v2 pack) is used (formats/pack.md)."""
        if not self.codecs.has(dict_id):
            self.codecs.add(dict_id, self._dict_bytes(dict_id, pack))
        return self.codecs.role(dict_id)

    def _dict_bytes(self, dict_id: str, pack: str | None) -> bytes:
        try:
            return read_dict(self.backend, dict_id)
        except FormatError as exc:
            first = exc
        for pid in [pack] if pack is not None else list_packs(self.backend):
            data = read_dict_copy(self.backend, pid, dict_id)
            if data is not None:
                return data
        raise first

    # -- raw reads -----------------------------------------------------------------------------------

    def _pread(self, loc: Location, what: str) -> bytes:
        try:
            data = self.backend.read_range(pack_name(loc.pack), loc.offset, loc.length)
        except (FileNotFoundError, NotADirectoryError):
            raise IntegrityError(f"pack {loc.pack[:12]} is missing (needed for {what})") from None
        if len(data) != loc.length:
            raise IntegrityError(f"pack {loc.pack[:12]} is truncated (needed for {what})")
        return data

    def content_id(self, data: bytes) -> str:
        """The id of a blob holding ``data``: its SHA-256, or in an encrypted archive the keyed HMAC
        (formats/encryption.md "Keyed ids"; store/ids.py decides)."""
        return self._blob_id(data)

    def _read_entry(self, loc: Location, entry_id: str, what: str, page: bool) -> bytes:
        if loc.dict_id is not None:
            self._load_dict(loc.dict_id, loc.pack)
        where = f"{what} in pack {loc.pack[:12]}"
        if loc.inner is None:  # a v1 frame: the entry itself
            raw = self.codecs.decompress(self._pread(loc, what), loc.dict_id, loc.raw_length, where)
        else:
            block = self._block(loc, what, where)
            raw = block[loc.inner:loc.inner + loc.raw_length]
            if len(raw) != loc.raw_length:
                raise IntegrityError(f"{where} is damaged (it lies beyond the end of its block)")
        if (codec.sha256_hex(raw) if page else self._blob_id(raw)) != entry_id:
            raise IntegrityError(f"{where} is damaged (its bytes do not match its id)")
        return raw

    def _block(self, loc: Location, what: str, where: str) -> bytes:
        """The decompressed v2 block at ``loc``, from a small cache of recent blocks (bounded by
        ``BLOCK_CACHE_BYTES``): sequential reads decompress each block once."""
        key = (loc.pack, loc.offset)
        with self._block_lock:
            hit = self._blocks.get(key)
            if hit is not None:
                self._blocks.move_to_end(key)
                return hit
        data = self.codecs.decompress_block(self._pread(loc, what), loc.dict_id, where)
        if len(data) > loc.raw_length:  # a block of several entries: others may be read next
            with self._block_lock:
                if key not in self._blocks:
                    self._blocks[key] = data
                    self._blocks_size += len(data)
                while self._blocks_size > BLOCK_CACHE_BYTES and len(self._blocks) > 1:
                    self._blocks_size -= len(self._blocks.popitem(last=False)[1])
        return data

    def read_page(self, page_id: str) -> bytes:
        """The msgpack bytes of one manifest page, checked against its id."""
        return self._read_copy(page_id, True, f"manifest page {page_id[:12]}",
                               "is not in the index (dangling reference)")

    def _read_copy(self, entry_id: str, page: bool, what: str, absent: str) -> bytes:
        """The entry's bytes from its first intact copy (formats/index.md "Several copies").  When none
        reads, the index is re-read and the entry tried once more: a prune running meanwhile may have
        repacked it and deleted the pack this reader's index named (formats/invariants.md "Locks").  An
        entry no copy of which reads is remembered in ``damaged_entries``."""
        first: FormatError | OSError | None = None
        for attempt in range(2):
            if attempt:
                self.refresh()
            loc = self._locate(entry_id, page)
            if loc is None:  # _locate re-read the index already
                break
            table = self.index.pages if page else self.index.blobs
            for copy in (loc, *table.others(entry_id)):
                try:
                    return self._read_entry(copy, entry_id, what, page)
                except (FormatError, OSError) as exc:
                    first = first or exc
        self.damaged_entries.add(entry_id)
        if first is not None:
            raise first
        raise IntegrityError(f"{what} {absent}")

    # -- blobs ---------------------------------------------------------------------------------------

    def has_blob(self, blob_id: str) -> bool:
        return blob_id in self.index.blobs

    def unusable_blobs(self, blob_ids: Iterable[str]) -> dict[str, str]:
        """Blob id -> why, for the blobs of ``blob_ids`` with no usable copy: not in the archive, every copy
        in a missing or truncated pack (a cheap check of sizes and trailers, no data read), or recorded
        damaged by ``verify`` (store/damage.py).  A backup stores these again when the server has them."""
        wanted = list(blob_ids)
        if any(b not in self.index.blobs for b in wanted):
            self.refresh()
            adopt_packs(self.index, self.backend, self._unreadable_packs)
        return unusable_blobs(self.index, self.layout, wanted, read_damage(self.layout))

    def get_blob(self, blob_id: str) -> bytes:
        """The exact bytes of one message; IntegrityError if missing or damaged."""
        return self._read_copy(blob_id, False, f"blob {blob_id[:12]}", "is not in the archive")

    def iter_blobs(self, blob_ids: Iterable[str], damaged: dict[str, str] | None = None
                   ) -> Iterator[tuple[str, bytes]]:
        """Each requested blob once, in (pack, offset) order so reads are sequential.

        A missing or damaged blob raises IntegrityError, unless ``damaged`` is given: then it is left out
        and recorded there (blob id -> why) and the others still come (per-message problems for callers).
        """
        wanted = set(blob_ids)
        missing = [b for b in wanted if b not in self.index.blobs]
        if missing:
            self.refresh()
            if any(b not in self.index.blobs for b in missing):
                adopt_packs(self.index, self.backend, self._unreadable_packs)
        blobs = self.index.blobs
        for b in sorted(wanted):
            if b not in blobs:
                if damaged is None:
                    raise IntegrityError(f"blob {b[:12]} is not in the archive")
                damaged[b] = f"blob {b[:12]} is not in the archive"
        present = [b for b in wanted if b in blobs]
        def place(b: str) -> tuple[str, int, int]:
            loc = blobs[b]
            return loc.pack, loc.offset, loc.inner or 0  # the messages of a v2 block in their stored order

        for b in sorted(present, key=place):
            try:  # another copy, or the index re-read when a prune repacked it meanwhile
                data = self._read_copy(b, False, f"blob {b[:12]}", "is not in the archive")
            except (FormatError, OSError) as exc:
                if damaged is None:
                    raise
                damaged[b] = str(exc)
                continue
            yield b, data

    # -- snapshots -----------------------------------------------------------------------------------

    def remember_snapshot(self, record: SnapshotRecord) -> SnapshotRecord:
        self._snapshots[record.info.id] = record
        return record

    def _records(self) -> list[SnapshotRecord]:
        for sid in snapshot_ids(self.backend):
            if sid not in self._snapshots and sid not in self.unreadable_snapshots:
                try:
                    self._snapshots[sid] = load_snapshot(self.backend, sid)
                except FormatError as exc:  # one damaged record must not hide the others
                    self.unreadable_snapshots[sid] = str(exc)
                    self._claims[sid] = salvage_snapshot(self.backend, sid)
        return sorted(self._snapshots.values(), key=lambda r: (r.info.time, r.info.id))

    def snapshots(self, account: str | None = None) -> list[SnapshotInfo]:
        """Every readable snapshot (partial ones too), oldest first.  Records that are damaged or of an
        unknown version are left out and listed in ``unreadable_snapshots`` (id -> why); ``load`` of one
        raises the error."""
        return [r.info for r in self._records() if account is None or r.info.account == account]

    def key_seq(self, account: str) -> int:
        """The next ``n:`` key number of ``account``: the largest ``key_seq`` of its readable snapshot
        records (formats/snapshot.md "Keys"), so no number is given twice, even past a damaged manifest."""
        return max((r.key_seq for r in self._records() if r.info.account == account), default=0)

    def accounts(self) -> list[str]:
        """The accounts with at least one readable snapshot, sorted."""
        return sorted({r.info.account for r in self._records()})

    def unreadable_of(self, account: str | None = None) -> dict[str, str]:
        """The unreadable records (id -> why) that may belong to ``account`` (all with None): all but those
        whose damaged bytes still decode and name another account that has readable snapshots (a damaged
        record's claims are never trusted further than that)."""
        known = {r.info.account for r in self._records()}
        out = {}
        for sid, why in sorted(self.unreadable_snapshots.items()):
            claim = self._claims.get(sid)
            if account is None or claim is None or claim.account == account or claim.account not in known:
                out[sid] = why
        return out

    def _refuse_hidden(self, spec: str, account: str | None) -> None:
        """IntegrityError when an unreadable record may be the snapshot ``spec`` asks for: the answer would
        silently be an older one.  Its time cannot be trusted, so any record that may be ``account``'s
        counts."""
        for sid, why in self.unreadable_of(account).items():
            whose = f" of {account}" if account else ""
            raise IntegrityError(
                f"snapshot {sid[:12]} cannot be read ({why}); it may be the snapshot{whose} that "
                f"{spec!r} means, so no older one is picked instead",
                hint=f"name a snapshot (`gmail-archiver snapshots ARCHIVE` lists them), or forget the "
                     f"damaged record: `gmail-archiver forget ARCHIVE {sid[:12]}`")

    def resolve(self, spec: str = "latest", account: str | None = None) -> SnapshotInfo:
        """"latest", an id prefix (>= 4 hex digits) or an ISO time; UsageError unless exactly one matches.

        ``latest`` and a time mean one account's snapshots: when the archive holds several accounts and
        ``account`` is None, only an id prefix is accepted (UsageError naming the accounts otherwise), so
        that no command silently picks another account's mail.  IntegrityError when an unreadable record
        may be the snapshot "latest" or an ISO time means (the answer would be an older snapshot): the user
        then names one, or forgets the damaged record.
        """
        infos = self.snapshots(account)
        whose = f" of {account}" if account else ""
        if account is not None and not infos:
            raise UsageError(f"the archive has no snapshot of {account}",
                             hint=f"accounts in it: {', '.join(self.accounts()) or 'none'}")
        if spec == "latest":
            self._one_account(spec, account)
            complete = [i for i in infos if not i.partial]
            self._refuse_hidden(spec, account)
            if not complete:
                raise UsageError(f"the archive has no complete snapshot{whose}")
            return complete[-1]
        if _HEX.match(spec):
            hits = [i for i in infos if i.id.startswith(spec)]
            bad = [sid for sid in self.unreadable_snapshots if sid.startswith(spec)]
            if len(hits) == 1 and not bad:
                return hits[0]
            if len(hits) + len(bad) > 1:
                n = len(hits) + len(bad)
                raise UsageError(f"snapshot id prefix {spec!r} is ambiguous ({n} snapshots)")
            if bad:
                raise IntegrityError(self.unreadable_snapshots[bad[0]])
        try:
            when = dt.datetime.fromisoformat(spec)
        except ValueError:
            raise UsageError(f"no snapshot{whose} matches {spec!r}",
                             hint="use 'latest', an id prefix or an ISO time") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        self._one_account(spec, account)
        before = [i for i in infos if not i.partial and i.time <= when]
        self._refuse_hidden(spec, account)
        if not before:
            raise UsageError(f"no complete snapshot{whose} at or before {when.isoformat()}")
        return before[-1]

    def _one_account(self, spec: str, account: str | None) -> None:
        """UsageError when ``spec`` (latest, a time) would pick among several accounts' snapshots."""
        if account is None and len(names := self.accounts()) > 1:
            raise UsageError(f"the archive holds {len(names)} accounts ({', '.join(names)}): {spec!r} "
                             "does not say whose snapshot",
                             hint=f"add --account {names[0]} (or another of them), or name a snapshot id")

    def load(self, snapshot_id: str) -> Snapshot:
        """The snapshot with this full id (records are read lazily, page by page)."""
        record = self._snapshots.get(snapshot_id) or load_snapshot(self.backend, snapshot_id)
        self._snapshots[snapshot_id] = record
        if record.root is not None:
            self.read_page(record.root)  # fail now, naming the page, if the root is gone
        return Snapshot(self, record)

    def manifest_damage(self, snapshot_ids: Iterable[str]) -> dict[str, str]:
        """Snapshot id -> why, for those of the readable snapshots ``snapshot_ids`` with a manifest page
        that cannot be read (every page is read once; nothing is written)."""
        self._records()
        roots = {sid: self._snapshots[sid].root for sid in snapshot_ids if sid in self._snapshots}
        return damaged_manifests(roots, self.read_page)

    def snapshot_ids(self) -> list[str]:
        """The ids of every record in snapshots/, readable or not."""
        return snapshot_ids(self.backend)

    # -- the rest ------------------------------------------------------------------------------------

    def stats(self) -> ArchiveStats:
        infos = self.snapshots()
        return compute_stats(self.layout, self.index, infos, self.unreadable_snapshots)

    def writer(self, account: str) -> ArchiveWriter:
        """The writer of ``account``; ArchiveLocked if another one (or prune) holds the lock."""
        return ArchiveWriter(self, account)

    def journal(self, name: str) -> Journal:
        """The append-only journal ``name`` (created on first append); its entries sealed in an encrypted
        archive (formats/encryption.md "Sealed journals")."""
        seal = getattr(self.backend, "journal_seal", None)
        return Journal(journal_path(self.layout.journals, name), seal() if callable(seal) else None)

    def remove_journal(self, name: str) -> None:
        """Delete the journal ``name`` durably (e.g. a finished run's resume journal); absent is fine."""
        remove_journal(self.layout.journals, name)

    def exclusive_lock(self) -> FileLock:
        """The archive-wide lock prune/forget hold (ArchiveLocked while any writer runs)."""
        return also_in(lock_archive_exclusive(self.layout.locks), self.backend, "archive", True)

    def close(self) -> None:
        """Drop cached blocks (the archive stays usable)."""
        with self._block_lock:
            self._blocks.clear()
            self._blocks_size = 0

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
