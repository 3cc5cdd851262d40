"""A writer never builds a snapshot on manifest pages whose pack is gone: it writes them again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from archiver.store import Archive
from archiver.store.pack import KIND_PAGE, list_packs, pack_path, read_toc
from tests.query.builder import commit, make_records, synthetic_messages


def test_pages_in_a_lost_pack_are_written_again(tmp_path: Path) -> None:
    path = tmp_path / "a"
    archive = Archive.init(path)
    records = make_records(archive, synthetic_messages(60, seed=3, size=2000))
    first = commit(archive, records, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    page_packs = [pid for pid in list_packs(path / "packs")
                  if all(e.kind == KIND_PAGE for e in read_toc(pack_path(path / "packs", pid)))]
    assert len(page_packs) == 1
    pack_path(path / "packs", page_packs[0]).unlink()

    again = Archive.open(path)
    second = commit(again, records, dt.datetime(2024, 1, 2, tzinfo=dt.UTC))
    assert second.id != first.id
    reader = Archive.open(path)
    assert list(reader.load(second.id)) == sorted(records, key=lambda r: r.key)
    assert list(reader.load(first.id)) == sorted(records, key=lambda r: r.key)  # the same pages, read again
