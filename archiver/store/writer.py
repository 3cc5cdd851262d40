"""ArchiveWriter: stores message blobs into packs and commits snapshots (formats/invariants.md).

Write order, each file durable before the next step: data packs -> manifest-page packs -> index segment ->
snapshot record (the commit point).  Thread-safe: ``put_blob`` hashes and compresses outside the lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from archiver.errors import IntegrityError, UsageError
from archiver.model import FolderState, MessageRecord, SnapshotInfo
from archiver.store import codec, dictionary
from archiver.store.damage import PackPresence, put_back_pack
from archiver.store.dictionary import ROLE_BLOB, Codecs
from archiver.store.ids import blob_hasher
from archiver.store.index import Index, encode_segment
from archiver.store.layout import Layout, pack_name
from archiver.store.lock import FileLock, account_lock_path, also_in, lock_account, lock_archive_shared
from archiver.store.manifest import build_tree, sorted_records
from archiver.store.pack import KIND_BLOB, KIND_PAGE, PackBuilder, PackEntry
from archiver.store.snapshot import SnapshotRecord, decode_snapshot, encode_snapshot


class WriterCore(Protocol):
    """What a writer needs of the archive it writes into, and no more (``Archive`` provides it): the paths,
    the compressors, the in-memory index it adds packs to, and the snapshots of its account."""

    @property
    def layout(self) -> Layout: ...

    @property
    def codecs(self) -> Codecs: ...

    @property
    def index(self) -> Index: ...

    format_version: int

    def refresh(self) -> None: ...

    def has_blob(self, blob_id: str) -> bool: ...

    def current_dict_id(self, role: int = ROLE_BLOB, refresh: bool = False) -> str | None: ...

    def snapshots(self, account: str | None = None) -> list[SnapshotInfo]: ...

    def remember_snapshot(self, record: SnapshotRecord) -> SnapshotRecord: ...

    @property
    def damaged_entries(self) -> set[str]:
        """Ids a read of this process found with no sound copy: ``commit`` stores such manifest pages
        again instead of taking them as present."""


PACK_TARGET = 16 * 1024 * 1024
BLOCK_TARGET = 1024 * 1024
"""A v2 block is sealed (compressed as one frame) once it holds this many message bytes."""
BIG = 256 * 1024
"""A message larger than this is a block of its own in a v2 pack (formats/pack.md)."""


def _has_password(url: str) -> bool:
    try:
        return urllib.parse.urlsplit(url).password is not None
    except ValueError:
        return False


class ArchiveWriter:
    """The one writer of one account; use as a context manager (``close`` flushes and unlocks)."""

    def __init__(self, core: WriterCore, account: str) -> None:
        self.core = core
        self.account = account
        layout = core.layout
        self._blob_id = blob_hasher(layout.backend)
        self._archive_lock: FileLock = also_in(lock_archive_shared(layout.locks), layout.backend, "archive",
                                               False)
        try:
            self._account_lock: FileLock = also_in(lock_account(layout.locks, account), layout.backend,
                                                   account_lock_path(layout.locks, account).stem, True)
        except BaseException:
            self._archive_lock.release()
            raise
        core.refresh()
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._seal_lock = threading.Lock()
        self._claimed: set[str] = set()
        self._inflight: set[str] = set()
        self._renew: set[str] = set()
        self._sealing = 0
        """Builders taken out of ``_open`` whose pack is not indexed yet (``_check_blobs`` waits for them)."""
        self._version = 2 if core.format_version >= 2 else 1
        self._open = PackBuilder(self._version)
        self._block: list[tuple[str, bytes]] = []
        self._block_bytes = 0
        self._unindexed: dict[str, list[PackEntry]] = {}
        self._buffer: list[tuple[str, bytes]] = []
        self._buffered = 0
        self._dict_id = core.current_dict_id()
        self._closed = False
        prior = core.snapshots(account)
        self._parent = prior[-1].id if prior else None

    # -- blobs ---------------------------------------------------------------------------------------

    def has_blob(self, blob_id: str) -> bool:
        """True when the blob is stored or accepted by this writer (flushed or not); False while another
        thread is still compressing it (its put_blob has not returned)."""
        with self._lock:
            if blob_id in self._claimed:
                return blob_id not in self._inflight
            if blob_id in self._renew:
                return False
        return self.core.has_blob(blob_id)

    def renew(self, blob_ids: Iterable[str]) -> None:
        """Store these blobs again when they are put, although the index names them: their copies are lost
        or damaged (``Archive.unusable_blobs``).  The new copy goes into a new pack (formats/index.md
        "Several copies"); readers fall back on it."""
        with self._lock:
            self._renew.update(blob_ids)

    def put_blob(self, data: bytes) -> str:
        """Store ``data`` once; return its blob id (SHA-256 of the bytes; keyed in an encrypted archive).

        When this returns, the blob is in this writer's open pack (or sealed): a record naming it may be
        committed.  A thread putting bytes that another thread is compressing right now waits for it.
        """
        blob_id = self._blob_id(data)
        taken: list[tuple[str, bytes]] | None = None  # a full v2 block this call compresses
        full: PackBuilder | None = None
        with self._lock:
            self._check_open()
            while blob_id in self._inflight:
                self._done.wait()
            stored = blob_id in self.core.index.blobs and blob_id not in self._renew
            if blob_id in self._claimed or stored:
                return blob_id
            self._claimed.add(blob_id)
            if self._dict_id is None and self._buffered < dictionary.TRAIN_BYTES:
                # no dictionary yet: keep raw bytes until there is enough mail to train one
                self._buffer.append((blob_id, data))
                self._buffered += len(data)
                if self._buffered < dictionary.TRAIN_BYTES:
                    return blob_id
                self._train_and_drain()  # compresses the buffer, this blob included
                full = self._take_full()
                alone = False
            elif self._version >= 2 and len(data) <= BIG:
                # a v2 block: kept raw until it is full, then compressed as one frame (outside the lock)
                taken = self._add_to_block(blob_id, data)
                if taken is None:
                    return blob_id
                self._inflight.update(b for b, _ in taken)
                alone = False
            else:
                alone = True
                self._inflight.add(blob_id)
            dict_id = self._dict_id
        if taken is not None:
            self._compress_block(taken, dict_id)
            with self._lock:
                full = self._take_full()
        if alone:
            try:
                frame = self.core.codecs.compress(data, dict_id)  # outside the lock
            except BaseException:
                with self._lock:
                    self._claimed.discard(blob_id)
                    self._inflight.discard(blob_id)
                    self._done.notify_all()
                raise
            with self._lock:
                self._open.add(KIND_BLOB, blob_id, frame, len(data), dict_id)
                self._inflight.discard(blob_id)
                self._done.notify_all()
                full = self._take_full()
        if full is not None:
            self._seal(full, taken=True)
        return blob_id

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError("this ArchiveWriter is closed")

    def _add_to_block(self, blob_id: str, data: bytes) -> list[tuple[str, bytes]] | None:
        """Append to the open block (under the lock); return the block when it is full (taken out)."""
        self._block.append((blob_id, data))
        self._block_bytes += len(data)
        if self._block_bytes < BLOCK_TARGET:
            return None
        block, self._block, self._block_bytes = self._block, [], 0
        return block

    def _compress_block(self, block: list[tuple[str, bytes]], dict_id: str | None) -> None:
        """Compress a taken block (its ids in ``_inflight``) and add it to the open pack."""
        try:
            frame = self.core.codecs.compress(b"".join(d for _, d in block), dict_id)
        except BaseException:
            with self._lock:
                for b, _ in block:
                    self._claimed.discard(b)
                    self._inflight.discard(b)
                self._done.notify_all()
            raise
        with self._lock:
            self._add_block(block, frame, dict_id)
            for b, _ in block:
                self._inflight.discard(b)
            self._done.notify_all()

    def _add_block(self, block: list[tuple[str, bytes]], frame: bytes, dict_id: str | None) -> None:
        members = []
        at = 0
        for b, d in block:
            members.append((KIND_BLOB, b, at, len(d)))
            at += len(d)
        self._open.add_block(frame, members, dict_id)

    def _seal_block(self) -> None:
        """Compress the open block into the open pack (under the lock: a flush)."""
        if self._block:
            block, self._block, self._block_bytes = self._block, [], 0
            frame = self.core.codecs.compress(b"".join(d for _, d in block), self._dict_id)
            self._add_block(block, frame, self._dict_id)

    def _take_full(self) -> PackBuilder | None:
        if self._open.size < PACK_TARGET:
            return None
        full, self._open = self._open, PackBuilder(self._version)
        self._sealing += 1
        return full

    def _train_and_drain(self) -> None:
        """Train the archive's dictionary on the buffered blobs (under the lock), then compress them."""
        self._dict_id = self._train(dictionary.ROLE_BLOB, [d for _, d in self._buffer])
        self._drain_buffer()

    def _train(self, role: int, samples: list[bytes]) -> str | None:
        """Store a dictionary of ``role`` trained on ``samples`` unless one exists; return the one to use."""
        if self.core.current_dict_id(role, refresh=True) is None:
            trained = dictionary.train(samples, role)
            if trained is not None:
                self.core.layout.backend.write_if_absent(f"dicts/{codec.sha256_hex(trained)}", trained)
        return self.core.current_dict_id(role, refresh=True)

    def _drain_buffer(self) -> None:
        for blob_id, data in self._buffer:
            if self._version >= 2 and len(data) <= BIG:
                block = self._add_to_block(blob_id, data)
                if block is not None:
                    self._add_block(block, self.core.codecs.compress(b"".join(d for _, d in block),
                                                                     self._dict_id), self._dict_id)
                continue
            frame = self.core.codecs.compress(data, self._dict_id)
            self._open.add(KIND_BLOB, blob_id, frame, len(data), self._dict_id)
        self._buffer = []

    def _seal(self, builder: PackBuilder, taken: bool = False) -> None:
        """Write one pack file (durable) and make its entries readable.  ``taken``: the builder was counted
        in ``_sealing`` when it left ``_open``."""
        try:
            self._seal_pack(builder)
        finally:
            if taken:
                with self._lock:
                    self._sealing -= 1
                    self._done.notify_all()

    def _seal_pack(self, builder: PackBuilder) -> None:
        data = builder.finish(self.core.codecs.data)
        pack_id = codec.sha256_hex(data)
        with self._seal_lock:
            damaged = self.core.damaged_entries
            renewed = [e.id for e in builder.entries if e.id in self._renew or e.id in damaged]
            if renewed:  # stored again: the pack may come out byte for byte like the damaged one it heals
                put_back_pack(self.core.layout, pack_id, data, renewed)
            else:
                self.core.layout.backend.write_if_absent(pack_name(pack_id), data)
            with self._lock:
                self._unindexed[pack_id] = builder.entries
                self.core.index.add_pack(pack_id, builder.entries)

    def _seal_open(self) -> None:
        with self._lock:
            if self._buffer:
                self._drain_buffer()
            self._seal_block()
            builder, self._open = self._open, PackBuilder(self._version)
            if len(builder):
                self._sealing += 1
        if len(builder):
            self._seal(builder, taken=True)

    def _write_index(self) -> None:
        with self._seal_lock, self._lock:
            packs, self._unindexed = self._unindexed, {}
        if packs:
            data = encode_segment(packs)
            name = codec.sha256_hex(data)
            self.core.layout.backend.write_if_absent(f"index/{name}", data)
            self.core.index.segments.add(name)

    def flush(self) -> None:
        """Seal the open pack and write an index segment: every blob put so far is durable."""
        self._check_open()
        self._seal_open()
        self._write_index()

    # -- snapshots -----------------------------------------------------------------------------------

    def commit(self, records: Iterable[MessageRecord], folders: Sequence[FolderState], *, source: str,
               time: dt.datetime | None = None, partial: bool = False,
               stats: Mapping[str, int] | None = None, key_seq: int = 0) -> SnapshotInfo:
        """Flush, write the manifest pages, then the snapshot record (the single commit point);
        ``key_seq``: the account's next ``n:`` key number (formats/snapshot.md)."""
        self._check_open()
        if _has_password(source):
            raise UsageError("the snapshot's source URL contains a password (never stored in an archive)")
        self._seal_open()
        ordered = sorted_records(records)
        self._check_blobs(ordered)
        root = self._write_pages(ordered)
        self._write_index()
        self._archive_lock.check()  # a lock lost in shared storage: stop before the commit point
        self._account_lock.check()
        when = time or dt.datetime.now(dt.UTC)
        data = encode_snapshot(account=self.account, time=when, message_count=len(ordered), source=source,
                               parent=self._parent, partial=partial, stats=dict(stats or {}),
                               folders=folders, root=root, key_seq=key_seq)
        snap_id = codec.sha256_hex(data)
        self.core.layout.backend.write_if_absent(f"snapshots/{snap_id}", data)
        self._parent = snap_id
        return self.core.remember_snapshot(decode_snapshot(data, snap_id)).info

    def _check_blobs(self, ordered: list[MessageRecord]) -> None:
        """IntegrityError unless every record's blob is in a sealed pack (a snapshot never references a
        blob that is not durable)."""
        blobs = self.core.index.blobs
        missing = [r for r in ordered if r.blob_id not in blobs]
        if missing:  # put by another thread after the pack was sealed, or in a pack another thread is
            # sealing right now: let those finish, seal again
            with self._lock:
                while self._sealing or any(r.blob_id in self._inflight for r in missing):
                    self._done.wait()
            self._seal_open()
            missing = [r for r in missing if r.blob_id not in blobs]
        if missing:
            raise IntegrityError(f"message {missing[0].key} references blob {missing[0].blob_id[:12]}, "
                                 f"which is not stored ({len(missing)} such messages)")

    def _write_pages(self, ordered: list[MessageRecord]) -> str | None:
        """Store the manifest pages the archive does not have yet (in page packs); return the root id."""
        pages = PackBuilder(self._version)
        known = self.core.index.pages
        damaged = self.core.damaged_entries  # stored again, so that the new snapshot reads whole
        written: set[str] = set()
        page_dict = self.core.current_dict_id(dictionary.ROLE_PAGE)
        waiting: list[tuple[str, bytes]] | None = [] if page_dict is None else None

        def add(page_id: str, raw: bytes) -> None:
            nonlocal pages
            pages.add(KIND_PAGE, page_id, self.core.codecs.compress(raw, page_dict), len(raw), page_dict)
            if pages.size >= PACK_TARGET:
                self._seal(pages)
                pages = PackBuilder(self._version)

        presence = PackPresence(self.core.layout)

        def stored(page_id: str) -> bool:
            """Stored, in a pack that is there (a lost page pack is written again, not built on), and not
            found damaged by a read of this process (``damaged_entries``)."""
            return page_id in known and page_id not in damaged and any(
                presence.problem(loc) is None for loc in (known[page_id], *known.others(page_id)))

        def emit(page_id: str, raw: bytes) -> None:
            nonlocal waiting, page_dict
            if page_id in written or stored(page_id):
                return
            written.add(page_id)
            if waiting is None:
                add(page_id, raw)
                return
            waiting.append((page_id, raw))
            if len(waiting) >= dictionary.PAGE_TRAIN_PAGES:  # enough pages to train the page dictionary
                page_dict = self._train(dictionary.ROLE_PAGE, [r for _, r in waiting])
                flush, waiting = waiting, None
                for item in flush:
                    add(*item)

        root = build_tree(ordered, emit)
        for item in waiting or ():
            add(*item)
        if len(pages):
            self._seal(pages)
        return root

    # -- lifetime ------------------------------------------------------------------------------------

    def close(self) -> None:
        """Flush and release the locks (idempotent)."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._account_lock.release()
            self._archive_lock.release()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc is None:
            self.close()
            return
        with contextlib.suppress(Exception):  # the original error matters more
            self.close()
