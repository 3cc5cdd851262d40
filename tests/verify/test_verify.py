"""verify: a clean archive passes; >= 100 random single-byte flips and deleted files are each caught by the
tier that should see them, and the report names the snapshots and messages they affect."""

from __future__ import annotations

import datetime as dt
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from archiver.model import MessageRecord
from archiver.ops.export.operation import export
from archiver.ops.verify import parse_subset, verify
from archiver.store import Archive
from archiver.store.index import list_segments
from archiver.store.manifest import iter_page_ids
from archiver.store.pack import KIND_BLOB, PackEntry, list_packs, pack_path, read_toc
from tests.query.builder import commit, make_records, synthetic_messages


@dataclass
class Fixture:
    path: Path
    snaps: dict[str, list[MessageRecord]]
    """snapshot id -> its records"""
    pages: dict[str, set[str]]
    """snapshot id -> its manifest page ids"""
    tocs: dict[str, list[PackEntry]]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    """Two snapshots (a dictionary, several packs and index segments), built through the real writer: a v1
    archive (one frame per message, the dictionary in dicts/ alone); test_verify_v2.py covers v2."""
    path = tmp_path_factory.mktemp("verify") / "archive"
    archive = Archive.init(path, version=1)
    msgs = synthetic_messages(1000)
    first = make_records(archive, msgs[:950])
    s1 = commit(archive, first, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    later = make_records(archive, msgs[900:], seed=2)[50:]
    second = [replace(r, labels=("Work",)) if i % 7 == 0 else r for i, r in enumerate(first[100:])]
    second += [replace(r, key=f"gm:{r.gm_msgid}9") for r in later]
    s2 = commit(archive, second, dt.datetime(2024, 1, 2, tzinfo=dt.UTC))
    archive = Archive.open(path)
    pages = {}
    for info in (s1, s2):
        root = archive.load(info.id).root
        pages[info.id] = {pid for pid, _ in iter_page_ids(root, archive.read_page)}
    tocs = {pid: read_toc(pack_path(path / "packs", pid)) for pid in list_packs(path / "packs")}
    assert len(list(path.joinpath("dicts").iterdir())) >= 1 and len(tocs) >= 3
    return Fixture(path, {s1.id: first, s2.id: second}, pages, tocs)


def _copy(fx: Fixture, dest: Path) -> Path:
    shutil.copytree(fx.path, dest)
    return dest


def _flip(path: Path, offset: int, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= rng.randrange(1, 256)
    path.write_bytes(bytes(data))


def test_clean_archive_verifies(small: Fixture) -> None:
    report = verify(Archive.open(small.path), read_data=True)
    assert report.ok and report.snapshots == 2 and report.packs == len(small.tocs)
    assert report.bytes_read == sum(pack_path(small.path / "packs", p).stat().st_size for p in small.tocs)
    assert report.blobs_referenced == len({r.blob_id for rs in small.snaps.values() for r in rs})


def _messages_of(fx: Fixture, blob_ids: set[str]) -> set[tuple[str, str]]:
    return {(sid, r.key) for sid, rs in fx.snaps.items() for r in rs if r.blob_id in blob_ids}


CATEGORIES = ("snapshot", "index", "dict", "blob-frame", "page-frame", "pack-toc")


def _pick(fx: Fixture, root: Path, category: str, rng: random.Random) -> tuple[Path, int, PackEntry | None]:
    if category == "snapshot":
        p = rng.choice(sorted((root / "snapshots").iterdir()))
        return p, rng.randrange(p.stat().st_size), None
    if category == "index":
        p = root / "index" / rng.choice(list_segments(root / "index"))
        return p, rng.randrange(p.stat().st_size), None
    if category == "dict":
        p = rng.choice(sorted((root / "dicts").iterdir()))
        return p, rng.randrange(p.stat().st_size), None
    pid = rng.choice(sorted(fx.tocs))
    entries = fx.tocs[pid]
    path = pack_path(root / "packs", pid)
    if category == "pack-toc":
        frames_end = max(e.offset + e.length for e in entries)
        offset = rng.choice([rng.randrange(8), rng.randrange(frames_end, path.stat().st_size)])
        return path, offset, None
    kind_ok = [e for e in entries if (e.kind == KIND_BLOB) == (category == "blob-frame")]
    if not kind_ok:
        return _pick(fx, root, category, rng)
    e = rng.choice(kind_ok)
    return path, e.offset + rng.randrange(e.length), e


@pytest.mark.slow
def test_random_single_byte_flips(small: Fixture, tmp_path: Path) -> None:
    rng = random.Random(20241126)
    seen = dict.fromkeys(CATEGORIES, 0)
    for trial in range(102):
        category = CATEGORIES[trial % len(CATEGORIES)]
        root = _copy(small, tmp_path / f"t{trial}")
        path, offset, entry = _pick(small, root, category, rng)
        _flip(path, offset, rng)
        structure = verify(Archive.open(root))
        full = verify(Archive.open(root), read_data=True)
        why = f"trial {trial}: {category} {path.name[:12]}@{offset}"
        assert not full.ok, why
        if category == "blob-frame":
            assert entry is not None
            assert structure.ok, why  # only reading the data can see it
            expected = _messages_of(small, {entry.id})
            assert {(m.snapshot_id, m.key) for m in full.affected_messages} == expected, why
            assert set(full.damaged_snapshots) == {sid for sid, _ in expected}, why
            ids = {r.message_id for rs in small.snaps.values() for r in rs if r.blob_id == entry.id}
            assert {m.message_id for m in full.affected_messages} == ids, why
        else:
            assert not structure.ok, why
        if category == "snapshot":
            assert path.name in structure.damaged_snapshots, why
        if category == "page-frame":
            assert entry is not None
            hit = {sid for sid, pages in small.pages.items() if entry.id in pages}
            assert hit and hit <= set(structure.damaged_snapshots), why
        if category == "dict":  # a message dictionary names messages; a page dictionary, snapshots
            assert structure.affected_messages or structure.damaged_snapshots, why
        shutil.rmtree(root)
        seen[category] += 1
    assert all(n >= 17 for n in seen.values())


@pytest.mark.parametrize("what", ["index", "dicts", "packs"])
def test_deleted_files(small: Fixture, tmp_path: Path, what: str) -> None:
    root = _copy(small, tmp_path / "a")
    victims = sorted(p for p in (root / what).rglob("*") if p.is_file())
    if what == "packs":  # the pack holding most blobs
        victims.sort(key=lambda p: -sum(e.kind == KIND_BLOB for e in small.tocs[p.name]))
    victims[0].unlink()
    report = verify(Archive.open(root))
    # a lost segment that listed manifest pages makes whole snapshots unreadable (named); a lost segment
    # of data packs, a lost dictionary or pack makes messages unreadable (named)
    assert not report.ok and (report.affected_count > 0 or report.damaged_snapshots)
    assert report.damaged_snapshots
    if what == "packs":
        lost = {e.id for e in small.tocs[victims[0].name] if e.kind == KIND_BLOB}
        assert {(m.snapshot_id, m.key) for m in report.affected_messages} == _messages_of(small, lost)


@pytest.mark.parametrize("what", ["snapshots", "packs", "index"])
def test_missing_folder_is_damage(small: Fixture, tmp_path: Path, what: str) -> None:
    root = _copy(small, tmp_path / "a")
    shutil.rmtree(root / what)
    report = verify(Archive.open(root))
    assert not report.ok
    assert [(f.kind, f.id) for f in report.damage if f.kind == "folder"] == [("folder", f"{what}/")]
    if what == "snapshots":  # the CLI: exit 13, naming the folder
        p = subprocess.run([sys.executable, "-m", "archiver", "verify", str(root)], capture_output=True,
                           cwd=Path(__file__).resolve().parents[2], timeout=120)
        assert p.returncode == 13 and b"snapshots/ folder is missing" in p.stderr, p.stderr


def test_damage_stays_local_export_skips_only_damaged(small: Fixture, tmp_path: Path) -> None:
    root = _copy(small, tmp_path / "a")
    pid, entries = next((p, es) for p, es in sorted(small.tocs.items())
                        if any(e.kind == KIND_BLOB for e in es))
    victim = next(e for e in entries if e.kind == KIND_BLOB)
    _flip(pack_path(root / "packs", pid), victim.offset + victim.length // 2, random.Random(1))
    sid = max(small.snaps, key=lambda s: len(small.snaps[s]))
    result = export(Archive.open(root), sid[:8], "eml", tmp_path / "out")
    assert {p.key for p in result.skipped} == {r.key for r in small.snaps[sid] if r.blob_id == victim.id}
    assert result.messages == len(small.snaps[sid]) - len(result.skipped) > 0


def test_subsets_partition_the_packs(small: Fixture, tmp_path: Path) -> None:
    root = _copy(small, tmp_path / "a")
    pid = max(small.tocs, key=lambda p: sum(e.kind == KIND_BLOB for e in small.tocs[p]))
    e = next(e for e in small.tocs[pid] if e.kind == KIND_BLOB)
    _flip(pack_path(root / "packs", pid), e.offset + 1, random.Random(2))
    reports = [verify(Archive.open(root), read_data=True, subset=parse_subset(f"{n}/3")) for n in (1, 2, 3)]
    assert sum(r.packs_read for r in reports) == len(small.tocs)
    assert sorted(r.ok for r in reports) == [False, True, True]
    again = [verify(Archive.open(root), read_data=True, subset=(n, 3)).ok for n in (1, 2, 3)]
    assert again == [r.ok for r in reports]


def test_snapshot_count_must_match_its_manifest(small: Fixture, tmp_path: Path) -> None:
    from archiver.store.codec import sha256_hex
    from archiver.store.snapshot import encode_snapshot, read_snapshot

    root = _copy(small, tmp_path / "a")
    sid = next(iter(small.snaps))
    rec = read_snapshot(root / "snapshots", sid)
    data = encode_snapshot(account=rec.info.account, time=rec.info.time + dt.timedelta(hours=1),
                           message_count=rec.info.message_count + 1, source=rec.info.source, parent=sid,
                           partial=False, stats={}, folders=rec.folders, root=rec.root)
    (root / "snapshots" / sha256_hex(data)).write_bytes(data)
    report = verify(Archive.open(root))
    assert [(f.kind, f.id) for f in report.damage] == [("snapshot", sha256_hex(data))]
    assert "says" in report.damage[0].detail


def test_lost_packs_folder_counts_the_messages_it_hides(tmp_path: Path) -> None:
    """With packs/ gone no manifest reads: the report must not say "0 messages affected" as if none were;
    it counts every message of the snapshots whose manifest is damaged (issue: a misleading hint)."""
    from typer.testing import CliRunner

    from archiver.cli import app

    archive = Archive.init(tmp_path / "a")
    records = make_records(archive, synthetic_messages(25, size=500))
    commit(archive, records, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    shutil.rmtree(tmp_path / "a" / "packs")
    report = verify(Archive.open(tmp_path / "a"))
    assert not report.ok and report.unlisted_messages == 25 and len(report.unlisted_snapshots) == 1
    out = CliRunner().invoke(app, ["verify", str(tmp_path / "a")])
    assert out.exit_code == 13
    assert "all 25 messages of the 1 snapshots whose manifest is damaged" in out.stderr
