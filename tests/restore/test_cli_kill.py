"""The restore command end to end: --json document, exit codes, and kill -9 at random points then a re-run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import imapclient
import pytest

from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, USER
from tests.restore.helpers import BASE, Msg, build_archive, client, dovecot_state, message, state, url
from tests.servers.dovecot import DovecotServer

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "GMAIL_ARCHIVER_PASSWORD": PASSWORD}


def cli(*args: str, password: str = PASSWORD) -> subprocess.Popen[bytes]:
    env = {**ENV, "GMAIL_ARCHIVER_PASSWORD": password}
    return subprocess.Popen([sys.executable, "-m", "archiver", "restore", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_json_and_exit_codes(tmp_path: Path, emu: GmailEmulator) -> None:
    build_archive(tmp_path / "a", [Msg(message(1)), Msg(message(2, body="NUL \0 here"))])
    p = cli(str(tmp_path / "a"), url(emu), "--json")
    out, errs = p.communicate(timeout=60)
    assert p.returncode == 3, errs
    doc = json.loads(out)
    assert {"snapshot", "target", "uploaded", "relabelled", "untrashed", "conflicts", "already_present",
            "failed", "left"} <= set(doc)
    assert doc["uploaded"] == 1 and [f["message_id"] for f in doc["failed"]] == ["<2.restore@test>"]
    assert "app-password" not in out.decode() + errs.decode()
    p = cli(str(tmp_path / "a"), "latest", url(emu), "--dry-run")
    out, errs = p.communicate(timeout=60)
    assert p.returncode == 0, errs
    assert b"present  gm:1001" in out and b"cannot   gm:1002" in out


@pytest.mark.slow
def test_kill_9_at_random_points_then_rerun(tmp_path: Path, emu: GmailEmulator,
                                            make_emu: Callable[..., GmailEmulator]) -> None:
    rng = random.Random(7)
    n = 400
    msgs = [Msg(message(i, mid=None if i % 5 == 0 else "auto", size=rng.randrange(200, 3000)),
                labels=(("\\Inbox",), ("Work", "\\Starred"), ())[i % 3], date=BASE + i) for i in range(n)]
    build_archive(tmp_path / "a", msgs)
    seen = [_kill_after_growth(cli(str(tmp_path / "a"), url(emu), "--no-progress"),
                               lambda: len(emu.messages(USER)), rng.randrange(1, 60)) for _ in range(4)]
    assert 0 < seen[0] < seen[1] < seen[2] < seen[3] < n        # every kill hit a run mid-upload
    p = cli(str(tmp_path / "a"), url(emu), "--json")
    out, errs = p.communicate(timeout=120)
    assert p.returncode == 0, errs
    assert json.loads(out)["uploaded"] == n - seen[-1]         # the re-run uploads only what was missing
    clean = make_emu()
    p = cli(str(tmp_path / "a"), url(clean), "--json")
    assert p.communicate(timeout=120)[0] and p.returncode == 0
    assert state(emu) == state(clean)                      # no duplicate, same labels/flags/dates
    assert len(emu.messages(USER)) == n


@pytest.mark.slow
def test_kill_9_into_dovecot_then_rerun(tmp_path: Path, dovecot: DovecotServer) -> None:
    """The generic path (MULTIAPPEND batches, COPY into second folders) survives kill -9 the same way."""
    n = 1200
    msgs = [Msg(message(i, mid=None if i % 7 == 0 else "auto"), labels=(("INBOX",), ("INBOX", "Work"))[i % 2],
                flags=(("\\Seen",), ())[i % 3 == 0], date=BASE + i) for i in range(n)]
    build_archive(tmp_path / "a", msgs, gmail=False)
    total = n + n // 2                                          # INBOX + Work copies
    with DovecotServer(storage="maildir") as ref:               # `dovecot` checked that it is installed
        ref.add_user("alice", "secret")
        target = f"imap://alice@127.0.0.1:{dovecot.port}"
        with client(dovecot.port) as c:                         # batches of 500: a kill after each growth
            # one connection: each run is slow enough for its kill to land mid-restore on a quiet machine too
            seen = [_kill_after_growth(cli(str(tmp_path / "a"), target, "--no-progress", "--connections", "1",
                                           password="secret"), lambda: _count(c), 1) for _ in range(3)]
        assert 0 < seen[0] < seen[1] < seen[2] < total          # every kill hit a run mid-restore
        p = cli(str(tmp_path / "a"), target, "--json", password="secret")
        errs = p.communicate(timeout=120)[1]
        assert p.returncode == 0, errs
        p = cli(str(tmp_path / "a"), f"imap://alice@127.0.0.1:{ref.port}", "--json", password="secret")
        assert p.communicate(timeout=120)[0] and p.returncode == 0
        assert dovecot_state(dovecot.port) == dovecot_state(ref.port)


def _kill_after_growth(p: subprocess.Popen[bytes], count: Callable[[], int], grow: int) -> int:
    """SIGKILL ``p`` once the target holds ``grow`` more messages than at its start; the count at the kill.

    Fails unless the kill really hit a running restore (exit status -SIGKILL, something uploaded by it)."""
    start = count()
    while p.poll() is None and count() < start + grow:
        time.sleep(0.002)
    p.send_signal(signal.SIGKILL)                           # a no-op if ``p`` already exited on its own
    errs = p.communicate(timeout=60)[1]
    assert p.returncode == -signal.SIGKILL, (p.returncode, errs)
    held = count()
    assert held >= start + grow, (start, held)
    return held


def _count(c: imapclient.IMAPClient) -> int:
    total = 0
    for name in ("INBOX", "Work"):
        if c.folder_exists(name):
            total += int(c.folder_status(name, ["MESSAGES"])[b"MESSAGES"])
    return total
