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
from typing import TYPE_CHECKING

from archiver.errors import IntegrityError, UsageError
from archiver.model import FolderState, MessageRecord, SnapshotInfo
from archiver.store import codec, dictionary
from archiver.store.fsutil import write_atomic, write_named
from archiver.store.index import encode_segment
from archiver.store.lock import FileLock, lock_account, lock_archive_shared
from archiver.store.manifest import build_tree, sorted_records
from archiver.store.pack import KIND_BLOB, KIND_PAGE, PackBuilder, PackEntry
from archiver.store.snapshot import decode_snapshot, encode_snapshot

if TYPE_CHECKING:
    from archiver.store.archive import Archive

PACK_TARGET = 16 * 1024 * 1024


def _has_password(url: str) -> bool:
    try:
        return urllib.parse.urlsplit(url).password is not None
    except ValueError:
        return False


class ArchiveWriter:
    """The one writer of one account; use as a context manager (``close`` flushes and unlocks)."""

    def __init__(self, archive: Archive, account: str) -> None:
        self.archive = archive
        self.account = account
        layout = archive.layout
        self._archive_lock: FileLock = lock_archive_shared(layout.locks)
        try:
            self._account_lock: FileLock = lock_account(layout.locks, account)
        except BaseException:
            self._archive_lock.release()
            raise
        archive.refresh()
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._seal_lock = threading.Lock()
        self._claimed: set[str] = set()
        self._inflight: set[str] = set()
        self._open = PackBuilder()
        self._unindexed: dict[str, list[PackEntry]] = {}
        self._buffer: list[tuple[str, bytes]] = []
        self._buffered = 0
        self._dict_id = archive.current_dict_id()
        self._closed = False
        prior = archive.snapshots(account)
        self._parent = prior[-1].id if prior else None

    # -- blobs ---------------------------------------------------------------------------------------

    def has_blob(self, blob_id: str) -> bool:
        """True when the blob is stored or accepted by this writer (flushed or not); False while another
        thread is still compressing it (its put_blob has not returned)."""
        with self._lock:
            if blob_id in self._claimed:
                return blob_id not in self._inflight
        return self.archive.has_blob(blob_id)

    def put_blob(self, data: bytes) -> str:
        """Store ``data`` once; return its blob id (SHA-256 of the bytes).

        When this returns, the blob is in this writer's open pack (or sealed): a record naming it may be
        committed.  A thread putting bytes that another thread is compressing right now waits for it.
        """
        blob_id = codec.sha256_hex(data)
        with self._lock:
            self._check_open()
            while blob_id in self._inflight:
                self._done.wait()
            if blob_id in self._claimed or blob_id in self.archive.index.blobs:
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
                drained = True
            else:
                full = None
                drained = False
                self._inflight.add(blob_id)
            dict_id = self._dict_id
        if not drained:
            try:
                frame = self.archive.codecs.compress(data, dict_id)  # outside the lock
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
            self._seal(full)
        return blob_id

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError("this ArchiveWriter is closed")

    def _take_full(self) -> PackBuilder | None:
        if self._open.size < PACK_TARGET:
            return None
        full, self._open = self._open, PackBuilder()
        return full

    def _train_and_drain(self) -> None:
        """Train the archive's dictionary on the buffered blobs (under the lock), then compress them."""
        self._dict_id = self._train(dictionary.ROLE_BLOB, [d for _, d in self._buffer])
        self._drain_buffer()

    def _train(self, role: int, samples: list[bytes]) -> str | None:
        """Store a dictionary of ``role`` trained on ``samples`` unless one exists; return the one to use."""
        if self.archive.current_dict_id(role, refresh=True) is None:
            trained = dictionary.train(samples, role)
            if trained is not None:
                write_atomic(self.archive.layout.dicts / codec.sha256_hex(trained), trained,
                             self.archive.layout.tmp)
        return self.archive.current_dict_id(role, refresh=True)

    def _drain_buffer(self) -> None:
        for blob_id, data in self._buffer:
            frame = self.archive.codecs.compress(data, self._dict_id)
            self._open.add(KIND_BLOB, blob_id, frame, len(data), self._dict_id)
        self._buffer = []

    def _seal(self, builder: PackBuilder) -> None:
        """Write one pack file (durable) and make its entries readable."""
        data = builder.finish()
        pack_id = codec.sha256_hex(data)
        with self._seal_lock:
            write_named(self.archive.layout.packs, pack_id, data, self.archive.layout.tmp, fanout=True)
            with self._lock:
                self._unindexed[pack_id] = builder.entries
                self.archive.index.add_pack(pack_id, builder.entries)

    def _seal_open(self) -> None:
        with self._lock:
            if self._buffer:
                self._drain_buffer()
            builder, self._open = self._open, PackBuilder()
        if len(builder):
            self._seal(builder)

    def _write_index(self) -> None:
        with self._seal_lock, self._lock:
            packs, self._unindexed = self._unindexed, {}
        if packs:
            data = encode_segment(packs)
            name = codec.sha256_hex(data)
            write_named(self.archive.layout.index, name, data, self.archive.layout.tmp)
            self.archive.index.segments.add(name)

    def flush(self) -> None:
        """Seal the open pack and write an index segment: every blob put so far is durable."""
        self._check_open()
        self._seal_open()
        self._write_index()

    # -- snapshots -----------------------------------------------------------------------------------

    def commit(self, records: Iterable[MessageRecord], folders: Sequence[FolderState], *, source: str,
               time: dt.datetime | None = None, partial: bool = False,
               stats: Mapping[str, int] | None = None) -> SnapshotInfo:
        """Flush, write the manifest pages, then the snapshot record (the single commit point)."""
        self._check_open()
        if _has_password(source):
            raise UsageError("the snapshot's source URL contains a password (never stored in an archive)")
        self._seal_open()
        ordered = sorted_records(records)
        self._check_blobs(ordered)
        root = self._write_pages(ordered)
        self._write_index()
        when = time or dt.datetime.now(dt.UTC)
        data = encode_snapshot(account=self.account, time=when, message_count=len(ordered), source=source,
                               parent=self._parent, partial=partial, stats=dict(stats or {}),
                               folders=folders, root=root)
        snap_id = codec.sha256_hex(data)
        write_named(self.archive.layout.snapshots, snap_id, data, self.archive.layout.tmp)
        self._parent = snap_id
        return self.archive.remember_snapshot(decode_snapshot(data, snap_id)).info

    def _check_blobs(self, ordered: list[MessageRecord]) -> None:
        """IntegrityError unless every record's blob is in a sealed pack (a snapshot never references a
        blob that is not durable)."""
        blobs = self.archive.index.blobs
        missing = [r for r in ordered if r.blob_id not in blobs]
        if missing:  # put by another thread after the pack was sealed: let it finish, seal again
            with self._lock:
                while any(r.blob_id in self._inflight for r in missing):
                    self._done.wait()
            self._seal_open()
            missing = [r for r in missing if r.blob_id not in blobs]
        if missing:
            raise IntegrityError(f"message {missing[0].key} references blob {missing[0].blob_id[:12]}, "
                                 f"which is not stored ({len(missing)} such messages)")

    def _write_pages(self, ordered: list[MessageRecord]) -> str | None:
        """Store the manifest pages the archive does not have yet (in page packs); return the root id."""
        pages = PackBuilder()
        known = self.archive.index.pages
        damaged = self.archive.damaged_entries  # stored again, so that the new snapshot reads whole
        written: set[str] = set()
        page_dict = self.archive.current_dict_id(dictionary.ROLE_PAGE)
        waiting: list[tuple[str, bytes]] | None = [] if page_dict is None else None

        def add(page_id: str, raw: bytes) -> None:
            nonlocal pages
            pages.add(KIND_PAGE, page_id, self.archive.codecs.compress(raw, page_dict), len(raw), page_dict)
            if pages.size >= PACK_TARGET:
                self._seal(pages)
                pages = PackBuilder()

        def emit(page_id: str, raw: bytes) -> None:
            nonlocal waiting, page_dict
            if (page_id in known and page_id not in damaged) or page_id in written:
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
