"""A locked archive names who holds the lock, whether it still runs, and what to do (real processes hold
real flocks)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from archiver import Archive
from archiver.cli import app
from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, USER

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _holder(script: str) -> subprocess.Popen[str]:
    """A child process running ``script``; it prints "ready" once it holds what it should."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_lock_held_by_the_child_of_a_dead_process(emu: GmailEmulator, tmp_path: Path) -> None:
    """The recorded holder exited, a process it started still holds the flock: say exactly that."""
    archive = tmp_path / "a"
    Archive.init(archive)
    account = f"{USER}@127.0.0.1"
    child_pid_file = tmp_path / "child"
    holder = _holder(f"""
        import os, sys, time
        from pathlib import Path
        from archiver.store.lock import lock_account
        lock = lock_account(Path({str(archive / "locks")!r}), {account!r})
        child = os.fork()
        if child == 0:  # inherits the locked descriptor, outlives its parent
            sys.stdout.write("ready\\n"); sys.stdout.flush()
            time.sleep(60); os._exit(0)
        Path({str(child_pid_file)!r}).write_text(str(child))
        os._exit(0)
    """)
    try:
        holder.wait(timeout=10)  # the recorded holder is gone; its child holds the lock
        result = runner.invoke(app, ["backup", str(archive), f"imap://me%40gmail.com@127.0.0.1:{emu.port}",
                                     "--json"], env={"GMAIL_ARCHIVER_PASSWORD": PASSWORD})
    finally:
        os.kill(int(child_pid_file.read_text()), 9)
        _stop(holder)
    assert result.exit_code == 11, result.output
    error = json.loads(result.stdout)["error"]
    assert f"pid {holder.pid} on {socket.gethostname()}, which is no longer running" in error["message"]
    assert "no stale lock to delete" in error["hint"] and "fuser -v" in error["hint"]


def test_prune_blocked_by_a_backup_names_the_backup_not_the_last_prune(tmp_path: Path) -> None:
    """Writers hold the archive lock shared and leave no record in it: its text is the last prune's pid."""
    archive = tmp_path / "a"
    Archive.init(archive)
    stale = f"pid {_dead_pid()} on {socket.gethostname()}"
    (archive / "locks").mkdir(exist_ok=True)
    (archive / "locks" / "archive.lock").write_text(stale + "\n")
    writer = _holder(f"""
        import sys, time
        from archiver.store import Archive
        w = Archive.open({str(archive)!r}).writer("x@example.com")
        sys.stdout.write("ready\\n"); sys.stdout.flush()
        time.sleep(60)
    """)
    try:
        result = runner.invoke(app, ["prune", str(archive), "--json"])
    finally:
        _stop(writer)
    assert result.exit_code == 11, result.output
    error = json.loads(result.stdout)["error"]
    assert f"pid {writer.pid} on {socket.gethostname()} (running)" in error["message"]
    assert stale not in error["message"]
    assert "a backup is running" in error["hint"]
