"""kill -9 at random moments of a 3,000-message first backup (the CLI in a subprocess, several times),
then one uninterrupted run: every message once, and not much more downloaded than the mailbox."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from archiver import Archive, verify
from archiver.emulator.synth import generate
from tests.backup.helpers import server_view, sha
from tests.servers.dovecot import DovecotServer

REPO = Path(__file__).resolve().parents[2]


def _cli(path: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, GMAIL_ARCHIVER_PASSWORD="secret", PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "archiver", "backup", str(path),
                             f"imap://alice@127.0.0.1:{port}", "--init", "--json", "--no-progress",
                             "--connections", "1"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def test_kill_9_then_resume(dovecot: DovecotServer, tmp_path: Path) -> None:
    msgs = [m.raw for m in generate(3000, seed=11, avg_size=30_000)]
    dovecot.write_maildir("alice", "INBOX", msgs[:2000])
    dovecot.write_maildir("alice", "Lists", msgs[2000:])
    mailbox = sum(len(m) for m in msgs)
    path = tmp_path / "arch"
    rng = random.Random(20261126)
    killed = 0
    for _ in range(3):
        proc = _cli(path, dovecot.port)
        time.sleep(rng.uniform(0.4, 1.0))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.communicate()
    assert killed >= 2  # the interruptions really happened
    proc = _cli(path, dovecot.port)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    doc = json.loads(out)
    assert doc["complete"] and doc["messages"] == 3000

    archive = Archive.open(path)
    snap = archive.load(doc["snapshot"])
    view = server_view(dovecot.port, folders=["INBOX", "Lists"])
    served = {sha(body) for f in view.values() for body, _ in f.values()}
    assert {r.blob_id for r in snap} == served and len(snap) == 3000
    for r in snap:
        assert sha(archive.get_blob(r.blob_id)) == r.blob_id
    report = verify(archive, read_data=True)  # the kills left nothing that does not verify
    assert report.ok, report.damage
    sent = dovecot.bytes_sent("alice") - sum(len(b) for f in view.values() for b, _ in f.values())
    assert sent < 1.3 * mailbox, (sent, mailbox)
