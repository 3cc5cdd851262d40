"""The Archive facade end to end: init/open, blobs, commit, load, resolve, stats, locks, journal."""

from __future__ import annotations

import datetime as dt
import os
import stat
import threading
from pathlib import Path

import pytest

from archiver.errors import ArchiveLocked, ArchiveNotFound, IntegrityError, UnsupportedVersion, UsageError
from archiver.model import FolderState
from archiver.store import Archive, codec
from tests.store.conftest import record

T0 = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.UTC)


def test_init_refuses_non_empty_and_open_missing(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    with pytest.raises(UsageError):
        Archive.init(tmp_path / "x")
    with pytest.raises(ArchiveNotFound):
        Archive.open(tmp_path / "nothing")


def test_open_rejects_newer_version(archive: Archive) -> None:
    archive.layout.config.write_text('{"format": "gmail-archiver", "version": 3}')
    with pytest.raises(UnsupportedVersion):
        Archive.open(archive.path)


def test_blobs_snapshot_round_trip_and_modes(archive: Archive) -> None:
    bodies = [f"Subject: {i}\r\n\r\nbody {i}\r\n".encode() * (i + 1) for i in range(20)]
    with archive.writer("me@example.org") as w:
        ids = [w.put_blob(b) for b in bodies]
        assert w.put_blob(bodies[0]) == ids[0]
        assert w.has_blob(ids[3])
        recs = [record(f"h:{i:03}", bid, len(b)) for i, (bid, b) in enumerate(zip(ids, bodies, strict=True))]
        info = w.commit(reversed(recs), [FolderState("INBOX", 5, 21, 99, None)], source="imap://me@x",
                        time=T0,
                        stats={"new": 20})
    assert info.message_count == 20 and info.time == T0 and info.stats == {"new": 20}
    again = Archive.open(archive.path)
    assert [i.id for i in again.snapshots()] == [info.id]
    snap = again.load(again.resolve("latest").id)
    assert list(snap) == recs and len(snap) == 20
    assert snap.get("h:007") == recs[7] and snap.get("h:999") is None and snap.get("a") is None
    assert snap.folders == (FolderState("INBOX", 5, 21, 99, None),)
    assert again.get_blob(ids[5]) == bodies[5]
    assert dict(again.iter_blobs(reversed(ids))) == dict(zip(ids, bodies, strict=True))
    for p in archive.path.rglob("*"):
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), p
    st = again.stats()
    assert st.blobs == 20 and st.raw_bytes == sum(map(len, bodies)) and st.snapshots == 1
    assert st.accounts == ("me@example.org",)


def test_commit_refuses_unknown_blob_and_duplicate_keys(archive: Archive) -> None:
    with archive.writer("a") as w:
        bid = w.put_blob(b"x")
        with pytest.raises(IntegrityError):
            w.commit([record("k", "0" * 64)], [], source="s")
        with pytest.raises(UsageError):
            w.commit([record("k", bid), record("k", bid)], [], source="s")
    assert archive.snapshots() == []


def test_commit_refuses_a_source_with_a_password(archive: Archive) -> None:
    with archive.writer("a") as w, pytest.raises(UsageError, match="password"):
        w.commit([], [], source="imaps://me:hunter2@imap.example.org")
    assert archive.snapshots() == []
    assert not any(b"hunter2" in p.read_bytes() for p in archive.path.rglob("*") if p.is_file())


def test_resolve(archive: Archive) -> None:
    infos = []
    with archive.writer("a") as w:
        bid = w.put_blob(b"m")
        for day in range(3):
            infos.append(w.commit([record(f"k{day}", bid)], [], source="s", time=T0 + dt.timedelta(days=day),
                                  partial=(day == 2)))
    assert archive.resolve().id == infos[1].id  # newest complete
    assert archive.resolve(infos[2].id[:8]).id == infos[2].id
    assert archive.resolve("2024-01-01T13:00:00+00:00").id == infos[0].id
    assert archive.resolve("2024-01-05").id == infos[1].id
    assert infos[1].parent == infos[0].id
    with pytest.raises(UsageError):
        archive.resolve("2023-01-01")
    with pytest.raises(UsageError):
        archive.resolve("zzzz")
    with pytest.raises(UsageError):
        archive.resolve(account="nobody")


def test_locks(archive: Archive) -> None:
    w = archive.writer("a")
    with pytest.raises(ArchiveLocked, match=f"pid {os.getpid()}"):
        Archive.open(archive.path).writer("a")
    other = archive.writer("b")  # another account is fine
    with pytest.raises(ArchiveLocked):
        archive.exclusive_lock()
    w.close()
    other.close()
    with archive.exclusive_lock(), pytest.raises(ArchiveLocked):
        archive.writer("a")
    archive.writer("a").close()


def test_journal_ignores_torn_tail(archive: Archive) -> None:
    j = archive.journal("restore-1")
    j.append({"blob": "b1", "uid": 1})
    j.append({"blob": "b2", "uid": 2})
    with open(j.path, "ab") as f:
        f.write(b"\x20\x00\x00\x00\x00\x00")  # a torn frame header + nothing
    assert list(archive.journal("restore-1")) == [{"blob": "b1", "uid": 1}, {"blob": "b2", "uid": 2}]
    j2 = archive.journal("restore-1")
    j2.append({"blob": "b3"})
    assert [e["blob"] for e in j2] == ["b1", "b2", "b3"]
    with pytest.raises(UsageError):
        archive.journal("../evil")


def test_index_cache_is_used_and_never_trusted_over_missing_segments(archive: Archive) -> None:
    bodies = [f"message {i}".encode() for i in range(10)]
    for b in bodies:  # one segment per writer session
        with archive.writer("a") as w:
            w.put_blob(b)
    cache = archive.layout.cache / "index"
    fresh = Archive.open(archive.path)
    assert fresh.get_blob(codec.sha256_hex(bodies[3])) == bodies[3]
    assert cache.exists()  # 10 segments read: merged into the cache
    with archive.writer("a") as w:
        w.put_blob(b"one more")
    again = Archive.open(archive.path)
    assert again.get_blob(codec.sha256_hex(b"one more")) == b"one more"  # cache + the new segment
    assert len(again.index.blobs) == 11
    seg = sorted(archive.layout.index.iterdir())[0]
    seg.unlink()  # prune removed a segment the cache lists: the cache must be ignored
    third = Archive.open(archive.path)
    assert len(third.index.blobs) == 10


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("manifest-read")]


def test_large_snapshot_read_ahead_and_early_stop(archive: Archive) -> None:
    with archive.writer("a") as w:
        bid = w.put_blob(b"shared body")
        recs = [record(f"k{i:06}", bid, labels=(f"L{i % 7}",)) for i in range(15000)]
        info = w.commit(recs, [], source="s")
    snap = Archive.open(archive.path).load(info.id)
    assert list(snap) == recs  # > 128 leaves: read ahead on the helper thread
    it = iter(snap)
    assert [next(it).key for _ in range(3)] == ["k000000", "k000001", "k000002"]
    assert _readers()  # the helper thread is running
    del it  # stopping early must not hang or leak the helper thread
    assert not _readers()
    assert snap.get("k014999") == recs[-1]
