"""How a restore stops: Ctrl-C within ~2 s saying so (exit 130), a full mailbox / spent upload quota
(``NO [OVERQUOTA]`` on APPEND) at once with what is left (exit 3), and counts that survive reconnects."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from archiver import restore
from archiver.emulator import Fault, GmailEmulator
from archiver.imap import Credentials, RetryPolicy
from tests.helpers.emulator import PASSWORD, USER
from tests.restore.helpers import BASE, Msg, build_archive, client, message
from tests.servers.dovecot import DovecotServer

REPO = Path(__file__).resolve().parents[2]
FAST = RetryPolicy(base_delay=0.01, throttled_base=0.01, throttle_pause=0.01, jitter=0, max_attempts=4)


def url(e: GmailEmulator) -> str:
    return f"imap://{USER}@127.0.0.1:{e.port}"


def test_overquota_on_append_stops_at_once_and_reports_what_is_left(
        make_emu: Callable[..., GmailEmulator], tmp_path: Path) -> None:
    msgs = [Msg(message(i, size=2000), date=BASE + i) for i in range(10)]
    build_archive(tmp_path / "a", msgs)
    budget = sum(len(m.data) for m in msgs[:3])            # the 4th APPEND gets NO [OVERQUOTA]
    emu = make_emu(upload_budget=budget)
    result = restore(tmp_path / "a", url(emu), credentials=Credentials(password=PASSWORD), retry=FAST)
    held = len(emu.messages(USER))
    assert held == 3
    assert (result.uploaded, result.left, result.failed) == (3, 7, [])   # counted as the server holds
    assert result.stopped is not None and "OVERQUOTA" in result.stopped and not result.ok
    started = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "archiver", "restore", str(tmp_path / "a"), url(emu),
                        "--json"], cwd=REPO, capture_output=True, timeout=120,
                       env={**os.environ, "GMAIL_ARCHIVER_PASSWORD": PASSWORD})
    assert time.monotonic() - started < 30                # not minutes of retries
    doc = json.loads(p.stdout)
    assert p.returncode == 3 and (doc["uploaded"], doc["already_present"], doc["left"]) == (0, 3, 7)
    assert "OVERQUOTA" in doc["stopped"]


def test_uploaded_counts_every_upload_across_reconnects(emu: GmailEmulator, tmp_path: Path) -> None:
    """Gmail's uploads are checked per batch of 500: a drop during a check used to leave the batch's
    uploads counted as "already present" by the next attempt (``uploaded: 8`` after ~190 uploads)."""
    n = 600
    msgs = [Msg(message(i), date=BASE + i) for i in range(n)]
    build_archive(tmp_path / "a", msgs)
    emu.inject(Fault.DROP_MID_FETCH, after_messages=100)  # during the check of the first batch
    result = restore(tmp_path / "a", url(emu), credentials=Credentials(password=PASSWORD), retry=FAST)
    assert emu.faults.fired == {Fault.DROP_MID_FETCH: 1} and result.reconnects >= 1
    assert len(emu.messages(USER)) == n
    assert (result.uploaded, result.already_present, result.failed) == (n, 0, [])
    assert result.uploaded_bytes == sum(len(m.data) for m in msgs)


@pytest.mark.slow
def test_ctrl_c_stops_within_two_seconds_saying_so(tmp_path: Path) -> None:
    n = 8000
    build_archive(tmp_path / "a", [Msg(message(i, size=2000), labels=("INBOX",), date=BASE + i)
                                   for i in range(n)], gmail=False)
    env = {**os.environ, "GMAIL_ARCHIVER_PASSWORD": "secret"}
    with DovecotServer(storage="maildir") as dv:              # Maildir: a batch takes seconds to store
        delays = (0.05, 0.3, 0.6)
        for k in range(len(delays)):
            dv.add_user(f"u{k}", "secret")
        for k, delay in enumerate(delays):                  # each into an empty mailbox
            target = f"imap://u{k}@127.0.0.1:{dv.port}"
            p = subprocess.Popen([sys.executable, "-m", "archiver", "restore", str(tmp_path / "a"), target,
                                  "--no-progress"], cwd=REPO, env=env, stderr=subprocess.PIPE)
            while p.poll() is None and _count(dv.port, f"u{k}") == 0:
                time.sleep(0.005)                          # a batch is in: the streams are mid-upload
            time.sleep(delay)
            assert p.poll() is None                        # still running
            started = time.monotonic()
            p.send_signal(signal.SIGINT)
            errs = p.communicate(timeout=120)[1].decode()
            took = time.monotonic() - started
            assert p.returncode == 130, errs
            assert took < 2.0, (delay, took)
            assert "restore interrupted" in errs and "run the same restore again" in errs
        done = subprocess.run([sys.executable, "-m", "archiver", "restore", str(tmp_path / "a"), target,
                               "--json"], cwd=REPO, env=env, capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr
        time.sleep(3)
        with client(dv.port, f"u{k}") as c:          # the last one resumes without a duplicate
            c.select_folder("INBOX", readonly=True)
            uids = c.search("ALL")
            ids = collections.Counter(
                item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].strip()
                for i in range(0, len(uids), 1000)
                for item in c.fetch(uids[i:i + 1000], ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]).values())
        assert len(ids) == n and max(ids.values()) == 1


def _count(port: int, user: str) -> int:
    with client(port, user) as c:
        return int(c.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"])


@pytest.mark.slow
def test_sigterm_stops_a_restore_with_its_own_exit_code(tmp_path: Path) -> None:
    """SIGTERM is Ctrl-C for the CLI but exits 143: restore's own interrupt message must not turn it into
    130."""
    build_archive(tmp_path / "a", [Msg(message(i, size=2000), labels=("INBOX",), date=BASE + i)
                                   for i in range(4000)], gmail=False)
    env = {**os.environ, "GMAIL_ARCHIVER_PASSWORD": "secret"}
    with DovecotServer(storage="maildir") as dv:
        dv.add_user("u0", "secret")
        p = subprocess.Popen([sys.executable, "-m", "archiver", "restore", str(tmp_path / "a"),
                              f"imap://u0@127.0.0.1:{dv.port}", "--no-progress"], cwd=REPO, env=env,
                             stderr=subprocess.PIPE)
        while p.poll() is None and _count(dv.port, "u0") == 0:
            time.sleep(0.005)
        assert p.poll() is None
        p.send_signal(signal.SIGTERM)
        errs = p.communicate(timeout=120)[1].decode()
    assert p.returncode == 143, errs
    assert "restore interrupted" in errs and "run the same restore again" in errs and "Traceback" not in errs
