"""`gmail-archiver run` over three accounts (two emulated Gmail, one Dovecot; one failing on purpose):
snapshots, hooks, exit codes, retention, the verify rotation, locks, and no secret in any output."""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver import Archive
from archiver.cli import app
from archiver.emulator import GmailEmulator
from archiver.runner.state import state_file
from tests.backup.helpers import corpus_messages
from tests.helpers.emulator import PASSWORD, Mail, seed_mail
from tests.servers.dovecot import DovecotServer

runner = CliRunner()
GOOD_PW = PASSWORD  # me@gmail.com's (the standard account's) app password
BAD_PW = "wrong-pw-77zz"
DOVE_PW = "dove-pass-9x7q"
SECRETS = (GOOD_PW, BAD_PW, DOVE_PW)


@pytest.fixture
def emu_accounts() -> dict[str, str | None]:
    return {"work@gmail.com": "the-real-one-x1"}


@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    return (Mail(20, seed=1),)


def _secret_file(tmp: Path, name: str, value: str) -> str:
    path = tmp / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return f"cat {path}"


def write_config(tmp: Path, emu: GmailEmulator, dove: DovecotServer) -> Path:
    cfg = tmp / "config.toml"
    cfg.write_text(f"""
# three accounts, the second with a wrong app password
[accounts.personal]
source = "imap://me%40gmail.com@127.0.0.1:{emu.port}"
archive = "archives/personal"
password_command = "{_secret_file(tmp, 'pw-personal', GOOD_PW)}"
keep_last = 1
prune = "always"
verify_subset = 3
on_success = "env > {tmp}/hook-personal.env"

[accounts.work]
source = "imap://work%40gmail.com@127.0.0.1:{emu.port}"
archive = "archives/work"
password_command = "{_secret_file(tmp, 'pw-work', BAD_PW)}"
on_failure = "env > {tmp}/hook-work.env; exit 0"

[accounts.dovecot]
source = "imap://bob@127.0.0.1:{dove.port}"
archive = "archives/dovecot"
password_command = "{_secret_file(tmp, 'pw-dove', DOVE_PW)}"
verify_subset = 1
""")
    return cfg


def hook_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines()
                if line.startswith("GMAIL_ARCHIVER_"))


def every_file_text(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink())


