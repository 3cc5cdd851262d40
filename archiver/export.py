"""Export a snapshot (or a filtered part of it) to mbox, Maildir or one .eml per message.

Blobs are read with ``Archive.iter_blobs`` in pack order, so memory stays constant whatever the archive's
size.  Every blob is re-hashed before it is written: a damaged or missing blob is skipped and reported in
``ExportResult.skipped`` (with the messages it affects) rather than aborting the export.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from archiver.errors import ArchiverError, UsageError
from archiver.export_formats import EmlWriter, MaildirWriter, MboxWriter, Writer
from archiver.model import MessageRecord, SnapshotInfo
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
    snapshot: SnapshotInfo
    selected: int = 0
    """Messages matching the filters."""
    messages: int = 0
    """Messages written."""
    files: int = 0
    """Files (Maildir: one per label folder) or mbox entries written."""
    bytes: int = 0
    """Message bytes read from the archive."""
    skipped: list[ExportProblem] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.skipped


def _select(records: Iterator[MessageRecord], labels: Sequence[str] | None, since: _dt.datetime | None,
            until: _dt.datetime | None) -> dict[str, list[MessageRecord]]:
    """blob id -> the selected records referencing it (labels: any of; since inclusive, until exclusive)."""
    wanted = set(labels) if labels else None
    lo = since.timestamp() if since else None
    hi = until.timestamp() if until else None
    by_blob: dict[str, list[MessageRecord]] = {}
    for r in records:
        if wanted is not None and not wanted.intersection(r.labels):
            continue
        if (lo is not None and r.internaldate < lo) or (hi is not None and r.internaldate >= hi):
            continue
        by_blob.setdefault(r.blob_id, []).append(r)
    return by_blob


def _check_output(fmt: str, output: Path, overwrite: bool) -> None:
    if fmt == "mbox":
        if output.is_dir() or (output.exists() and output.stat().st_size and not overwrite):
            raise UsageError(f"{output} exists and is not empty", hint="pass --overwrite to replace it")
        if not output.parent.is_dir():
            raise UsageError(f"no directory {output.parent}")
        return
    if output.exists() and not output.is_dir():
        raise UsageError(f"{output} is not a directory")
    if output.exists() and any(output.iterdir()) and not overwrite:
        raise UsageError(f"{output} is not empty", hint="pass --overwrite to write into it anyway")
    output.mkdir(parents=True, exist_ok=True)


def _blobs(archive: Archive, blob_ids: list[str], problems: dict[str, str]) -> Iterator[tuple[str, bytes]]:
    """Stream blobs in pack order; on a read error fall back to one-by-one reads of what is left."""
    done: set[str] = set()
    try:
        for blob_id, data in archive.iter_blobs(blob_ids):
            done.add(blob_id)
            yield blob_id, data
        return
    except (ArchiverError, OSError, KeyError, ValueError):
        pass
    for blob_id in blob_ids:
        if blob_id in done:
            continue
        try:
            data = archive.get_blob(blob_id)
        except (ArchiverError, OSError, KeyError, ValueError) as exc:
            problems[blob_id] = f"unreadable: {type(exc).__name__}: {exc}"
            continue
        yield blob_id, data


def export(archive: Archive, snapshot: str, fmt: str, output: str | os.PathLike[str], *,
           labels: Sequence[str] | None = None, since: _dt.datetime | None = None,
           until: _dt.datetime | None = None, extra_headers: bool = True, overwrite: bool = False,
           account: str | None = None, progress: Progress | None = None) -> ExportResult:
    """Export snapshot ``snapshot`` (``latest``, id prefix, or time) as ``fmt`` (mbox, maildir, eml).

    ``extra_headers`` (mbox only) prepends ``X-GM-THRID`` and ``X-Gmail-Labels`` to each exported copy;
    without them the mbox holds the exact stored bytes (mboxrd-quoted).  UsageError for an unknown format
    or a non-empty output without ``overwrite``.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}", hint="one of: " + ", ".join(FORMATS))
    progress = progress or NullProgress()
    out = Path(output)
    info = archive.resolve(snapshot, account)
    snap = archive.load(info.id)
    by_blob = _select(iter(snap), labels, since, until)
    _check_output(fmt, out, overwrite)
    result = ExportResult(format=fmt, output=out, snapshot=info,
                          selected=sum(len(v) for v in by_blob.values()))
    problems: dict[str, str] = {}
    present = []
    for blob_id in by_blob:
        if archive.has_blob(blob_id):
            present.append(blob_id)
        else:
            problems[blob_id] = "missing from the archive"
    writer: Writer
    if fmt == "mbox":
        writer = MboxWriter(out, extra_headers)
    elif fmt == "maildir":
        writer = MaildirWriter(out, {label for rs in by_blob.values() for r in rs for label in r.labels})
    else:
        writer = EmlWriter(out)
    progress.start("export", total=result.selected, unit="msg")
    ok = False
    try:
        for blob_id, data in _blobs(archive, present, problems):
            records = by_blob[blob_id]
            if hashlib.sha256(data).hexdigest() != blob_id:
                problems[blob_id] = "damaged: bytes do not match their hash"
                progress.advance(len(records))
                continue
            result.files += writer.write(records, data)
            result.messages += len(records)
            result.bytes += len(data)
            progress.advance(len(records), len(data))
        ok = True
    finally:
        writer.close(ok)
        progress.finish()
    for blob_id, reason in sorted(problems.items()):
        for r in by_blob[blob_id]:
            result.skipped.append(ExportProblem(r.key, r.message_id, blob_id, reason))
            progress.note(f"skipped {r.key} {r.message_id or ''}: {reason}")
    return result
