"""Secrets never reach output, logs (even the -vv IMAP conversation) or the archive."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD

SECRET = PASSWORD
"""The app password of the standard account (tests.helpers.emulator)."""


def _run(args: list[str], password: str) -> subprocess.CompletedProcess[bytes]:
    env = {"GMAIL_ARCHIVER_PASSWORD": password, "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    return subprocess.run([sys.executable, "-m", "archiver", *args], env=env, capture_output=True,
                          timeout=120, check=False)


def test_verbose_backup_and_failed_login_never_show_the_password(emu: GmailEmulator, tmp_path: Path) -> None:
    emu.seed("me@gmail.com", b"Subject: hi\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n", labels=("\\Inbox",))
    url = f"imap://me%40gmail.com@127.0.0.1:{emu.port}"
    archive = tmp_path / "a"
    ok = _run(["-vv", "backup", str(archive), url, "--init", "--json"], SECRET)
    assert ok.returncode == 0, ok.stderr.decode()
    assert b"LOGIN" in ok.stderr  # the wire log really was on
    bad = _run(["-vv", "backup", str(archive), url], SECRET + "-wrong")
    assert bad.returncode == 12
    for proc in (ok, bad):
        assert SECRET.encode() not in proc.stdout + proc.stderr
    stored = [p for p in archive.rglob("*") if p.is_file()]
    assert stored
    assert not [p for p in stored if SECRET.encode() in p.read_bytes()]
