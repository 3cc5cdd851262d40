"""kill -9 at random moments of a backup into S3 (the CLI in a subprocess), then a run to the end: every
message is there once, nothing is lost, and the archive verifies.  Against moto and rclone serve s3."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archiver import Archive, S3Options, verify
from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, USER, Mail, emu_url
from tests.helpers.s3 import S3Service

REPO = Path(__file__).resolve().parents[2]
N = 1000


@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    return (Mail(N, seed=21, avg_size=4000),)


def _cli(s3: S3Service, url: str, source: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, GMAIL_ARCHIVER_PASSWORD=PASSWORD, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "archiver", "--s3-endpoint", s3.endpoint,
                             "--s3-path-style", "backup", url, source, "--init", "--json", "--no-progress",
                             "--connections", "1"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume(s3: S3Service, s3_url: str, s3_defaults: S3Options,
                                             emu: GmailEmulator) -> None:
    rng = random.Random(1414)
    source = emu_url(emu)
    t0 = time.monotonic()
    reference = _cli(s3, s3.new_location(), source)  # how long a whole run takes on this machine
    reference.communicate(timeout=300)
    assert reference.returncode == 0
    whole = time.monotonic() - t0
    kills = 0
    for _ in range(3):
        proc = _cli(s3, s3_url, source)
        time.sleep(rng.uniform(0.1, 0.7) * whole)  # start-up, init, download or commit: wherever it is
        proc.send_signal(signal.SIGKILL)
        err = proc.communicate(timeout=120)[1]
        kills += proc.returncode == -signal.SIGKILL
    assert kills >= 2, err.decode()[-2000:]  # most runs were still going when killed
    proc = _cli(s3, s3_url, source)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    doc = json.loads(out)
    assert doc["complete"] and doc["messages"] == N and doc["problems"] == []
    archive = Archive.open(s3_url)
    snap = archive.load(doc["snapshot"])
    assert len(snap) == N and len({r.key for r in snap}) == N == len(emu.messages(USER))
    report = verify(archive, read_data=True)
    assert report.ok, report.damage
