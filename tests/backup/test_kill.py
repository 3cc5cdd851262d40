"""kill -9 in the middle of a 3,000-message first backup (the CLI in a subprocess, three times, each kill
when the archive shows the download has started but not finished), then one uninterrupted run: every
message once, the archive verifies, and not much more downloaded than the mailbox (counted at the server).
Against Dovecot (generic IMAP) and the Gmail emulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from archiver import Archive, verify
from archiver.emulator import GmailEmulator
from archiver.emulator.synth import generate
from archiver.errors import ArchiveNotFound
from archiver.ops.backup.checkpoint import CheckpointPolicy
from tests.backup.helpers import check, dovecot_settled, expected, server_view, sha
from tests.helpers.emulator import PASSWORD, USER, emu_url
from tests.servers.dovecot import DovecotServer

REPO = Path(__file__).resolve().parents[2]
N = 3000
GROW = 400  # blobs a run must add to the archive before it is killed


def _cli(path: Path, url: str, password: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, GMAIL_ARCHIVER_PASSWORD=password, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "archiver", "backup", str(path), url, "--init", "--json",
                             "--no-progress", "--connections", "1"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _blobs(path: Path) -> int:
    """Blobs the archive holds as a fresh reader sees them (0 before ``--init`` created it)."""
    try:
        return Archive.open(path).stats().blobs
    except ArchiveNotFound:
        return 0


def _kill_mid_download(proc: subprocess.Popen[bytes], path: Path) -> int:
    """SIGKILL ``proc`` once it has stored ``GROW`` more blobs than the archive held at its start; the
    blob count after the kill. Fails unless the kill hit a running backup mid-download."""
    start = _blobs(path)
    while proc.poll() is None and _blobs(path) < start + GROW:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)  # a no-op if the run already ended on its own: caught below
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, err.decode()[-2000:])
    held = _blobs(path)
    assert start + GROW <= held < N, (start, held)
    return held


def _finish(path: Path, url: str, password: str) -> dict[str, Any]:
    proc = _cli(path, url, password)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    doc: dict[str, Any] = json.loads(out)
    assert doc["complete"] and doc["messages"] == N and doc["problems"] == []
    return doc


def _check_archive(path: Path, snapshot_id: str, served: set[str]) -> Archive:
    """Every message once, each blob exactly the bytes served, and nothing the kills left fails verify."""
    archive = Archive.open(path)
    snap = archive.load(snapshot_id)
    assert len(snap) == N and {r.blob_id for r in snap} == served
    for r in snap:
        assert sha(archive.get_blob(r.blob_id)) == r.blob_id
    assert archive.stats().blobs == N
    report = verify(archive, read_data=True)
    assert report.ok, report.damage
    return archive


@pytest.mark.slow
def test_kill_9_mid_download_then_resume_dovecot(dovecot: DovecotServer, tmp_path: Path) -> None:
    msgs = [m.raw for m in generate(N, seed=11, avg_size=30_000)]
    dovecot.write_maildir("alice", "INBOX", msgs[:2000])
    dovecot.write_maildir("alice", "Lists", msgs[2000:])
    mailbox = sum(len(m) for m in msgs)
    path, url = tmp_path / "arch", f"imap://alice@127.0.0.1:{dovecot.port}"

    held = [_kill_mid_download(_cli(path, url, "secret"), path) for _ in range(3)]
    assert 0 < held[0] < held[1] < held[2] < N  # each kill hit a run that was downloading
    doc = _finish(path, url, "secret")

    dovecot_settled(dovecot)  # the killed sessions' counters are logged too
    sent, (bodies, body_bytes) = dovecot.bytes_sent("alice"), dovecot.bodies_sent("alice")
    assert bodies >= N and body_bytes >= mailbox  # the counters saw the whole download
    assert sent < 1.3 * mailbox, (sent, mailbox)  # everything the server sent over all four runs

    view = server_view(dovecot.port, folders=["INBOX", "Lists"])
    _check_archive(path, doc["snapshot"], {sha(body) for f in view.values() for body, _ in f.values()})


@pytest.mark.slow
def test_kill_9_mid_download_then_resume_gmail(emu: GmailEmulator, tmp_path: Path) -> None:
    synth = generate(N, seed=12, avg_size=10_000)
    for m in synth:
        emu.seed(USER, m.raw, labels=m.labels, flags=m.flags, internaldate=m.date)
    mailbox = sum(len(m.raw) for m in synth)
    path, url = tmp_path / "arch", emu_url(emu)

    held = []
    for _ in range(3):
        served0 = emu.stats(USER)["body_bytes_sent"]
        held.append(_kill_mid_download(_cli(path, url, PASSWORD), path))
        assert served0 < emu.stats(USER)["body_bytes_sent"] < served0 + mailbox  # a partial download
    assert 0 < held[0] < held[1] < held[2] < N
    kept = Archive.open(path)
    stored = sum(len(m.raw) for m in synth if kept.has_blob(sha(m.raw)))
    kept.close()
    before = emu.stats(USER)["body_bytes_sent"]
    doc = _finish(path, url, PASSWORD)
    assert doc["mode"] == "gmail"

    # The resuming run downloads what no killed run stored, and little more: blobs a killed run stored but
    # had not yet journalled (flushed, then killed before the journal append: about one make-durable
    # interval, more when checkpoints queue up under load) are fetched again.  Re-downloading what the
    # journal holds would cost >= 1,200 messages (~12 MB).  What the killed runs fetched past their last
    # durable write depends on how fast this test polls, so the four runs' total (once < 1.3x) is not
    # bounded: it flaked under load.
    slack = 4 * CheckpointPolicy().bytes_for(mailbox)
    final = emu.stats(USER)["body_bytes_sent"] - before
    assert mailbox - stored <= final <= mailbox - stored + slack, (final, mailbox, stored, slack)
    assert emu.stats(USER)["body_bytes_sent"] >= mailbox
    want = expected(emu)
    archive = _check_archive(path, doc["snapshot"], {sha(body) for _, _, body in want.values()})
    check(archive, doc["snapshot"], want)  # one record per X-GM-MSGID, labels and threads as served
