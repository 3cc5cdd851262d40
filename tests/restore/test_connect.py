"""The first connection of a restore is not retried: a closed port is reported at once (exit 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from archiver import ConnectionLost, restore
from archiver.imap import Credentials, RetryPolicy
from tests.restore.helpers import Msg, Notes, build_archive, message
from tests.servers.dovecot import free_port

REPO = Path(__file__).resolve().parents[2]


def test_closed_port_fails_without_retrying(tmp_path: Path) -> None:
    build_archive(tmp_path / "a", [Msg(message(1))])
    sleeps: list[float] = []
    notes = Notes()
    with pytest.raises(ConnectionLost):
        restore(tmp_path / "a", f"imap://alice@127.0.0.1:{free_port()}",
                credentials=Credentials(password="x"), retry=RetryPolicy(sleep=sleeps.append), progress=notes)
    assert sleeps == [] and notes.notes == []          # no back-off, no "reconnecting" before the error


def test_cli_closed_port_exits_1_without_reconnecting(tmp_path: Path) -> None:
    build_archive(tmp_path / "a", [Msg(message(1))])
    env = {**os.environ, "GMAIL_ARCHIVER_PASSWORD": "x"}
    p = subprocess.run([sys.executable, "-m", "archiver", "restore", str(tmp_path / "a"),
                        f"imap://alice@127.0.0.1:{free_port()}", "--progress"],
                       cwd=REPO, env=env, capture_output=True, timeout=120)
    assert p.returncode == 1, p.stderr
    assert b"reconnecting" not in p.stderr and b"127.0.0.1" in p.stderr
