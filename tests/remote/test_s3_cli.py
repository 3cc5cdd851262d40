"""The command line on s3:// archives: global --s3-* options, `copy` (text, --json, exit 13 on damage),
and no credential on the command line or in what is printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver import Archive, S3Options, UsageError, load_config, set_s3_defaults
from archiver.cli import app
from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, Mail, emu_url
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


@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    return (Mail(15, seed=2),)


def test_run_backs_up_a_config_account_into_s3_with_the_config_s3_table(s3: S3Service, s3_url: str,
                                                                         emu: GmailEmulator,
                                                                         tmp_path: Path) -> None:
    """[s3] gives the service, an account's archive is an s3:// URL; run, then backup --account, reach it."""
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[s3]\nendpoint = "{s3.endpoint}"\nregion = "us-east-1"\npath_style = true\n\n'
                   f'[accounts.mail]\nsource = "{emu_url(emu)}"\narchive = "{s3_url}"\n'
                   f'password_command = "cat {secret}"\nverify_subset = 1\n')
    try:
        res = runner.invoke(app, ["run", "--config", str(cfg), "--init", "--json"])
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        assert doc["accounts"][0]["archive"] == s3_url and doc["accounts"][0]["status"] == "ok"
        assert not (tmp_path / "s3:").exists()
        again = runner.invoke(app, ["backup", "--account", "mail", "--config", str(cfg), "--json"])
        assert again.exit_code == 0, again.output
        set_s3_defaults(S3Options(endpoint=s3.endpoint, path_style=True))
        assert len(Archive.open(s3_url).snapshots()) == 2
    finally:
        set_s3_defaults(S3Options())


def test_the_config_s3_table_is_checked(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[s3]\nendpoint = "http://x"\nsecret_access_key = "no"\n\n'
                   '[accounts.a]\nsource = "imap://u@h"\narchive = "a"\npassword_command = "true"\n')
    with pytest.raises(UsageError, match=r"s3\.secret_access_key.*unknown key"):
        load_config(cfg)
