"""The golden archives of formats/golden: valid ones decode to expected.json, damaged ones are rejected
with an error naming what is damaged (a damaged index segment: named in index_problems, reads go on), and
the generator still writes them byte for byte."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from archiver import errors
from archiver.store import Archive, codec
from archiver.store.index import load_index, rebuild_from_packs

GOLDEN = Path(__file__).resolve().parents[2] / "formats" / "golden"
VALID = ["v1-minimal", "v1-incremental", "v1-dictionary", "v2-minimal", "v2-incremental", "v2-dictionary"]
DAMAGED = sorted(d.name for d in GOLDEN.iterdir() if (d / "expected-findings.json").exists())


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record_json(r: Any) -> dict[str, Any]:
    return {"key": r.key, "blob_id": r.blob_id, "size": r.size, "internaldate": r.internaldate,
            "tz_minutes": r.tz_minutes, "flags": list(r.flags), "labels": list(r.labels),
            "thread_id": r.thread_id,
            "message_id": r.message_id, "uids": [list(u) for u in r.uids], "gm_msgid": r.gm_msgid,
            "gm_thrid": r.gm_thrid}


@pytest.mark.parametrize("name", VALID)
def test_valid_golden_decodes_to_expected(name: str) -> None:
    expected = json.loads((GOLDEN / name / "expected.json").read_text())
    archive = Archive.open(GOLDEN / name / "archive")
    infos = archive.snapshots()
    assert [i.id for i in infos] == [s["id"] for s in expected["snapshots"]]
    for info, want in zip(infos, expected["snapshots"], strict=True):
        snap = archive.load(info.id)
        assert info.time.isoformat() == want["time"] and info.account == want["account"]
        assert (info.parent, info.partial, info.stats, info.message_count) == \
            (want["parent"], want["partial"], want["stats"], want["message_count"])
        folders = [[f.name, f.uidvalidity, f.uidnext, f.highestmodseq, f.role] for f in snap.folders]
        assert folders == want["folders"]
        assert [_record_json(r) for r in snap] == want["records"]
        for r in want["records"]:
            assert snap.get(r["key"]) is not None
    for blob_id, rel in expected["blobs"].items():
        assert archive.get_blob(blob_id) == (GOLDEN / name / rel).read_bytes()
    st = archive.stats()
    assert {"packs": st.packs, "blobs": st.blobs, "pages": st.pages, "raw_bytes": st.raw_bytes,
            "dictionaries": len(st.dictionaries)} == expected["counts"]
    root = GOLDEN / name / "archive"
    assert rebuild_from_packs(root / "packs").as_mapping() == load_index(root / "index").as_mapping()


def test_generator_writes_the_goldens_byte_for_byte(tmp_path: Path) -> None:
    _generator().generate(tmp_path)
    made = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {p.relative_to(GOLDEN): p.read_bytes() for p in GOLDEN.rglob("*")
                 if p.is_file() and p.parent != GOLDEN}
    assert sorted(made) == sorted(committed)
    assert [k for k in made if made[k] != committed[k]] == []


@pytest.mark.parametrize("name", DAMAGED)
def test_damaged_golden_is_rejected_naming_the_damage(name: str) -> None:
    findings = json.loads((GOLDEN / name / "expected-findings.json").read_text())
    reject = findings["reject"]
    archive = Archive.open(GOLDEN / name / "archive")
    if {d["kind"] for d in findings["damage"]} == {"index"}:
        # the index is derived data: readers fall back to the packs' TOCs (formats/invariants.md) and name
        # the damaged segment in index_problems instead of raising
        assert reject["call"] == "get_blob"
        assert codec.sha256_hex(archive.get_blob(reject["arg"])) == reject["arg"]
        assert [s for s in archive.index_problems if s.startswith(reject["names"])]
        return
    error = getattr(errors, reject["error"])
    with pytest.raises(error, match=reject["names"]):
        if reject["call"] == "get_blob":
            archive.get_blob(reject["arg"])
        elif reject["call"] == "load":
            list(archive.load(reject["arg"]))
        else:
            archive.snapshots()
    if name == "v1-damaged-snapshot-record":  # the other snapshot stays listed and loadable
        bad = findings["damage"][0]["id"]
        listed = [i.id for i in archive.snapshots()]
        assert listed and bad not in listed and bad in archive.unreadable_snapshots
        for info in archive.snapshots():
            assert list(archive.load(info.id))
    assert findings["damage"] and all(d["kind"] in {"pack", "blob", "index", "page", "snapshot", "dict"}
                                      for d in findings["damage"])
