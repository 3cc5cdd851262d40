"""Readers during prune (formats/invariants.md "Locks"): a reader whose index was loaded before a prune
repacked its blobs re-reads the index and finds them in the new pack, instead of calling them damaged."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace
from pathlib import Path

from archiver.ops.retention import prune
from archiver.store import Archive
from archiver.store.maintenance import delete_snapshot
from archiver.store.pack import list_packs
from tests.query.builder import commit, make_records, synthetic_messages


def _archive(path: Path) -> tuple[dict[str, bytes], str]:
    """Two packs of 40 messages each; the kept snapshot references 2 of each, the other snapshot (the
    one to forget) all 80, so prune repacks both packs into a new one.  Returns (kept blobs, old id)."""
    archive = Archive.init(path)
    msgs = synthetic_messages(80, seed=5, size=3000)
    first = make_records(archive, msgs[:40])
    second = make_records(archive, msgs[40:], seed=2)
    second = [replace(r, key=f"{r.key}0") for r in second]  # make_records numbers keys from 0 again
    old = commit(archive, first + second, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    kept = first[:2] + second[:2]
    commit(archive, kept, dt.datetime(2024, 1, 2, tzinfo=dt.UTC))
    assert len(list_packs(archive.layout.packs)) >= 4  # two data packs, two page packs
    body = {r.blob_id: m[1] for r, m in zip(first + second, msgs, strict=True)}
    return {r.blob_id: body[r.blob_id] for r in kept}, old.id


def _prune_now(path: Path, old: str) -> None:
    """forget the old snapshot and prune, in another thread with its own Archive (as another process)."""
    def run() -> None:
        pruner = Archive.open(path)
        with pruner.exclusive_lock():
            delete_snapshot(pruner.layout, old)
        prune(pruner)

    t = threading.Thread(target=run)
    t.start()
    t.join()


def test_iter_blobs_survives_a_prune_between_two_reads(tmp_path: Path) -> None:
    path = tmp_path / "a"
    want, old = _archive(path)
    packs_before = set(list_packs(path / "packs"))
    reader = Archive.open(path)
    damaged: dict[str, str] = {}
    blobs = reader.iter_blobs(list(want), damaged)
    got = dict([next(blobs)])  # the reader has its index and one pack open when prune runs
    _prune_now(path, old)
    assert not set(list_packs(path / "packs")) >= packs_before  # prune did repack (old packs deleted)
    got.update(blobs)
    assert damaged == {}
    assert got == want


def test_get_blob_with_an_index_loaded_before_prune(tmp_path: Path) -> None:
    path = tmp_path / "a"
    want, old = _archive(path)
    reader = Archive.open(path)
    assert reader.has_blob(next(iter(want)))  # loads the index
    _prune_now(path, old)
    for blob_id, data in want.items():
        assert reader.get_blob(blob_id) == data
