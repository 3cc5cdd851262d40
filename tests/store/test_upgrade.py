"""Format v2 beside v1: a v1 archive keeps working, ``upgrade`` makes it v2 (crash-safe at every step, a
mixed v1/v2 archive verifies), and prune moves what it repacks into v2 packs."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver.cli import app
from archiver.model import FolderState
from archiver.ops.retention import forget_snapshots, prune
from archiver.ops.verify import verify
from archiver.store import Archive, dictionary, fsutil, maintenance, writer
from archiver.store.layout import config_bytes
from archiver.store.pack import MAGIC, MAGIC2, list_packs, pack_path
from tests.helpers.crash import crash_in_child
from tests.store.conftest import record, report_bodies

T1 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def work(path: Path) -> None:
    """Two commits over a dictionary and several packs (as tests/store/test_crash.py writes)."""
    archive = Archive.open(path)
    with archive.writer("me@example.org") as w:
        first = [w.put_blob(b) for b in report_bodies(0, 60)]
        w.commit([record(f"k{i:03}", b) for i, b in enumerate(first)], [FolderState("INBOX", 1, 61)],
                 source="imap://me@example.org", time=T1)
        second = [w.put_blob(b) for b in report_bodies(40, 60)]
        w.commit([record(f"k{i + 40:03}", b) for i, b in enumerate(second)], [FolderState("INBOX", 1, 101)],
                 source="imap://me@example.org", time=T1 + dt.timedelta(hours=1))


def _small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small dictionaries, blocks and packs: a few KiB of mail makes several of each."""
    monkeypatch.setattr(dictionary, "TRAIN_BYTES", 40 * 1024)
    monkeypatch.setattr(dictionary, "DICT_SIZE", 2048)
    monkeypatch.setattr(dictionary, "MIN_SAMPLES", 8)
    monkeypatch.setattr(maintenance, "PACK_TARGET", 16 * 1024)
    monkeypatch.setattr(maintenance, "BLOCK_TARGET", 4 * 1024)


def _magics(root: Path) -> list[bytes]:
    return [pack_path(root / "packs", p).read_bytes()[:8] for p in list_packs(root / "packs")]


def _contents(archive: Archive) -> dict[str, list[tuple[str, bytes]]]:
    """snapshot id -> (key, message bytes) of every record: what no step may lose."""
    return {i.id: [(r.key, archive.get_blob(r.blob_id)) for r in archive.load(i.id)]
            for i in archive.snapshots()}


@pytest.fixture
def v1_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _small(monkeypatch)
    monkeypatch.setattr(writer, "PACK_TARGET", 8 * 1024)
    root = tmp_path / "v1"
    Archive.init(root, version=1)
    work(root)
    assert set(_magics(root)) == {MAGIC} and json.loads((root / "archive.json").read_text())["version"] == 1
    return root


def test_v1_archive_reads_backs_up_and_stays_v1(v1_archive: Path) -> None:
    archive = Archive.open(v1_archive)
    assert archive.format_version == 1 and verify(archive, read_data=True).ok
    work(v1_archive)  # another backup into it: new packs are v1 too
    assert set(_magics(v1_archive)) == {MAGIC}


@pytest.mark.slow
def test_upgrade_killed_at_every_step_leaves_a_valid_archive_and_finishes(v1_archive: Path,
                                                                          tmp_path: Path) -> None:
    want = _contents(Archive.open(v1_archive))
    probe = tmp_path / "probe"
    shutil.copytree(v1_archive, probe)
    fsutil.arm_crash(0)
    report = Archive.open(probe).upgrade()
    total = fsutil.steps_taken()
    assert report.version_before == 1 and report.v1_packs_before >= 4 and report.v1_packs_after == 0
    assert total >= 10, total
    mixed = 0
    for k in range(1, total + 1):
        target = tmp_path / f"crash{k}"
        shutil.copytree(v1_archive, target)
        assert crash_in_child(lambda t=target: Archive.open(t).upgrade(), k) == -signal.SIGKILL, k
        archive = Archive.open(target)
        assert _contents(archive) == want, f"step {k}"
        assert verify(archive, read_data=True).ok, f"step {k}"
        mixed += {MAGIC, MAGIC2} <= set(_magics(target))
        again = Archive.open(target)
        again.upgrade()  # running it again finishes
        assert set(_magics(target)) == {MAGIC2} and again.format_version == 2
        done = Archive.open(target)
        assert done.format_version == 2 and _contents(done) == want
        assert verify(done, read_data=True).ok
        shutil.rmtree(target)
    assert mixed  # some kills left a mixed v1/v2 archive, which verified


def test_upgrade_command_and_a_later_backup(v1_archive: Path) -> None:
    want = _contents(Archive.open(v1_archive))
    res = CliRunner().invoke(app, ["upgrade", "--json", str(v1_archive)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["version_before"] == 1 and doc["v1_packs_after"] == 0 and doc["packs_written"] >= 1
    assert json.loads((v1_archive / "archive.json").read_text())["version"] == 2
    assert _contents(Archive.open(v1_archive)) == want
    work(v1_archive)
    assert set(_magics(v1_archive)) == {MAGIC2}
    res = CliRunner().invoke(app, ["upgrade", str(v1_archive)])
    assert res.exit_code == 0 and "already v2" in res.output


def test_prune_in_a_v2_archive_moves_what_it_repacks_into_v2(v1_archive: Path) -> None:
    archive = Archive.open(v1_archive)
    archive.backend.replace("archive.json", config_bytes(2))  # what upgrade's first step does
    first = archive.snapshots()[0].id
    forget_snapshots(Archive.open(v1_archive), [first])
    result = prune(Archive.open(v1_archive))
    assert result.packs_written >= 1
    magics = _magics(v1_archive)
    assert magics.count(MAGIC2) == result.packs_written and MAGIC in magics  # untouched v1 packs stay
    after = Archive.open(v1_archive)
    assert verify(after, read_data=True).ok and len(_contents(after)) == 1
