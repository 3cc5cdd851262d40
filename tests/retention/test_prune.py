"""forget + prune on a real archive: it shrinks as expected, still verifies, and survives SIGKILL at every
durable step of prune (the store's crash hook)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from archiver.errors import ArchiveLocked, DamageFound
from archiver.ops.export.operation import export
from archiver.ops.retention import RetentionPolicy, forget, prune
from archiver.ops.verify import verify
from archiver.store import Archive
from archiver.store.fsutil import CRASH_ENV
from tests.query.builder import ACCOUNT, commit, make_records, synthetic_messages

REPO = Path(__file__).resolve().parents[2]


def _day(n: int) -> dt.datetime:
    return dt.datetime(2024, 3, n, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str], set[str]]:
    """s1 = A (60 messages); s2 = A[:10] + B; s3 = s2 relabelled.  Forgetting s1 frees A[10:]."""
    path = tmp_path_factory.mktemp("prune") / "archive"
    archive = Archive.init(path)
    msgs = synthetic_messages(120, seed=11, size=3000)
    a = make_records(archive, msgs[:60])
    commit(archive, a, _day(1))
    b = make_records(archive, msgs[60:], seed=3)
    b = [replace(r, key=f"gm:{r.gm_msgid}0") for r in b]
    s2 = a[:10] + b
    commit(archive, s2, _day(2))
    commit(archive, [replace(r, labels=("\\Inbox",)) for r in s2], _day(3))
    freed = {r.blob_id for r in a[10:]}
    kept = {r.blob_id for r in s2}
    return path, freed, kept


def _pack_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path / "packs").rglob("*") if p.is_file())


def _check_pruned(path: Path, freed: set[str], kept: set[str]) -> None:
    archive = Archive.open(path)
    assert not any(archive.has_blob(b) for b in freed)
    assert all(archive.has_blob(b) for b in kept)
    report = verify(archive, read_data=True)
    assert report.ok, report.damage


def test_forget_then_prune_shrinks_and_verifies(template: tuple[Path, set[str], set[str]],
                                               tmp_path: Path) -> None:
    src, freed, kept = template
    path = tmp_path / "a"
    shutil.copytree(src, path)
    before = _pack_bytes(path)
    dry = forget(Archive.open(path), RetentionPolicy(last=2), dry_run=True, prune=True)
    assert [s.time for s in dry.forgotten] == [_day(1)] and _pack_bytes(path) == before
    assert dry.prune is not None and dry.prune.packs_repacked + dry.prune.packs_deleted >= 2
    assert len(Archive.open(path).snapshots()) == 3
    result = forget(Archive.open(path), RetentionPolicy(last=2), prune=True)
    assert [s.time for s in result.forgotten] == [_day(1)]
    assert result.prune is not None and result.prune.packs_repacked >= 1
    after = _pack_bytes(path)
    # 50 of 120 bodies (and s1's manifest) are gone: the packs shrink by at least a third
    assert after < before * 2 / 3 and result.prune.bytes_after == after
    _check_pruned(path, freed, kept)
    out = export(Archive.open(path), "latest", "eml", tmp_path / "eml")
    assert out.complete and out.messages == 70
    again = prune(Archive.open(path))
    assert (again.packs_deleted, again.packs_repacked) == (0, 0)


def test_prune_refuses_damage_and_a_running_writer(template: tuple[Path, set[str], set[str]],
                                                   tmp_path: Path) -> None:
    src, _, _ = template
    path = tmp_path / "a"
    shutil.copytree(src, path)
    archive = Archive.open(path)
    with archive.writer(ACCOUNT), pytest.raises(ArchiveLocked):
        prune(archive)
    snap = sorted((path / "snapshots").iterdir())[0]
    snap.write_bytes(snap.read_bytes()[:-1])
    def data_files() -> list[Path]:
        return sorted(p for d in ("packs", "index", "snapshots", "dicts") for p in (path / d).rglob("*"))

    files = data_files()
    with pytest.raises(DamageFound):
        prune(Archive.open(path))
    assert data_files() == files


PRUNE = "import sys; from archiver import Archive, prune; prune(Archive.open(sys.argv[1]))"


@pytest.mark.slow
def test_prune_killed_at_every_step_leaves_a_verifiable_archive(template: tuple[Path, set[str], set[str]],
                                                                 tmp_path: Path) -> None:
    src, freed, kept = template
    forgotten = tmp_path / "forgotten"
    shutil.copytree(src, forgotten)
    forget(Archive.open(forgotten), RetentionPolicy(last=2))
    step = 0
    while True:
        step += 1
        assert step < 200, "prune never finished"
        path = tmp_path / f"crash{step}"
        shutil.copytree(forgotten, path)
        env = dict(os.environ, **{CRASH_ENV: str(step)})
        run = subprocess.run([sys.executable, "-c", PRUNE, str(path)], env=env, cwd=REPO,
                             capture_output=True, text=True)
        if run.returncode == 0:
            break
        assert run.returncode == -9, run.stderr
        archive = Archive.open(path)
        report = verify(archive, read_data=True)
        assert report.ok, (step, report.damage)
        assert all(archive.has_blob(b) for b in kept)
        prune(archive)  # the next prune finishes the job
        _check_pruned(path, freed, kept)
        shutil.rmtree(path)
    _check_pruned(path, freed, kept)
    assert step > 8  # the loop really stopped prune between many steps
