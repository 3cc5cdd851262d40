"""Snapshot records: the single commit point of a backup (formats/snapshot.md).

``snapshots/<sha256>`` holds one zstd frame of msgpack::

    {"version": 1, "account": str, "time": int (unix microseconds, UTC), "message_count": int,
     "source": str, "parent": str | nil, "partial": bool, "stats": {str: int},
     "folders": [[name, uidvalidity, uidnext, highestmodseq | nil, role | nil], ...],
     "root": page id (32 bytes) | nil}

Version 2 (written now) adds ``"key_seq": int``, the next number a new message of a non-Gmail account gets
as its key (``n:<number>``, formats/snapshot.md): numbers are never given twice.  The snapshot id is the
SHA-256 of the file's bytes.  Unknown keys are ignored by readers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from archiver.errors import FormatError, IntegrityError, UnsupportedVersion, UsageError
from archiver.model import FolderState, SnapshotInfo
from archiver.store import codec
from archiver.store.fsutil import read_named

VERSION = 1
"""The first record version."""
READ_VERSIONS = (1, 2)
WRITE_VERSION = 2
"""The version new records are written in (1 only to regenerate v1 goldens)."""
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """A decoded snapshot file: the header, the folder sync state and the manifest root."""

    info: SnapshotInfo
    folders: tuple[FolderState, ...]
    root: str | None
    key_seq: int = 0
    """Version 2: the next ``n:`` key number of the account (0 in a version-1 record)."""


def to_micros(t: dt.datetime) -> int:
    if t.tzinfo is None:
        raise UsageError("snapshot times must be timezone-aware (a clock returned a naive datetime)")
    delta = t - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=us)


def encode_snapshot(*, account: str, time: dt.datetime, message_count: int, source: str, parent: str | None,
                    partial: bool, stats: dict[str, int], folders: Sequence[FolderState],
                    root: str | None, key_seq: int = 0, version: int | None = None) -> bytes:
    version = version or WRITE_VERSION
    doc: dict[str, object] = {
        "version": version, "account": account, "time": to_micros(time), "message_count": message_count,
        "source": source, "parent": parent, "partial": partial,
        "stats": {k: int(v) for k, v in sorted(stats.items())},
        "folders": [(f.name, f.uidvalidity, f.uidnext, f.highestmodseq, f.role) for f in folders],
        "root": bytes.fromhex(root) if root else None,
    }
    if version >= 2:
        doc["key_seq"] = key_seq
    return codec.packz(doc)


def decode_snapshot(data: bytes, snapshot_id: str) -> SnapshotRecord:
    what = f"snapshot {snapshot_id[:12]}"
    doc = codec.unpackz(data, what)
    if not isinstance(doc, dict) or "version" not in doc:
        raise IntegrityError(f"{what} is not a snapshot record")
    if doc["version"] not in READ_VERSIONS:
        raise UnsupportedVersion(f"{what} has version {doc['version']}; this program reads versions "
                                 f"{', '.join(map(str, READ_VERSIONS))}")
    try:
        info = SnapshotInfo(id=snapshot_id, account=doc["account"], time=from_micros(doc["time"]),
                            message_count=doc["message_count"], source=doc["source"], parent=doc["parent"],
                            partial=bool(doc["partial"]), stats=dict(doc["stats"]))
        folders = tuple(FolderState(*f) for f in doc["folders"])
        root = doc["root"].hex() if doc["root"] is not None else None
        key_seq = int(doc["key_seq"]) if doc["version"] >= 2 else 0
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IntegrityError(f"{what} has a malformed field: {exc}") from None
    return SnapshotRecord(info, folders, root, key_seq)


def read_snapshot(snap_dir: Path, snapshot_id: str) -> SnapshotRecord:
    """Read and check ``snapshots/<id>``; IntegrityError names the snapshot when missing or damaged."""
    data = read_named(snap_dir / snapshot_id, f"snapshot {snapshot_id[:12]}")
    return decode_snapshot(data, snapshot_id)


def salvage_info(snap_dir: Path, snapshot_id: str) -> SnapshotInfo | None:
    """What a record that fails its check still claims (account, time...), or None when it does not
    decode: used only to say which account a damaged record may belong to, never to read its data."""
    try:
        data = (snap_dir / snapshot_id).read_bytes()
        return decode_snapshot(data, snapshot_id).info
    except (OSError, FormatError):
        return None


def list_snapshot_ids(snap_dir: Path) -> list[str]:
    if not snap_dir.is_dir():
        return []
    return sorted(p.name for p in snap_dir.iterdir() if len(p.name) == 64)
