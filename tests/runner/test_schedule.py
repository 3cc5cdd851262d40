"""`schedule install --print`: units that `systemd-analyze verify` accepts and whose ExecStart line, run as
it is, backs up; the crontab line runs too; a unit we did not write is never replaced."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver import Archive
from archiver.cli import app
from archiver.runner.schedule import systemd_user_running
from tests.conftest import require_tool
from tests.servers.dovecot import DovecotServer

runner = CliRunner()


def units_of(printed: str) -> dict[str, str]:
    parts = re.split(r"^# (/\S+\.(?:service|timer))\n", printed, flags=re.M)
    pairs = zip(parts[1::2], parts[2::2], strict=True)
    return {Path(name).name: body.rstrip() + "\n" for name, body in pairs}


def analyze(unit_dir: Path, runtime: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze --user verify` of the units in ``unit_dir`` (warnings count as failures)."""
    runtime.mkdir(mode=0o700, exist_ok=True)
    names = sorted(str(p) for p in unit_dir.iterdir())
    return subprocess.run(["systemd-analyze", "--user", "verify", *names], capture_output=True, text=True,
                          env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)}, timeout=60, check=False)


def bare_env(home: Path) -> dict[str, str]:
    """What a timer or cron job gets: no venv, a short PATH, a HOME (ours, for the state dir)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


@pytest.fixture
def config(dovecot: DovecotServer, tmp_path: Path) -> Path:
    dovecot.add_user("carol", "sched-pw-5t")
    dovecot.write_maildir("carol", "INBOX", [b"Subject: hi\r\nMessage-ID: <1@x>\r\n\r\nhello\r\n"])
    (tmp_path / "pw").write_text("sched-pw-5t\n")
    cfg = tmp_path / "conf dir" / "config.toml"  # a space: the paths in the units must be quoted
    cfg.parent.mkdir()
    cfg.write_text(f'[accounts.carol]\nsource = "imap://carol@127.0.0.1:{dovecot.port}"\n'
                   f'archive = "{tmp_path}/archive"\npassword_command = "cat {tmp_path}/pw"\nkeep_last = 3\n')
    assert runner.invoke(app, ["init", str(tmp_path / "archive")]).exit_code == 0
    return cfg


def test_systemd_units_verify_and_exec_start_runs(config: Path, tmp_path: Path) -> None:
    require_tool("systemd-analyze", "systemd")
    res = runner.invoke(app, ["schedule", "install", "--print", "--backend", "systemd",
                              "--config", str(config), "--every", "*-*-* 03:30"])
    assert res.exit_code == 0, res.output
    units = units_of(res.stdout)
    assert set(units) == {"gmail-archiver.service", "gmail-archiver.timer"}
    timer, service = units["gmail-archiver.timer"], units["gmail-archiver.service"]
    for line in ("Persistent=true", "OnCalendar=*-*-* 03:30", "WantedBy=timers.target"):
        assert line in timer.splitlines()
    assert "RandomizedDelaySec=30min" in timer
    for line in ("Nice=19", "IOSchedulingClass=idle", "TimeoutStartSec=6h", "Type=oneshot"):
        assert line in service.splitlines()
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    for name, text in units.items():
        (unit_dir / name).write_text(text)
    checked = analyze(unit_dir, tmp_path / "runtime")
    assert checked.returncode == 0 and checked.stderr == "" and checked.stdout == "", checked
    # the check can fail: an out-of-range value is reported
    (unit_dir / "gmail-archiver.service").write_text(service.replace("Nice=19", "Nice=99"))
    assert "Nice" in analyze(unit_dir, tmp_path / "runtime").stderr

    exec_start = next(x for x in service.splitlines() if x.startswith("ExecStart="))
    assert f'"{config}"' in exec_start  # quoted for systemd (and for sh)
    command = exec_start.removeprefix("ExecStart=").replace("%%", "%").replace("$$", "$")
    proc = subprocess.run(["sh", "-c", command], env=bare_env(tmp_path / "home"), capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("carol: ok: backup ")
    assert len(Archive.open(tmp_path / "archive").snapshots()) == 1


def test_cron_line_runs_and_holds_a_lock(config: Path, tmp_path: Path) -> None:
    require_tool("flock", "util-linux")
    res = runner.invoke(app, ["schedule", "install", "--print", "--backend", "cron", "--config", str(config),
                              "--every", "hourly"])
    assert res.exit_code == 0, res.output
    line = res.stdout.strip()
    assert line.startswith("17 * * * * flock -n ") and line.endswith("# gmail-archiver schedule")
    command = line.split(" ", 5)[5]
    home = tmp_path / "home"
    lock = Path(os.environ["HOME"]) / ".local/state/gmail-archiver/cron.lock"  # the installing user's
    assert f"flock -n {lock} nice -n 19 ionice -c 3 " in command
    lock.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["sh", "-c", command], env=bare_env(home), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert len(Archive.open(tmp_path / "archive").snapshots()) == 1
    # while another run holds the lock, cron's run is skipped (flock -n exits 1, nothing backed up)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.run(["sh", "-c", command], env=bare_env(home), capture_output=True, text=True,
                              timeout=120, check=False)
    assert proc.returncode == 1 and len(Archive.open(tmp_path / "archive").snapshots()) == 1


def test_install_never_replaces_a_foreign_unit(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[accounts.a]\nsource = "imap://x@127.0.0.1:9"\narchive = "a"\npassword_command = "x"\n')
    unit = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd/user/gmail-archiver.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/bin/true\n")
    res = runner.invoke(app, ["schedule", "install", "--backend", "systemd", "--config", str(cfg)])
    assert res.exit_code == 1 and "was not written by gmail-archiver; left as it is" in res.stderr
    assert unit.read_text() == "[Service]\nExecStart=/bin/true\n"
    res = runner.invoke(app, ["schedule", "install", "--backend", "systemd", "--config", str(cfg), "--print",
                              "--every", "not a calendar"])
    if shutil.which("systemd-analyze"):
        assert res.exit_code == 2 and "not a systemd calendar expression" in res.stderr
    res = runner.invoke(app, ["schedule", "install", "--backend", "cron", "--config", str(cfg), "--print",
                              "--every", "Mon 02:30"])
    assert res.exit_code == 2 and "cron needs hourly, daily or five cron fields" in res.stderr


def test_status_and_remove_touch_only_our_files(tmp_path: Path) -> None:
    if systemd_user_running():  # remove would disable the real user's timer through systemctl --user
        pytest.skip("a systemd user manager runs here")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[accounts.a]\nsource = "imap://x@127.0.0.1:9"\narchive = "a"\npassword_command = "x"\n')
    res = runner.invoke(app, ["schedule", "status"])
    assert res.exit_code == 0 and "no schedule installed" in res.stdout
    printed = runner.invoke(app, ["schedule", "install", "--print", "--backend", "systemd", "--config",
                                  str(cfg)]).stdout
    unit_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd/user"
    unit_dir.mkdir(parents=True)
    units = units_of(printed)
    (unit_dir / "gmail-archiver.timer").write_text(units["gmail-archiver.timer"])
    (unit_dir / "gmail-archiver.service").write_text("[Service]\nExecStart=/bin/true\n")  # not ours
    res = runner.invoke(app, ["schedule", "status"])
    assert "gmail-archiver.timer: written by gmail-archiver" in res.stdout
    assert "gmail-archiver.service: NOT written by gmail-archiver" in res.stdout
    res = runner.invoke(app, ["schedule", "remove"])
    assert res.exit_code == 0 and f"removed {unit_dir / 'gmail-archiver.timer'}" in res.stdout
    assert not (unit_dir / "gmail-archiver.timer").exists()
    assert (unit_dir / "gmail-archiver.service").read_text() == "[Service]\nExecStart=/bin/true\n"
