"""`gmail-archiver init` onto a path that cannot be an archive: a clear usage error (exit 2) saying why, and
nothing created or changed."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from archiver.cli import app

runner = CliRunner()


def _error(*args: str) -> dict[str, object]:
    res = runner.invoke(app, ["init", *args, "--json"])
    assert res.exit_code == 2, res.output
    error = json.loads(res.stdout)["error"]
    assert isinstance(error, dict) and error["type"] == "UsageError"
    return error


def test_init_onto_a_file_or_below_one(tmp_path: Path) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_bytes(b"mine")
    error = _error(str(afile))
    assert error["message"] == f"{afile} is a file, not a folder; an archive is a folder"
    assert f"init {afile}-archive" in str(error["hint"])
    error = _error(str(afile / "sub" / "archive"))
    assert error["message"] == f"cannot create {afile / 'sub' / 'archive'}: {afile} is a file, not a folder"
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_bytes(b"")
    assert "not empty" in str(_error(str(full))["message"])
    assert afile.read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "notes.txt"]
    text = runner.invoke(app, ["init", str(afile)])
    assert text.exit_code == 2 and "is a file, not a folder" in text.stderr and "hint:" in text.stderr
