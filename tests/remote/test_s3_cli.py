"""The command line on s3:// archives: global --s3-* options, `copy` (text, --json, exit 13 on damage),
and no credential on the command line or in what is printed."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from archiver import Archive, S3Options, set_s3_defaults
from archiver.cli import app
from tests.helpers.s3 import SECRET_KEY, S3Service
from tests.store.conftest import record

runner = CliRunner()


def _small_archive(path: Path) -> None:
    archive = Archive.init(path)
    with archive.writer("me@example.org") as w:
        w.commit([record(f"k{i}", w.put_blob(b"Subject: %d\r\n\r\nbody" % i)) for i in range(3)], (),
                 source="imap://h")


def test_cli_init_stats_copy_and_back(s3: S3Service, s3_url: str, tmp_path: Path) -> None:
    flags = ["--s3-endpoint", s3.endpoint, "--s3-region", "us-east-1", "--s3-path-style"]
    try:
        _small_archive(tmp_path / "a")
        up = runner.invoke(app, [*flags, "copy", str(tmp_path / "a"), s3_url, "--json"])
        assert up.exit_code == 0, up.output
        doc = json.loads(up.stdout)
        assert doc["ok"] and doc["snapshots_copied"] == 1 and doc["destination"] == s3_url
        stats = runner.invoke(app, [*flags, "stats", s3_url, "--json"])
        assert stats.exit_code == 0, stats.output
        assert json.loads(stats.stdout)["blobs"] == 3 and json.loads(stats.stdout)["snapshots"] == 1
        again = runner.invoke(app, [*flags, "copy", str(tmp_path / "a"), s3_url])
        assert again.exit_code == 0 and "copied 0 files" in again.stdout
        back = runner.invoke(app, [*flags, "copy", s3_url, str(tmp_path / "b")])
        assert back.exit_code == 0, back.output
        verify = runner.invoke(app, ["verify", str(tmp_path / "b"), "--read-data"])
        assert verify.exit_code == 0, verify.output
        for result in (up, stats, again, back):
            assert SECRET_KEY not in result.output
    finally:
        set_s3_defaults(S3Options())
