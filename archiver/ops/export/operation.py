"""Export a snapshot (or a filtered part of it) to mbox, Maildir or one .eml per message.

Blobs are read with ``Archive.iter_blobs`` in pack order and written one at a time, so bodies never pile up
in memory.  The selected records are taken from the manifest a chunk at a time (``CHUNK`` records, in key
order), grouped by blob, and each chunk's bodies are read in pack order: memory stays flat however big the
snapshot, and no record is looked up again by key as its body comes (that decodes a manifest page per
message when pack order is not key order, as with the ``h:<blob>`` keys of non-Gmail accounts: 4.1 s ->
1.5 s for 50,000 messages; benchmarks/README.md).  For a Maildir, a first pass over the manifest counts the
selection and gathers its labels (folder names are chosen up front).  The store checks every blob against
its hash as it reads it: a damaged or missing blob is skipped and reported in ``ExportResult.skipped``
(with the messages it affects) rather than aborting.
"""

from __future__ import annotations

import collections
import datetime as _dt
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from archiver.errors import UsageError
from archiver.filters import MessageFilter
from archiver.model import MessageRecord, SnapshotInfo
from archiver.ops.export.formats import EmlWriter, MaildirWriter, MboxWriter, Writer
from archiver.ops.export.output import check_output
from archiver.progress import NullProgress, Progress
from archiver.store import Archive

FORMATS = ("mbox", "maildir", "eml")


@dataclass(frozen=True, slots=True)
class ExportProblem:
    """A message that was not exported, and why."""

    key: str
    message_id: str | None
    blob_id: str
    reason: str


