"""`gmail-archiver init` and `stats` through the real console entry point (typer CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from archiver.cli import app
from archiver.store import Archive
from tests.store.conftest import record


def test_init_then_stats_json(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "arch"
    res = runner.invoke(app, ["init", str(target)])
    assert res.exit_code == 0, res.output
    assert (target / "archive.json").exists()
    assert runner.invoke(app, ["init", str(target)]).exit_code == 2  # not empty any more
    archive = Archive.open(target)
    with archive.writer("me@example.org") as w:
        ids = [w.put_blob(f"message {i}\r\n".encode() * 50) for i in range(5)]
        w.commit([record(f"k{i}", b) for i, b in enumerate(ids)], [], source="imap://me@example.org")
    res = runner.invoke(app, ["stats", str(target), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["blobs"] == 5 and doc["snapshots"] == 1 and doc["accounts"] == ["me@example.org"]
    assert doc["raw_bytes"] == 5 * 50 * len(b"message 0\r\n") and doc["ratio"] > 1
    text = runner.invoke(app, ["stats", str(target)])
    assert text.exit_code == 0 and "me@example.org" in text.stdout


def test_stats_missing_archive_exits_10(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["stats", str(tmp_path / "none"), "--json"])
    assert res.exit_code == 10
    assert json.loads(res.stdout)["error"]["type"] == "ArchiveNotFound"
