"""A damaged or missing index segment: readers fall back to the packs' TOCs (read-only), rebuild_index repairs
the archive for real (crash-safe at every step), and journals can be removed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver.cli import app
from archiver.errors import ArchiveLocked, IntegrityError, UsageError
from archiver.ops.verify import verify
from archiver.store import Archive, fsutil
from archiver.store.index import list_segments, load_index, rebuild_from_packs
from tests.helpers.crash import rebuild_index_in_child

GOLDEN = Path(__file__).resolve().parents[2] / "formats" / "golden"
DAMAGED = GOLDEN / "v1-damaged-truncated-index"
SOURCE = GOLDEN / "v1-incremental"  # the damaged golden is a copy of it with one segment cut in half


def _copy(tmp_path: Path, src: Path = DAMAGED) -> Path:
    dest = tmp_path / "archive"
    shutil.copytree(src / "archive", dest)
    return dest


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def _assert_reads_everything(path: Path) -> None:
    """Every snapshot lists, and every message reads back byte-identical to the golden's .eml files."""
    expected = json.loads((SOURCE / "expected.json").read_text())
    archive = Archive.open(path)
    assert [i.id for i in archive.snapshots()] == [s["id"] for s in expected["snapshots"]]
    for want in expected["snapshots"]:
        snap = archive.load(want["id"])
        assert [r.key for r in snap] == [r["key"] for r in want["records"]]
        for r in snap:
            assert archive.get_blob(r.blob_id) == (SOURCE / expected["blobs"][r.blob_id]).read_bytes()
    damaged: dict[str, str] = {}
    got = dict(archive.iter_blobs(expected["blobs"], damaged))
    assert damaged == {} and sorted(got) == sorted(expected["blobs"])


def test_reader_falls_back_to_the_packs_without_writing(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    before = _tree(path)
    findings = json.loads((DAMAGED / "expected-findings.json").read_text())
    bad = findings["damage"][0]["id"]
    archive = Archive.open(path)
    assert list(archive.index_problems) == [bad]
    assert bad[:12] in archive.index_problems[bad]
    _assert_reads_everything(path)
    assert archive.stats().blobs == len(json.loads((SOURCE / "expected.json").read_text())["blobs"])
    assert _tree(path) == before  # a reader never modifies the archive
    assert not verify(Archive.open(path)).ok  # verify still reports the damaged segment


def test_rebuild_index_repairs_the_golden(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    bad = json.loads((DAMAGED / "expected-findings.json").read_text())["damage"][0]["id"]
    archive = Archive.open(path)
    result = archive.rebuild_index()
    assert list(result.damaged_segments) == [bad] and result.segment_written is not None
    assert result.packs_indexed >= 1 and result.unreadable_packs == {} and result.changed
    assert archive.index_problems == {}
    # segments are deterministic: the rebuilt one is the original, put back under its own name
    assert result.segment_written == bad
    assert _tree(path)[f"index/{bad}"] == (SOURCE / "archive" / "index" / bad).read_bytes()
    assert load_index(path / "index").as_mapping() == rebuild_from_packs(path / "packs").as_mapping()
    report = verify(Archive.open(path), read_data=True)
    assert report.ok, report.damage
    _assert_reads_everything(path)
    before = _tree(path)
    assert not Archive.open(path).rebuild_index().changed  # a sound index is left alone
    assert {k: v for k, v in _tree(path).items() if not k.startswith("locks/")} == \
        {k: v for k, v in before.items() if not k.startswith("locks/")}


def test_missing_segment_reads_from_unindexed_packs_and_is_rebuilt(tmp_path: Path) -> None:
    path = _copy(tmp_path, SOURCE)
    for name in list_segments(path / "index"):
        (path / "index" / name).unlink()
    _assert_reads_everything(path)
    assert Archive.open(path).index_problems == {}  # nothing to name: no segment is damaged
    result = Archive.open(path).rebuild_index()
    assert result.damaged_segments == {}
    assert result.packs_indexed == len(rebuild_from_packs(path / "packs").packs)
    assert verify(Archive.open(path), read_data=True).ok


def test_rebuild_index_needs_the_exclusive_lock(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    archive = Archive.open(path)
    with archive.writer("someone@example.org"), pytest.raises(ArchiveLocked):
        Archive.open(path).rebuild_index()
    assert list_segments(path / "index") == list_segments(DAMAGED / "archive" / "index")


def _damaged_and_lost(dest: Path) -> Path:
    """v1-incremental with one segment cut in half and the other gone: the rebuilt segment is a new file
    (both runs' packs), so repair must unlink the damaged one, not replace it."""
    path = _copy(dest, SOURCE)
    first, second = list_segments(path / "index")
    (path / "index" / second).unlink()
    f = path / "index" / first
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    return path


@pytest.mark.parametrize("setup", ["golden", "damaged-and-lost"])
def test_rebuild_index_survives_a_crash_at_every_step(tmp_path: Path, setup: str) -> None:
    def make(dest: Path) -> Path:
        return _copy(dest) if setup == "golden" else _damaged_and_lost(dest)

    probe = make(tmp_path / "probe")
    fsutil.arm_crash(0)
    result = Archive.open(probe).rebuild_index()
    steps = fsutil.steps_taken()
    assert (result.segment_written in result.damaged_segments) == (setup == "golden")  # replace vs unlink
    assert steps >= 4  # at least: segment write, fsync, rename, folder fsync
    for n in range(1, steps + 1):
        path = make(tmp_path / f"crash{n}")
        assert rebuild_index_in_child(path, n) == -9, n
        _assert_reads_everything(path)  # whatever step it died at, the archive opens and reads
        Archive.open(path).rebuild_index()  # and the next repair finishes the job
        assert verify(Archive.open(path), read_data=True).ok, n
    assert rebuild_index_in_child(make(tmp_path / "whole"), steps + 1) == 0


def test_remove_journal(tmp_path: Path) -> None:
    archive = Archive.init(tmp_path / "a")
    archive.journal("backup-x").append({"uid": 1})
    assert (archive.layout.journals / "backup-x.journal").exists()
    archive.remove_journal("backup-x")
    assert not (archive.layout.journals / "backup-x.journal").exists()
    assert list(archive.journal("backup-x")) == []
    archive.remove_journal("backup-x")  # already gone: fine
    with pytest.raises(UsageError):
        archive.remove_journal("../archive.json")
    assert (archive.path / "archive.json").exists()


def test_unreadable_unindexed_pack_stays_an_error_naming_the_blob(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    bad = json.loads((DAMAGED / "expected-findings.json").read_text())
    blob = bad["reject"]["arg"]
    for p in (path / "packs").rglob("*"):  # cut every pack's trailer: nothing can stand in for the segment
        if p.is_file():
            p.write_bytes(p.read_bytes()[:-4])
    with pytest.raises(IntegrityError, match=blob[:12]):
        Archive.open(path).get_blob(blob)


def test_cli_verify_repair_index(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    runner = CliRunner()
    before = runner.invoke(app, ["verify", str(path), "--json"])
    assert before.exit_code == 13 and json.loads(before.stdout)["damage"][0]["kind"] == "index"
    res = runner.invoke(app, ["verify", str(path), "--repair-index", "--read-data", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    bad = json.loads((DAMAGED / "expected-findings.json").read_text())["damage"][0]["id"]
    assert doc["ok"] and doc["index_repair"]["damaged_segments"] == [bad] and doc["damage"] == []
    again = runner.invoke(app, ["verify", str(path), "--repair-index"])
    assert again.exit_code == 0 and "nothing to repair" in again.stdout
