"""How the CLI shows things: the one writer of ``--json`` documents (results and errors alike), the shapes
of those documents (one function per result type, shared by the commands that show the same thing), and
the progress bars on a terminal (tqdm on stderr, nothing when stderr is not a TTY unless asked)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the library's layers load when a command first uses them
    from tqdm import tqdm

    from archiver import (
        ArchiveStats,
        BackupResult,
        Change,
        ExportResult,
        ExtractResult,
        ForgetResult,
        IndexRepair,
        MessageRecord,
        PruneResult,
        SearchHit,
        SearchResult,
        SnapshotInfo,
        Summary,
        VerifyReport,
    )

_emitted = 0
"""How many JSON documents this invocation printed (the exit path prints no second one after an error)."""


def _jsonable(value: Any) -> Any:
    """What ``json`` cannot encode by itself: times as ISO 8601, paths as text, dataclasses as objects,
    enums by value, sets sorted."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def emit_json(document: Any) -> None:
    """Print one ``--json`` document on stdout: indented, keys sorted, one encoding for every command."""
    global _emitted
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=_jsonable) + "\n")
    sys.stdout.flush()
    _emitted += 1


def emit_json_stream(document: dict[str, Any], key: str, items: Iterable[Any]) -> int:
    """``emit_json`` of ``document`` with ``document[key]`` the list of ``items``, written element by element:
    the same text, with one element in memory at a time (``ls --json`` of a big snapshot).  Returns the
    number of elements written.  Counted as emitted from its first byte: a failure mid-way is reported on
    stderr (and by the exit code) rather than by a second document after the cut one."""
    global _emitted
    marker = "\x00stream\x00"
    head, tail = json.dumps({**document, key: marker}, indent=2, sort_keys=True,
                            default=_jsonable).split(json.dumps(marker))
    line = head.rsplit("\n", 1)[-1]  # '  "key": '
    indent = "\n" + " " * (len(line) - len(line.lstrip(" ")))
    inner = indent + "  "
    out = sys.stdout
    out.write(head + "[")
    _emitted += 1
    count = 0
    for item in items:
        text = json.dumps(item, indent=2, sort_keys=True, default=_jsonable)
        out.write(("," if count else "") + inner + text.replace("\n", inner))
        count += 1
    out.write((indent + "]" if count else "]") + tail + "\n")
    out.flush()
    return count


def error_document(kind: str, message: str, hint: str | None, exit_code: int) -> dict[str, Any]:
    """The ``--json`` document of a failed command: ``{"error": {type, message, hint, exit_code}}``."""
    return {"error": {"type": kind, "message": message, "hint": hint, "exit_code": exit_code}}


def json_emitted() -> bool:
    """True once this invocation printed a ``--json`` document."""
    return _emitted > 0


def reset() -> None:
    """A new invocation starts (the test runner invokes many in one process)."""
    global _emitted
    _emitted = 0


# -- the shapes of the documents (one per result type, shared where commands show the same thing) ---------
def snapshot_json(info: SnapshotInfo) -> dict[str, Any]:
    """The JSON shape of one snapshot (shared by snapshots, ls, diff)."""
    return {"id": info.id, "short_id": info.short_id, "account": info.account, "time": info.time.isoformat(),
            "message_count": info.message_count, "partial": info.partial, "parent": info.parent,
            "source": info.source, "stats": dict(info.stats)}


def message_json(m: MessageRecord, summary: Summary | None = None) -> dict[str, Any]:
    """The JSON shape of one message (shared by ls and diff; ls adds from and subject)."""
    doc = {"key": m.key, "labels": list(m.labels), "thread_id": m.thread_id, "flags": list(m.flags),
           "date": m.date.isoformat(), "size": m.size, "message_id": m.message_id, "blob_id": m.blob_id}
    if summary is not None:
        doc["from"], doc["subject"] = summary.sender, summary.subject
    return doc


def change_json(c: Change, attr: str) -> dict[str, Any]:
    """One relabelled or reflagged message of ``diff --json``."""
    return {"key": c.key, "message_id": c.after.message_id, "before": list(getattr(c.before, attr)),
            "after": list(getattr(c.after, attr))}


def prune_json(p: PruneResult | None) -> dict[str, Any] | None:
    """``prune --json``, and the ``prune`` key of ``forget --json``."""
    if p is None:
        return None
    return {"dry_run": p.dry_run, "packs_deleted": p.packs_deleted, "packs_repacked": p.packs_repacked,
            "packs_written": p.packs_written, "entries_removed": p.entries_removed,
            "bytes_before": p.bytes_before, "bytes_after": p.bytes_after}


def backup_json(r: BackupResult) -> dict[str, Any]:
    """``backup --json`` (keys listed in its help)."""
    return {
        "snapshot": r.snapshot, "account": r.account, "mode": r.mode, "messages": r.messages, "new": r.new,
        "changed": r.changed, "deleted": r.deleted, "bytes_downloaded": r.bytes_downloaded,
        "bytes_stored": r.bytes_stored, "duration_s": round(r.duration, 3), "complete": r.complete,
        "checkpoints": r.checkpoints, "healed": r.healed,
        "problems": [{"folder": p.folder, "uids": list(p.uids), "reason": p.reason} for p in r.problems],
        "warnings": list(r.warnings),
    }


