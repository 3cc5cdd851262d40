"""Crash safety: a child process writing an archive is SIGKILLed before each of its durable steps.

After every kill the archive opens, every file outside tmp/ is whole (named by its hash), the last committed
snapshot reads back intact, and running the same write again completes.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from archiver.model import FolderState
from archiver.store import Archive, codec, dictionary, fsutil, writer
from archiver.store.index import list_segments, read_segment
from archiver.store.pack import list_packs, pack_path, read_toc
from archiver.store.snapshot import list_snapshot_ids, read_snapshot
from tests.store.conftest import record, report_bodies

T1 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def work(path: Path) -> None:
    """Two commits, a journal entry and a dictionary, over several small packs."""
    archive = Archive.open(path)
    with archive.writer("me@example.org") as w:
        first = [w.put_blob(b) for b in report_bodies(0, 60)]
        w.commit([record(f"k{i:03}", b) for i, b in enumerate(first)], [FolderState("INBOX", 1, 61)],
                 source="imap://me@example.org", time=T1)
        archive.journal("run").append({"step": "one"})
        second = [w.put_blob(b) for b in report_bodies(40, 60)]
        w.commit([record(f"k{i + 40:03}", b) for i, b in enumerate(second)], [FolderState("INBOX", 1, 101)],
                 source="imap://me@example.org", time=T1 + dt.timedelta(hours=1))


def _small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "PACK_TARGET", 8 * 1024)
    monkeypatch.setattr(dictionary, "TRAIN_BYTES", 40 * 1024)
    monkeypatch.setattr(dictionary, "DICT_SIZE", 2048)
    monkeypatch.setattr(dictionary, "MIN_SAMPLES", 8)


def _run_child(path: Path, crash_at: int) -> int:
    pid = os.fork()
    if pid == 0:  # the child: write until killed
        code = 0
        try:
            fsutil.arm_crash(crash_at)
            work(path)
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _check_whole(archive: Archive) -> None:
    """Every file the archive names by its hash is complete; only tmp/ may hold leftovers."""
    lay = archive.layout
    for pid in list_packs(lay.packs):
        assert codec.sha256_hex(pack_path(lay.packs, pid).read_bytes()) == pid
        read_toc(pack_path(lay.packs, pid))
    for name in list_segments(lay.index):
        read_segment(lay.index, name)
    for sid in list_snapshot_ids(lay.snapshots):
        read_snapshot(lay.snapshots, sid)
    for d in lay.dicts.iterdir():
        assert codec.sha256_hex(d.read_bytes()) == d.name


def _check_latest(archive: Archive) -> int:
    infos = archive.snapshots()
    if not infos:
        return 0
    snap = archive.load(infos[-1].id)
    records = list(snap)
    assert len(records) == snap.info.message_count == 60
    for r in records:
        assert archive.get_blob(r.blob_id)
    return len(infos)


@pytest.mark.slow
def test_kill_at_every_step_then_reopen_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _small(monkeypatch)
    base = tmp_path / "base"
    Archive.init(base)
    probe = tmp_path / "probe"
    shutil.copytree(base, probe)
    fsutil.arm_crash(0)
    work(probe)
    total = fsutil.steps_taken()
    assert total >= 20, total
    assert len(list_packs(probe / "packs")) >= 4 and list((probe / "dicts").iterdir())
    seen_snapshots = set()
    for k in range(1, total + 1):
        target = tmp_path / f"crash{k}"
        shutil.copytree(base, target)
        assert _run_child(target, k) == -signal.SIGKILL, f"step {k} did not kill"
        archive = Archive.open(target)
        _check_whole(archive)
        seen_snapshots.add(_check_latest(archive))
        work(target)  # the same write again completes
        again = Archive.open(target)
        _check_whole(again)
        final = again.load(again.resolve().id)
        assert [r.key for r in final] == [f"k{i:03}" for i in range(40, 100)]
        assert [again.get_blob(r.blob_id) for r in final] == report_bodies(40, 60)
        shutil.rmtree(target)
    assert {0, 1} <= seen_snapshots  # killed before the first commit and between the commits


def test_env_hook_kills_a_fresh_process(tmp_path: Path) -> None:
    """The documented env var works in a separate interpreter (not only via arm_crash)."""
    target = tmp_path / "a"
    Archive.init(target)
    code = ("import sys; from archiver.store import Archive\n"
            "w = Archive.open(sys.argv[1]).writer('x'); w.put_blob(b'hello'); w.flush()\n")
    env = {**os.environ, fsutil.CRASH_ENV: "3"}
    res = subprocess.run([sys.executable, "-c", code, str(target)], env=env, timeout=60)
    assert res.returncode == -signal.SIGKILL
    archive = Archive.open(target)
    assert not archive.has_blob(codec.sha256_hex(b"hello"))
    _check_whole(archive)
