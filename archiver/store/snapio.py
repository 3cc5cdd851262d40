"""Snapshot records read through the archive's backend (the record format is snapshot.py's)."""

from __future__ import annotations

from archiver.errors import FormatError
from archiver.model import SnapshotInfo
from archiver.store.backend import Backend
from archiver.store.layout import hashed_names, read_hashed
from archiver.store.snapshot import SnapshotRecord, decode_snapshot


def snapshot_name(snapshot_id: str) -> str:
    return f"snapshots/{snapshot_id}"


def snapshot_ids(backend: Backend) -> list[str]:
    """The ids of every record in snapshots/, readable or not (sorted)."""
    return hashed_names(backend, "snapshots")


def load_snapshot(backend: Backend, snapshot_id: str) -> SnapshotRecord:
    """Read and check ``snapshots/<id>``; IntegrityError names the snapshot when missing or damaged."""
    data = read_hashed(backend, snapshot_name(snapshot_id), f"snapshot {snapshot_id[:12]}")
    return decode_snapshot(data, snapshot_id)


def salvage_snapshot(backend: Backend, snapshot_id: str) -> SnapshotInfo | None:
    """What a record that fails its check still claims (account, time...), or None when it does not
    decode: used only to say which account a damaged record may belong to, never to read its data."""
    try:
        return decode_snapshot(backend.read(snapshot_name(snapshot_id)), snapshot_id).info
    except (OSError, FormatError):
        return None
