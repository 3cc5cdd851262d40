"""The restore command end to end: --json document, exit codes, and kill -9 at random points then a re-run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import imapclient
import pytest

from archiver.emulator import EmulatorConfig, GmailEmulator
from tests.restore.helpers import BASE, Msg, build_archive, client, folder_contents, message
from tests.restore.test_gmail_emulator import USER, emu, state, url  # noqa: F401  (fixture)
from tests.servers.dovecot import DovecotServer
from tests.servers.dovecot import available as dovecot_available

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "GMAIL_ARCHIVER_PASSWORD": "app-password-16c"}


def cli(*args: str, password: str = "app-password-16c") -> subprocess.Popen[bytes]:
    env = {**ENV, "GMAIL_ARCHIVER_PASSWORD": password}
    return subprocess.Popen([sys.executable, "-m", "archiver", "restore", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_json_and_exit_codes(tmp_path: Path, emu: GmailEmulator) -> None:  # noqa: F811
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


def test_kill_9_at_random_points_then_rerun(tmp_path: Path, emu: GmailEmulator) -> None:  # noqa: F811
    rng = random.Random(7)
    n = 400
    msgs = [Msg(message(i, mid=None if i % 5 == 0 else "auto", size=rng.randrange(200, 3000)),
                labels=(("\\Inbox",), ("Work", "\\Starred"), ())[i % 3], date=BASE + i) for i in range(n)]
    build_archive(tmp_path / "a", msgs)
    seen = []
    for threshold in sorted(rng.sample(range(1, n), 4)):   # kill -9 once the target holds `threshold`
        p = cli(str(tmp_path / "a"), url(emu), "--no-progress")
        while p.poll() is None and len(emu.messages(USER)) < threshold:
            time.sleep(0.002)
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
        seen.append(len(emu.messages(USER)))
    assert seen[0] < n                                          # at least the first kill hit mid-upload
    p = cli(str(tmp_path / "a"), url(emu), "--json")
    errs = p.communicate(timeout=120)[1]
    assert p.returncode == 0, errs
    with GmailEmulator(EmulatorConfig()) as clean:
        clean.add_account(USER, password="app-password-16c")
        p = cli(str(tmp_path / "a"), url(clean), "--json")
        assert p.communicate(timeout=120)[0] and p.returncode == 0
        assert state(emu) == state(clean)                      # no duplicate, same labels/flags/dates
    assert len(emu.messages(USER)) == n


def dovecot_state(port: int) -> dict[str, list[object]]:
    with client(port) as c:
        names = sorted(n for _f, _d, n in c.list_folders())
        return {n: [(d, f, t.timestamp()) for d, f, t in folder_contents(c, n)] for n in names}


def test_kill_9_into_dovecot_then_rerun(tmp_path: Path) -> None:
    """The generic path (MULTIAPPEND batches, COPY into second folders) survives kill -9 the same way."""
    if not dovecot_available():
        pytest.skip("Dovecot is not installed")
    rng = random.Random(11)
    n = 1200
    msgs = [Msg(message(i, mid=None if i % 7 == 0 else "auto"), labels=(("INBOX",), ("INBOX", "Work"))[i % 2],
                flags=(("\\Seen",), ())[i % 3 == 0], date=BASE + i) for i in range(n)]
    build_archive(tmp_path / "a", msgs, gmail=False)
    total = n + n // 2                                          # INBOX + Work copies
    with DovecotServer(storage="maildir") as dv, DovecotServer(storage="maildir") as ref:
        for server in (dv, ref):
            server.add_user("alice", "secret")
        target = f"imap://alice@127.0.0.1:{dv.port}"
        seen = []
        with client(dv.port) as c:
            for threshold in sorted(rng.sample(range(1, total), 3)):
                p = cli(str(tmp_path / "a"), target, "--no-progress", password="secret")
                while p.poll() is None and _count(c) < threshold:
                    time.sleep(0.005)
                p.send_signal(signal.SIGKILL)
                p.communicate(timeout=60)
                seen.append(_count(c))
        assert 0 < seen[0] < total                              # the first kill hit mid-run
        p = cli(str(tmp_path / "a"), target, "--json", password="secret")
        errs = p.communicate(timeout=120)[1]
        assert p.returncode == 0, errs
        p = cli(str(tmp_path / "a"), f"imap://alice@127.0.0.1:{ref.port}", "--json", password="secret")
        assert p.communicate(timeout=120)[0] and p.returncode == 0
        assert dovecot_state(dv.port) == dovecot_state(ref.port)


def _count(c: imapclient.IMAPClient) -> int:
    total = 0
    for name in ("INBOX", "Work"):
        if c.folder_exists(name):
            total += int(c.folder_status(name, ["MESSAGES"])[b"MESSAGES"])
    return total
