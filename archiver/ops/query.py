"""Read-only views of an archive: the "Gmail mailbox" classes of the library API.

``open_archive(path)`` gives an :class:`ArchiveView`; ``view.snapshot("latest")`` a :class:`SnapshotView`, a
mailbox frozen at one point in time: iterate its messages, look one up by key, list a label, follow a
thread, read the raw bytes, and diff two snapshots.  Nothing here writes to the archive.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from archiver.filters import MessageFilter
from archiver.model import MessageRecord, SnapshotInfo
from archiver.store import Archive, Snapshot


@dataclass(frozen=True, slots=True)
class Change:
    """One message present in both snapshots whose labels or flags differ."""

    key: str
    before: MessageRecord
    after: MessageRecord


@dataclass(frozen=True, slots=True)
class SnapshotDiff:
    """What changed from snapshot ``a`` to snapshot ``b`` (messages matched by key)."""

    a: SnapshotInfo
    b: SnapshotInfo
    added: tuple[MessageRecord, ...]
    removed: tuple[MessageRecord, ...]
    relabelled: tuple[Change, ...]
    reflagged: tuple[Change, ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.relabelled or self.reflagged)


class SnapshotView:
    """One snapshot of one account, read-only; messages sorted by key."""

    def __init__(self, archive: Archive, snapshot: Snapshot) -> None:
        self._archive = archive
        self._snapshot = snapshot
        self._threads: dict[str, list[MessageRecord]] | None = None

    @property
    def info(self) -> SnapshotInfo:
        return self._snapshot.info

    def __iter__(self) -> Iterator[MessageRecord]:
        return iter(self._snapshot)

    def __len__(self) -> int:
        return len(self._snapshot)

    def __repr__(self) -> str:
        return f"<SnapshotView {self.info.short_id} {self.info.account} {len(self)} messages>"

    def get(self, key: str) -> MessageRecord | None:
        """The message with this key (``gm:<msgid>``, ``h:<blob id>``...), or None."""
        return self._snapshot.get(key)

    def labels(self) -> list[str]:
        """Every label used in this snapshot, sorted."""
        return sorted({label for m in self for label in m.labels})

    def labels_of(self, message: MessageRecord | str) -> tuple[str, ...]:
        return self._record(message).labels

    def messages(self, where: MessageFilter | None = None) -> list[MessageRecord]:
        """The messages ``where`` keeps (all without one), by key: the filter of ls, export and restore."""
        return list(self) if where is None else list(where.apply(self))

    def by_label(self, label: str) -> list[MessageRecord]:
        """Messages carrying ``label``, matched as ``ls --label`` matches (``labels.label_matches``): a system
        label also by its Takeout name in any case (``Inbox`` finds ``\\Inbox``), user labels exactly."""
        return self.messages(MessageFilter(labels=(label,)))

    def thread_of(self, message: MessageRecord | str) -> list[MessageRecord]:
        """Every message of the message's thread in this snapshot, oldest first."""
        if self._threads is None:
            threads: dict[str, list[MessageRecord]] = {}
            for m in self:
                threads.setdefault(m.thread_id, []).append(m)
            for members in threads.values():
                members.sort(key=lambda r: (r.internaldate, r.key))
            self._threads = threads
        return list(self._threads.get(self._record(message).thread_id, []))

    def raw(self, message: MessageRecord | str) -> bytes:
        """The exact bytes the server served (IntegrityError if the stored copy is damaged)."""
        return self._archive.get_blob(self._record(message).blob_id)

    def iter_raw(self, messages: Iterable[MessageRecord] | None = None
                 ) -> Iterator[tuple[MessageRecord, bytes]]:
        """(message, bytes) for many messages, read in pack order (fast, sequential)."""
        by_blob: dict[str, list[MessageRecord]] = {}
        for m in self if messages is None else messages:
            by_blob.setdefault(m.blob_id, []).append(m)
        for blob_id, data in self._archive.iter_blobs(list(by_blob)):
            for m in by_blob[blob_id]:
                yield m, data

    def diff(self, other: SnapshotView) -> SnapshotDiff:
        """Changes from this snapshot to ``other``."""
        return diff_snapshots(self, other)

    def _record(self, message: MessageRecord | str) -> MessageRecord:
        if isinstance(message, MessageRecord):
            return message
        found = self.get(message)
        if found is None:
            raise KeyError(message)
        return found


class ArchiveView:
    """An archive opened for reading (never blocked by a running backup)."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    @property
    def path(self) -> os.PathLike[str]:
        return self.archive.path

    def snapshots(self, account: str | None = None) -> list[SnapshotInfo]:
        """Every snapshot, oldest first, checkpoints included (``info.partial``)."""
        return self.archive.snapshots(account)

    def snapshot(self, spec: str = "latest", account: str | None = None) -> SnapshotView:
        """``latest``, an id prefix (>= 4 hex digits) or an ISO time (the newest at or before it)."""
        info = self.archive.resolve(spec, account)
        return SnapshotView(self.archive, self.archive.load(info.id))

    def diff(self, a: str, b: str, account: str | None = None) -> SnapshotDiff:
        return diff_snapshots(self.snapshot(a, account), self.snapshot(b, account))


def open_archive(path: str | os.PathLike[str]) -> ArchiveView:
    """Open an existing archive read-only (ArchiveNotFound, UnsupportedVersion, FormatError)."""
    return ArchiveView(Archive.open(path))


def diff_snapshots(a: SnapshotView, b: SnapshotView) -> SnapshotDiff:
    """Messages added, removed, relabelled and reflagged between two snapshots (one merge pass by key)."""
    added: list[MessageRecord] = []
    removed: list[MessageRecord] = []
    relabelled: list[Change] = []
    reflagged: list[Change] = []
    ia, ib = iter(a), iter(b)
    ra, rb = next(ia, None), next(ib, None)
    while ra is not None or rb is not None:
        if rb is None or (ra is not None and ra.key < rb.key):
            assert ra is not None
            removed.append(ra)
            ra = next(ia, None)
        elif ra is None or rb.key < ra.key:
            added.append(rb)
            rb = next(ib, None)
        else:
            if ra.labels != rb.labels:
                relabelled.append(Change(ra.key, ra, rb))
            if ra.flags != rb.flags:
                reflagged.append(Change(ra.key, ra, rb))
            ra, rb = next(ia, None), next(ib, None)
    return SnapshotDiff(a.info, b.info, tuple(added), tuple(removed), tuple(relabelled), tuple(reflagged))
