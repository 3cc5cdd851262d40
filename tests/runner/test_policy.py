"""`run_accounts` (the library): when prune and verify are due, the prune threshold, the slice rotation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from archiver import AccountResult, Archive, load_config, run_accounts
from archiver.emulator import GmailEmulator
from archiver.runner import run as run_module
from archiver.store.lock import lock_account
from tests.helpers.emulator import PASSWORD, Mail

MONDAY = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    return (Mail(10, seed=4),)


def steps(r: AccountResult) -> dict[str, tuple[str, str]]:
    return {s.step: (s.status, s.message) for s in r.steps}


def test_prune_weekly_and_verify_daily(emu: GmailEmulator, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[accounts.me]\nsource = "imap://me%40gmail.com@127.0.0.1:{emu.port}"\narchive = "a"\n'
                   f'password_command = "echo {PASSWORD}"\nkeep_last = 1\nprune = "weekly"\n'
                   'verify = "daily"\nverify_subset = 2\n')
    config = load_config(cfg)
    now = [MONDAY]

    def run() -> dict[str, tuple[str, str]]:
        report = run_accounts(config, init=True, clock=lambda: now[0], state_root=tmp_path / "state",
                              log_file=None)
        assert report.exit_code == 0, report.accounts[0].summary()
        return steps(report.accounts[0])

    first = run()
    assert first["prune"][0] == "ok" and first["verify"][0] == "ok"
    now[0] = MONDAY + dt.timedelta(hours=1)
    second = run()
    assert second["prune"] == ("skipped", "weekly; last 2026-11-30")
    assert second["verify"] == ("skipped", "daily")
    assert second["forget"][0] == "ok"
    now[0] = MONDAY + dt.timedelta(days=1)
    third = run()
    assert third["prune"][0] == "skipped" and third["verify"][0] == "ok"
    now[0] = MONDAY + dt.timedelta(days=7)
    assert run()["prune"][0] == "ok"
    # the slices went 1/2 (Monday), 2/2 (Tuesday), 1/2 (next Monday): next Tuesday reads 2/2
    report = run_accounts(config, clock=lambda: MONDAY + dt.timedelta(days=8), state_root=tmp_path / "state",
                          log_file=None)
    verify = next(s for s in report.accounts[0].steps if s.step == "verify")
    assert verify.figures["subset"] == "2/2"


@pytest.mark.parametrize(("threshold", "status"), [("100%", "skipped"), ("0%", "ok"), ("1G", "skipped")])
def test_prune_threshold(emu: GmailEmulator, tmp_path: Path, threshold: str, status: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[accounts.me]\nsource = "imap://me%40gmail.com@127.0.0.1:{emu.port}"\narchive = "a"\n'
                   f'password_command = "echo {PASSWORD}"\nprune = "{threshold}"\n')
    report = run_accounts(load_config(cfg), init=True, state_root=tmp_path / "state", log_file=None)
    got = steps(report.accounts[0])["prune"]
    assert got[0] == status and report.exit_code == 0
    if status == "skipped":
        assert got[1].startswith("0 bytes (0.0%) reclaimable; prunes when >= ")


def test_an_archive_another_backup_holds_is_skipped(emu: GmailEmulator, tmp_path: Path) -> None:
    """A manual backup of the same account holds the archive's account lock: run skips it (11), no hook."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[accounts.me]\nsource = "imap://me%40gmail.com@127.0.0.1:{emu.port}"\narchive = "a"\n'
                   f'password_command = "echo {PASSWORD}"\non_failure = "touch {tmp_path}/hook-ran"\n')
    archive = Archive.init(tmp_path / "a")
    with lock_account(archive.layout.locks, "me@gmail.com@127.0.0.1"):
        report = run_accounts(load_config(cfg), state_root=tmp_path / "state", log_file=None)
    (result,) = report.accounts
    assert report.exit_code == 11 and result.status == "locked"
    assert result.summary().startswith("locked: skipped: another backup of this account is running (account "
                                       "me@gmail.com@127.0.0.1 is locked by pid ")
    assert not (tmp_path / "hook-ran").exists() and len(result.steps) == 1


def test_log_rotates_and_a_failing_hook_counts(emu: GmailEmulator, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[accounts.me]\nsource = "imap://me%40gmail.com@127.0.0.1:{emu.port}"\narchive = "a"\n'
                   f'password_command = "echo {PASSWORD}"\non_success = "exit 7"\n')
    monkeypatch.setattr(run_module, "LOG_BYTES", 600)
    log = tmp_path / "logs" / "run.log"
    for _ in range(3):
        report = run_accounts(load_config(cfg), init=True, state_root=tmp_path / "state", log_file=log)
    (result,) = report.accounts
    hook = result.steps[-1]
    assert (hook.step, hook.status, hook.exit_code) == ("on_success", "failed", 1)
    assert hook.message == "on_success hook failed: exit status 7" and report.exit_code == 1
    assert result.failed_step is hook and result.status == "failed"
    assert (tmp_path / "logs" / "run.log.1").exists() and log.stat().st_size <= 2000