def verify_json(r: VerifyReport, fixed: IndexRepair | None = None) -> dict[str, Any]:
    """``verify --json``; with ``--repair-index`` also ``index_repair``."""
    doc: dict[str, Any] = {
        "ok": r.ok, "read_data": r.read_data, "subset": f"{r.subset[0]}/{r.subset[1]}" if r.subset else None,
        "snapshots": r.snapshots, "pages": r.pages, "blobs_referenced": r.blobs_referenced, "packs": r.packs,
        "packs_read": r.packs_read, "bytes_read": r.bytes_read, "unindexed_packs": r.unindexed_packs,
        "damage": [{"kind": f.kind, "id": f.id, "detail": f.detail} for f in r.damage],
        "damaged_snapshots": r.damaged_snapshots, "affected_count": r.affected_count,
        "affected_messages": [{"snapshot": m.snapshot_id, "key": m.key, "message_id": m.message_id,
                               "blob_id": m.blob_id} for m in r.affected_messages],
        "healed": [{"kind": f.kind, "id": f.id, "detail": f.detail} for f in r.healed],
        "damage_recorded": r.damage_recorded, "record_error": r.record_error,
        "unlisted_snapshots": r.unlisted_snapshots, "unlisted_messages": r.unlisted_messages,
    }
    if fixed is not None:
        doc["index_repair"] = {"damaged_segments": sorted(fixed.damaged_segments),
                               "segment_written": fixed.segment_written, "packs_indexed": fixed.packs_indexed,
                               "unreadable_packs": sorted(fixed.unreadable_packs),
                               "damaged_cache": fixed.damaged_cache,
                               "tocs_rewritten": sorted(fixed.tocs_rewritten),
                               "frames_lost": fixed.frames_lost, "config_rewritten": fixed.config_rewritten}
    return doc


def export_json(r: ExportResult) -> dict[str, Any]:
    """``export --json``."""
    return {"format": r.format, "output": str(r.output), "snapshot": snapshot_json(r.snapshot),
            "selected": r.selected, "messages": r.messages, "files": r.files, "bytes": r.bytes,
            "skipped": [{"key": p.key, "message_id": p.message_id, "blob_id": p.blob_id, "reason": p.reason}
                        for p in r.skipped],
            "shortened_folders": r.shortened_folders, "warnings": r.warnings}


def problems_json(found: dict[str, str]) -> list[dict[str, str]]:
    """Damaged or unreadable snapshots (id -> why) as ``[{snapshot, detail}]`` (forget, snapshots)."""
    return [{"snapshot": sid, "detail": why} for sid, why in sorted(found.items())]


def forget_json(r: ForgetResult) -> dict[str, Any]:
    """``forget --json``: the snapshots kept (with the rules that kept each) and forgotten, the damaged and
    unreadable ones, and the prune."""
    reasons = r.decision.reasons
    return {"dry_run": r.dry_run,
            "keep": [{**snapshot_json(s), "reasons": list(reasons[s.id])} for s in r.kept],
            "forget": [snapshot_json(s) for s in r.forgotten],
            "damaged": problems_json(r.damaged), "unreadable": problems_json(r.unreadable),
            "left_unreadable": problems_json(r.left_unreadable),
            "prune": prune_json(r.prune)}


def stats_json(st: ArchiveStats) -> dict[str, Any]:
    """``stats --json``: every field of ArchiveStats."""
    doc = dataclasses.asdict(st)
    doc["accounts"] = list(st.accounts)
    doc["dictionaries"] = list(st.dictionaries)
    return doc


class TqdmProgress:
    """Implements ``archiver.progress.Progress`` with one tqdm bar per phase."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: tqdm[Any] | None = None
        self.notes: list[str] = []

    def start(self, phase: str, total: int | None = None, unit: str = "msg") -> None:
        self.finish()
        if self.enabled:
            from tqdm import tqdm  # ~20 ms: only when a bar is shown

            self._bar = tqdm(total=total, desc=phase, unit=unit, file=sys.stderr, dynamic_ncols=True,
                             smoothing=0.1)

    def advance(self, n: int = 1, nbytes: int = 0) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def note(self, message: str) -> None:
        self.notes.append(message)
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        elif self.enabled:
            print(message, file=sys.stderr)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def hit_json(h: SearchHit) -> dict[str, Any]:
    doc: dict[str, Any] = {"key": h.key, "account": h.account, "message_id": h.message_id,
                           "date": h.date.isoformat(), "from": h.sender, "subject": h.subject,
                           "labels": list(h.labels), "flags": list(h.flags), "thread": h.thread,
                           "size": h.size, "blob_id": h.blob_id, "snippet": h.snippet}
    if h.snapshots:
        doc["snapshots"] = list(h.snapshots)
        doc["history"] = [{"snapshot": s.snapshot, "time": s.time.isoformat(),
                           "labels": None if s.labels is None else list(s.labels)} for s in h.history]
    return doc


def search_json(r: SearchResult) -> dict[str, Any]:
    """``search --json``."""
    return {"query": r.query, "snapshots": [s.id for s in r.searched], "total": r.total, "parsed": r.parsed,
            "index_rebuilt": r.index_rebuilt, "problems": r.problems,
            "messages": [hit_json(h) for h in r.messages]}


def extract_json(r: ExtractResult, folder: os.PathLike[str]) -> dict[str, Any]:
    """``extract --json``."""
    return {"key": r.key, "folder": str(folder), "files": [{"name": n, "bytes": b} for n, b in r.written]}