@dataclass(slots=True)
class ExportResult:
    """What an export wrote."""

    format: str
    output: Path
    """The file or folder written; ``Path("-")`` for a stream."""
    snapshot: SnapshotInfo
    selected: int = 0
    """Messages matching the filters."""
    messages: int = 0
    """Messages written."""
    files: int = 0
    """Files (Maildir: one per label folder) or mbox entries written."""
    bytes: int = 0
    """Message bytes read from the archive."""
    shortened_folders: dict[str, str] = field(default_factory=dict)
    """Maildir: labels whose folder name exceeded 255 bytes -> the shortened folder (relative path)."""
    skipped: list[ExportProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """E.g. a ``--label`` the snapshot does not have (the export goes on; the exit code is unchanged)."""

    @property
    def complete(self) -> bool:
        return not self.skipped


@dataclass(slots=True)
class _Selection:
    """What the filters keep, counted in a first pass: how many messages, every label used (Maildir folder
    names are chosen up front) and whether any message has none."""

    labels: set[str] = field(default_factory=set)
    count: int = 0
    unlabelled: bool = False


def _select(records: Iterator[MessageRecord], where: MessageFilter, seen_labels: set[str]) -> _Selection:
    """Count what the filter keeps in one pass over the manifest, holding no record (every label read goes
    into ``seen_labels``)."""
    sel = _Selection()
    for r in where.apply(records, seen_labels):
        sel.labels.update(r.labels)
        sel.unlabelled = sel.unlabelled or not r.labels
        sel.count += 1
    return sel


CHUNK = 20_000
"""Records whose bodies are read and written together (in pack order) before the next are taken."""


def _chunks(records: Iterator[MessageRecord], size: int) -> Iterator[dict[str, list[MessageRecord]]]:
    """The records, ``size`` at a time, grouped by blob (each blob's records in key order)."""
    chunk: dict[str, list[MessageRecord]] = {}
    n = 0
    for r in records:
        chunk.setdefault(r.blob_id, []).append(r)
        n += 1
        if n == size:
            yield chunk
            chunk, n = {}, 0
    if chunk:
        yield chunk


PREFETCH_BYTES = 32 * 1024 * 1024
"""Bodies read ahead (decompressed and checked by the store on a second thread) while the current one is
written."""


class _ReadAhead:
    """Runs a (blob id, bytes) iterator on a background thread, at most ``budget`` bytes ahead of the
    consumer; an exception of the iterator is raised to the consumer where it happened."""

    def __init__(self, items: Iterator[tuple[str, bytes]], budget: int = PREFETCH_BYTES) -> None:
        self._items = items
        self._budget = budget
        self._queue: collections.deque[tuple[str, bytes]] = collections.deque()
        self._held = 0
        self._done = False
        self._error: BaseException | None = None
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="export-read-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for blob_id, data in self._items:
                with self._cond:
                    while self._held and self._held + len(data) > self._budget and not self._stop:
                        self._cond.wait()
                    if self._stop:
                        return
                    self._queue.append((blob_id, data))
                    self._held += len(data)
                    self._cond.notify_all()
        except BaseException as exc:  # handed to the consumer
            with self._cond:
                self._error = exc
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._done:
                        self._cond.wait()
                    if self._queue:
                        item = self._queue.popleft()
                        self._held -= len(item[1])
                        self._cond.notify_all()
                    elif self._error is not None:
                        raise self._error
                    else:
                        return
                yield item
        finally:
            with self._cond:
                self._stop = True
                self._cond.notify_all()
            self._thread.join()


def _blobs(archive: Archive, blob_ids: list[str], problems: dict[str, str]) -> Iterator[tuple[str, bytes]]:
    """(blob id, bytes) in pack order, read ahead on a second thread; a blob the store cannot read
    (missing, or bytes not matching its hash: ``Archive.iter_blobs`` checks) is left out and recorded in
    ``problems``."""
    damaged: dict[str, str] = {}
    try:
        yield from _ReadAhead(archive.iter_blobs(blob_ids, damaged))
    finally:  # the read-ahead thread has stopped: ``damaged`` is complete
        problems.update((blob_id, f"unreadable: {why}") for blob_id, why in damaged.items())


def export(archive: Archive, snapshot: str, fmt: str, output: str | os.PathLike[str] | BinaryIO, *,
           labels: Sequence[str] | None = None, since: _dt.datetime | None = None,
           until: _dt.datetime | None = None, extra_headers: bool = True, overwrite: bool = False,
           account: str | None = None, keys: Iterable[str] | None = None,
           progress: Progress | None = None) -> ExportResult:
    """Export snapshot ``snapshot`` (``latest``, id prefix, or time) as ``fmt`` (mbox, maildir, eml).

    ``labels``, ``since``, ``until`` and ``keys`` (the keys a search query chose) narrow the messages.
    ``extra_headers`` (mbox only) prepends ``X-GM-THRID`` and ``X-Gmail-Labels`` to each exported copy;
    without them the mbox holds the exact stored bytes (mboxrd-quoted).  ``output`` is a path, or for mbox
    a writable binary stream (the CLI's ``-o -``).  Only regular files and folders the export creates are
    written, never through a symbolic link (output.py); files are 0600, created folders 0700.
    UsageError for an unknown format, a non-empty output without ``overwrite``, an output that is a link,
    device, FIFO or socket, or a link inside an output folder.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}", hint="one of: " + ", ".join(FORMATS))
    stream: BinaryIO | None = None
    if isinstance(output, (str, os.PathLike)):
        out = Path(output)
    elif fmt != "mbox":
        raise UsageError(f"{fmt} export writes a folder, not a stream", hint="name a folder with -o")
    else:
        stream, out = output, Path("-")
    progress = progress or NullProgress()
    where = MessageFilter.of(labels, since, until, account, keys)
    info = archive.resolve(snapshot, where.account)
    snap = archive.load(info.id)
    seen: set[str] = set()
    sel = _select(iter(snap), where, set()) if fmt == "maildir" else None
    if stream is None:
        check_output(fmt, out, overwrite)
    result = ExportResult(format=fmt, output=out, snapshot=info)
    narrowed = bool(where.labels) or any(v is not None for v in (where.since, where.until, where.keys))
    total = sel.count if sel is not None else None if narrowed else info.message_count

    writer: Writer
    if fmt == "mbox":
        writer = MboxWriter(stream if stream is not None else out, extra_headers)
    elif sel is not None:
        writer = maildir = MaildirWriter(out, sel.labels, sel.unlabelled)
        result.shortened_folders = maildir.shortened
    else:
        writer = EmlWriter(out)
    progress.start("export", total=total, unit="msg")
    ok = False
    try:
        for by_blob in _chunks(where.apply(iter(snap), seen), CHUNK):
            result.selected += sum(len(records) for records in by_blob.values())
            problems: dict[str, str] = {}
            present = []
            for blob_id in by_blob:
                if archive.has_blob(blob_id):
                    present.append(blob_id)
                else:
                    problems[blob_id] = "missing from the archive"
            for blob_id, data in _blobs(archive, present, problems):
                records = by_blob[blob_id]
                n = len(records)
                result.files += writer.write(records, data)
                result.messages += n
                result.bytes += len(data)
                progress.advance(n, len(data))
            for blob_id, reason in sorted(problems.items()):
                for r in by_blob[blob_id]:
                    result.skipped.append(ExportProblem(r.key, r.message_id, blob_id, reason))
                    progress.advance(1)
        ok = True
    finally:
        writer.close(ok)
        progress.finish()
    result.warnings = where.warnings(seen)
    for problem in result.skipped:
        progress.note(f"skipped {problem.key} {problem.message_id or ''}: {problem.reason}")
    return result
