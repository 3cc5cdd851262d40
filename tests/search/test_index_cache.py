"""The search index is a cache: deleted, damaged or stale, it costs a rebuild, never a wrong answer."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from archiver import search
from archiver.ops.search.index import DB_NAME, SearchIndex
from archiver.store import Archive
from tests.query.builder import build, commit, corpus_messages, make_records, synthetic_messages

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
QUERIES = ["from:alice", "subject:message", "has:attachment", "is:unread -label:work", "filename:pdf",
           "thread:(from:alice)", "in:anywhere larger:20K", '"this is"']


def answers(archive: Archive) -> dict[str, list[str]]:
    return {q: [h.key for h in search(archive, q, snippets=False).messages] for q in QUERIES}


@pytest.fixture()
def archive(tmp_path: Path) -> Archive:
    arch, _ = build(tmp_path / "a", corpus_messages(CORPUS, limit=200, step=3))
    return arch


def test_deleted_index_is_rebuilt_with_identical_answers(archive: Archive) -> None:
    first = answers(archive)
    assert any(first.values())
    db = archive.layout.cache / DB_NAME
    db.unlink()
    result = search(archive, "from:alice")
    assert result.index_rebuilt == "index file missing" and result.parsed > 100
    assert answers(archive) == first


@pytest.mark.parametrize("where", [0.3, 0.6, 0.9])
def test_damaged_index_is_rebuilt_with_identical_answers(archive: Archive, where: float) -> None:
    first = answers(archive)
    db = archive.layout.cache / DB_NAME
    data = bytearray(db.read_bytes())
    pos = int(len(data) * where)
    data[pos] ^= 0x55
    db.write_bytes(bytes(data))
    result = search(archive, "subject:message")
    assert result.index_rebuilt is not None and "damaged" in result.index_rebuilt
    assert answers(archive) == first


def test_a_row_changed_by_hand_is_caught(archive: Archive) -> None:
    """A change that keeps SQLite's file sound (an edited row) is still caught by the checksum."""
    first = answers(archive)
    db = archive.layout.cache / DB_NAME
    con = sqlite3.connect(db)
    con.execute("UPDATE docs SET has_attachment = 1 - has_attachment")
    con.commit()
    con.close()
    assert search(archive, "has:attachment").index_rebuilt is not None
    assert answers(archive) == first


def test_only_new_messages_are_parsed(tmp_path: Path) -> None:
    archive, records = build(tmp_path / "a", synthetic_messages(40))
    assert search(archive, "budget").parsed == 40
    assert search(archive, "budget").parsed == 0
    more = make_records(archive, synthetic_messages(45)[40:], seed=3)
    more = [r.__class__(**{**{f: getattr(r, f) for f in ("blob_id", "size", "internaldate", "tz_minutes",
                                                            "flags", "labels", "thread_id", "message_id")},
                           "key": f"gm:9{i}"}) for i, r in enumerate(more)]
    commit(archive, [*records, *more], dt.datetime(2024, 2, 1, tzinfo=dt.UTC))
    result = search(archive, "budget")
    assert result.parsed == 5 and result.index_rebuilt is None


def test_index_file_is_private_and_never_followed(archive: Archive, tmp_path: Path) -> None:
    search(archive, "x")
    db = archive.layout.cache / DB_NAME
    assert (os.stat(db).st_mode & 0o777) == 0o600
    db.unlink()
    (archive.layout.cache / "search.sum").unlink()
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    db.symlink_to(victim)
    with SearchIndex(archive) as index:
        assert index.rebuilt is not None
    assert victim.read_text() == "keep me"
    assert db.is_file() and not db.is_symlink()
    assert [h.key for h in search(archive, "from:alice").messages]


def test_a_snapshot_searched_once_is_answered_from_the_index(archive: Archive) -> None:
    """The first search keeps the snapshot's records in the index; later ones need no manifest: they give
    the same answers with every manifest page and body of the archive gone (snippets off)."""
    first = answers(archive)
    info = archive.snapshots()[-1]
    with SearchIndex(archive) as index:
        assert index.snapshot_row(info.id) is not None
    shutil.rmtree(archive.path / "packs")
    assert answers(Archive.open(archive.path)) == first
