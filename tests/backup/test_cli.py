"""The backup and demo commands end to end (CliRunner, real sockets to the emulator): JSON, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from archiver import Archive
from archiver.cli import app
from archiver.emulator import GmailEmulator
from archiver.emulator.synth import generate
from tests.helpers.emulator import PASSWORD, USER, emu_url

runner = CliRunner()
KEYS = {"snapshot", "account", "mode", "messages", "new", "changed", "deleted", "bytes_downloaded",
        "bytes_stored", "duration_s", "complete", "checkpoints", "healed", "problems", "warnings"}


def test_backup_json_and_exit_codes(emu: GmailEmulator, tmp_path: Path) -> None:
    for m in generate(30, seed=2):
        emu.seed(USER, m.raw, labels=m.labels, flags=m.flags, internaldate=m.date)
    path = tmp_path / "a"
    env = {"GMAIL_ARCHIVER_PASSWORD": PASSWORD}
    # no archive and no --init: 10
    res = runner.invoke(app, ["backup", str(path), emu_url(emu), "--json"], env=env)
    assert res.exit_code == 10, res.output
    assert json.loads(res.stdout)["error"]["type"] == "ArchiveNotFound"
    # wrong password: 12, and the secret never appears
    res = runner.invoke(app, ["backup", str(path), emu_url(emu), "--init"],
                        env={"GMAIL_ARCHIVER_PASSWORD": "wrong-secret-xyz"})
    assert res.exit_code == 12 and "wrong-secret-xyz" not in res.output
    # no password at all and no terminal: 2
    res = runner.invoke(app, ["backup", str(path), emu_url(emu), "--init"], env={})
    assert res.exit_code == 2, res.output
    # password from a command; JSON with the documented keys
    res = runner.invoke(app, ["backup", str(path), emu_url(emu), "--init", "--json",
                              "--password-command", f"echo {PASSWORD}"], env={})
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) == KEYS and doc["complete"] and doc["messages"] == 30 and doc["mode"] == "gmail"
    assert PASSWORD not in res.output
    assert Archive.open(path).snapshots()[-1].id == doc["snapshot"]
    # text output, second run: nothing new
    res = runner.invoke(app, ["backup", str(path), emu_url(emu)], env=env)
    assert res.exit_code == 0 and "0 new" in res.stdout
    # an OAuth2 access token from a command (XOAUTH2)
    emu.add_account("oauth@gmail.com", oauth_token="ya29.token-xyz")
    url = emu_url(emu).replace("me%40gmail.com", "oauth%40gmail.com")
    res = runner.invoke(app, ["backup", str(tmp_path / "o"), url, "--init", "--json",
                              "--oauth2-token-command", "echo ya29.token-xyz"], env={})
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["account"] == "oauth@gmail.com@127.0.0.1"
    assert "ya29.token-xyz" not in res.output
    # the --json keys are documented in --help
    help_text = " ".join(runner.invoke(app, ["backup", "--help"]).output.split())
    assert all(k in help_text for k in KEYS)


def test_demo(tmp_path: Path) -> None:
    res = runner.invoke(app, ["demo", "--archive", str(tmp_path / "d"), "--messages", "60"])
    assert res.exit_code == 0, res.output
    assert "Backup 2 (incremental)" in res.stdout and "\\Trash" in res.stdout
    snaps = Archive.open(tmp_path / "d").snapshots()
    assert len(snaps) == 2 and not snaps[-1].partial
    assert snaps[-1].stats["bytes_downloaded"] < snaps[0].stats["bytes_downloaded"] / 5
    # again into the same archive: a new emulator is a new server, backed up as another account
    res = runner.invoke(app, ["demo", "--archive", str(tmp_path / "d"), "--messages", "60"])
    assert res.exit_code == 0, res.output
    accounts = [s.account for s in Archive.open(tmp_path / "d").snapshots()]
    assert accounts.count("demo@gmail.com@127.0.0.1") == 2
    assert accounts.count("demo-2@gmail.com@127.0.0.1") == 2
    assert "60 messages, downloaded" in res.stdout
