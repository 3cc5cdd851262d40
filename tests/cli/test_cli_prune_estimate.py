"""`prune --dry-run` estimates what the real prune leaves, repacking included."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from typer.testing import CliRunner

from archiver.cli import app
from archiver.store import Archive
from tests.query.builder import commit, make_records, synthetic_messages

runner = CliRunner()


def run(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_dry_run_estimate_includes_repacking(tmp_path: Path) -> None:
    path = tmp_path / "a"
    a = Archive.init(path)
    recs = make_records(a, synthetic_messages(40, size=3000))
    commit(a, recs, dt.datetime(2024, 4, 1, tzinfo=dt.UTC))
    commit(a, recs[:8], dt.datetime(2024, 4, 2, tzinfo=dt.UTC))  # 8 of the pack's 40 bodies stay live
    run("forget", str(path), "--keep-last", "1")
    planned = run("prune", str(path), "--dry-run")
    assert planned["dry_run"] and planned["packs_repacked"] >= 1
    done = run("prune", str(path))
    assert done["packs_repacked"] == planned["packs_repacked"] and done["bytes_after"] < done["bytes_before"]
    assert planned["bytes_after"] == done["bytes_after"]
