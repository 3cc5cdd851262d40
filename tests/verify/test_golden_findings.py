"""verify against the committed golden archives: the valid ones pass, each damaged one yields at least the
findings, damaged snapshots and affected messages its expected-findings.json names, at the right tier."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from archiver.ops.verify import verify
from archiver.store import Archive

GOLDEN = Path(__file__).resolve().parents[2] / "formats" / "golden"
DAMAGED = sorted(d.name for d in GOLDEN.glob("v1-*") if (d / "expected-findings.json").exists())
VALID = sorted(d.name for d in GOLDEN.glob("v1-*") if (d / "expected.json").exists())


@pytest.mark.parametrize("name", VALID)
def test_valid_golden_verifies(name: str) -> None:
    report = verify(Archive.open(GOLDEN / name / "archive"), read_data=True)
    assert report.ok, report.damage


@pytest.mark.parametrize("name", DAMAGED)
def test_damaged_golden_findings(name: str, tmp_path: Path) -> None:
    want = json.loads((GOLDEN / name / "expected-findings.json").read_text())
    root = tmp_path / "archive"  # verify writes its damage record into the archive: not into the repository
    shutil.copytree(GOLDEN / name / "archive", root)
    structure = verify(Archive.open(root))
    full = verify(Archive.open(root), read_data=True)
    assert structure.ok is bool(want["read_data_only"])
    assert not full.ok
    assert {(d["kind"], d["id"]) for d in want["damage"]} <= {(f.kind, f.id) for f in full.damage}
    assert set(want["damaged_snapshots"]) <= set(full.damaged_snapshots)
    assert set(want["affected"]) <= {f"{m.snapshot_id}/{m.key}" for m in full.affected_messages}
    assert len(full.damage) == len(set(full.damage))
    stored = {f.id for f in full.damage if f.kind == "blob" and "not in the index" not in f.detail}
    assert full.damage_recorded >= len(stored)  # damaged stored copies: the next backup downloads them again