def test_run_three_accounts(emu: GmailEmulator, dovecot: DovecotServer, corpus_dir: Path, tmp_path: Path
                            ) -> None:
    dovecot.add_user("bob", DOVE_PW)
    dovecot.write_maildir("bob", "INBOX", corpus_messages(corpus_dir, limit=15))
    cfg = write_config(tmp_path, emu, dovecot)
    state = Path(os.environ["HOME"]) / ".local" / "state" / "gmail-archiver"

    res = runner.invoke(app, ["run", "--config", str(cfg), "--init", "--json"])
    assert res.exit_code == 12, res.output  # the worst: work's authentication failure
    doc = json.loads(res.stdout)
    by = {a["name"]: a for a in doc["accounts"]}
    assert [a["name"] for a in doc["accounts"]] == ["personal", "work", "dovecot"]
    assert by["personal"]["status"] == "ok" and by["dovecot"]["status"] == "ok"
    assert by["work"]["status"] == "failed" and by["work"]["exit_code"] == 12
    steps = {s["step"]: s for s in by["personal"]["steps"]}
    assert steps["backup"]["figures"]["messages"] == 20 and steps["backup"]["exit_code"] == 0
    assert steps["verify"]["figures"]["subset"] == "1/3"
    assert steps["verify"]["figures"]["next_subset"] == "2/3"
    assert steps["prune"]["status"] == "ok" and steps["forget"]["figures"] == {"forgotten": 0, "kept": 1}
    dsteps = {s["step"]: s for s in by["dovecot"]["steps"]}
    assert dsteps["backup"]["figures"]["messages"] == 15 and dsteps["verify"]["figures"]["read_data"]
    assert dsteps["verify"]["figures"]["bytes_read"] > 0 and dsteps["forget"]["status"] == "skipped"
    wsteps = {s["step"]: s for s in by["work"]["steps"]}
    assert wsteps["backup"]["status"] == "failed" and wsteps["backup"]["exit_code"] == 12
    assert "refused the login" in wsteps["backup"]["message"]
    assert wsteps["on_failure"]["status"] == "ok"
    assert len(Archive.open(tmp_path / "archives/personal").snapshots()) == 1
    assert len(Archive.open(tmp_path / "archives/dovecot").snapshots()) == 1
    assert Archive.open(tmp_path / "archives/work").snapshots() == []

    env = hook_env(tmp_path / "hook-work.env")
    assert env["GMAIL_ARCHIVER_ACCOUNT"] == "work" and env["GMAIL_ARCHIVER_EXIT_CODE"] == "12"
    assert env["GMAIL_ARCHIVER_FAILED_STEP"] == "backup" and env["GMAIL_ARCHIVER_STATUS"] == "failed"
    assert env["GMAIL_ARCHIVER_ARCHIVE"] == str(tmp_path / "archives/work")
    assert "backup FAILED (exit 12)" in env["GMAIL_ARCHIVER_SUMMARY"]
    ok_env = hook_env(tmp_path / "hook-personal.env")
    assert ok_env["GMAIL_ARCHIVER_STATUS"] == "ok" and ok_env["GMAIL_ARCHIVER_EXIT_CODE"] == "0"
    assert ok_env["GMAIL_ARCHIVER_FAILED_STEP"] == ""

    # second run, text output: retention forgets the first snapshot, verify reads the next slice
    seed_mail(emu, Mail(5, seed=9))
    res = runner.invoke(app, ["run", "--config", str(cfg)])
    assert res.exit_code == 12
    lines = res.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("personal: ok: backup ")
    assert lines[1].startswith("dovecot: ok")
    assert "25 messages, 5 new" in lines[0] and "forget 1 of 2 snapshots" in lines[0]
    assert "verify slice 2/3 ok" in lines[0]
    assert res.stderr.startswith("work: failed: backup FAILED (exit 12)")
    snaps = Archive.open(tmp_path / "archives/personal").snapshots()
    assert len(snaps) == 1 and snaps[0].message_count == 25

    # a third run (JSON) wraps around after 3/3; the rotation is persisted between processes
    res = runner.invoke(app, ["run", "personal", "--config", str(cfg), "--json"])
    assert res.exit_code == 0
    verify_step = next(s for s in json.loads(res.stdout)["accounts"][0]["steps"] if s["step"] == "verify")
    assert verify_step["figures"]["subset"] == "3/3" and verify_step["figures"]["next_subset"] == "1/3"

    # the log file says what each step did; no secret anywhere: output, log, state, archives, hooks' files
    log_text = (state / "run.log").read_text()
    assert (state / "run.log").stat().st_mode & 0o777 == 0o600 and state.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o077 == 0 for p in (state / "accounts").iterdir())
    assert "personal: backup " in log_text and "work: exit 12" in log_text
    everything = res.output.encode() + every_file_text(state) + every_file_text(tmp_path / "archives")
    for name in ("hook-work.env", "hook-personal.env"):
        everything += (tmp_path / name).read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in everything


def test_locked_account_is_skipped_or_waited_for(tmp_path: Path) -> None:
    """A second run of an account while one holds its lock: skipped with a clear line (11), or --wait."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[accounts.a]\nsource = "imap://x@127.0.0.1:9"\narchive = "{tmp_path}/none"\n'
                   'password_command = "echo x"\n')
    state = Path(os.environ["HOME"]) / ".local" / "state" / "gmail-archiver"
    lock = state_file(state, "a").with_suffix(".lock")
    lock.parent.mkdir(parents=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"pid 4242\n")
    try:
        res = runner.invoke(app, ["run", "--config", str(cfg)])
        assert res.exit_code == 11, res.output
        assert "a: locked: skipped: another run of this account is going on (pid 4242)" in res.stderr
        timer = threading.Timer(0.5, lambda: fcntl.flock(fd, fcntl.LOCK_UN))
        timer.start()
        res = runner.invoke(app, ["run", "--config", str(cfg), "--wait", "--json"])
        timer.join()
    finally:
        os.close(fd)
    # waited, then ran: no archive at the path (and no --init), so the backup says so
    doc = json.loads(res.stdout)
    assert res.exit_code == 10 and doc["accounts"][0]["steps"][0]["step"] == "backup"
    assert doc["accounts"][0]["status"] == "failed"
    assert doc["accounts"][0]["steps"][0]["hint"] == "the first run creates it: gmail-archiver run --init a"
