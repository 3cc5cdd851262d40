"""kill -9 of a backup into S3 (the CLI in a subprocess) at a random moment after each run has stored its
first pack, three times, then a run to the end: every message is there once, nothing is lost, and the
archive verifies.  Against moto and rclone serve s3.

The kills follow the bucket, not the clock, over a slow link (2 MB/s): killed after a fraction of a timed
reference run, the second and third runs (which only resume) sometimes finished first on a loaded machine,
and the test failed."""

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

from archiver import Archive, S3Backend, S3Options, verify
from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, USER, Mail, emu_url
from tests.helpers.net import SlowLink
from tests.helpers.s3 import S3Service

REPO = Path(__file__).resolve().parents[2]
N = 1000


@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    return (Mail(N, seed=21, avg_size=4000),)  # ~4 MB: 4 make-durable intervals of 1 MiB


def _packs(url: str, options: S3Options, state: Path) -> int:
    return sum(1 for _ in S3Backend(url, options, local_state=state).list("packs"))


def _cli(s3: S3Service, url: str, source: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, GMAIL_ARCHIVER_PASSWORD=PASSWORD, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "archiver", "--s3-endpoint", s3.endpoint,
                             "--s3-path-style", "backup", url, source, "--init", "--json", "--no-progress",
                             "--connections", "1"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume(s3: S3Service, s3_url: str, s3_defaults: S3Options,
                                             emu: GmailEmulator, tmp_path: Path) -> None:
    rng = random.Random(1414)
    link = SlowLink(emu.port, down_rate=2_000_000)  # a whole run downloads for ~2 s, an interval ~0.5 s
    source = emu_url(emu).replace(f":{emu.port}", f":{link.port}")
    state = tmp_path / "probe"
    kills = 0
    for _ in range(3):
        start = _packs(s3_url, s3_defaults, state)
        proc = _cli(s3, s3_url, source)
        while proc.poll() is None and _packs(s3_url, s3_defaults, state) <= start:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.1))  # somewhere in the next interval: download, store or commit
        proc.send_signal(signal.SIGKILL)
        err = proc.communicate(timeout=120)[1]
        kills += proc.returncode == -signal.SIGKILL
    assert kills == 3, err.decode()[-2000:]  # each run was still going when killed
    link.close()
    source = emu_url(emu)
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
