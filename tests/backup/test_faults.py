"""Backup under injected faults (emulator, real sockets): BYE and dropped connections mid-FETCH,
``[THROTTLED]`` answers, and a download budget that runs out (partial snapshot, exit 3, then resume)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver import Archive, Credentials, NullProgress, backup
from archiver.cli import app
from archiver.emulator import Fault, GmailEmulator
from archiver.emulator.synth import generate
from tests.backup.helpers import FAST_RETRY
from tests.helpers.emulator import PASSWORD, USER, emu_url

CREDS = Credentials(password=PASSWORD)


def _seed(server: GmailEmulator, n: int) -> int:
    total = 0
    for raw, labels, flags, date, _thread in generate(n, seed=3, avg_size=3000):
        server.seed(USER, raw, labels=labels, flags=flags, internaldate=date)
        total += len(raw)
    return total


class ArmOn(NullProgress):
    """Arms a fault when a phase starts, so it hits that phase (the scan also FETCHes)."""

    def __init__(self, server: GmailEmulator, phase: str, fault: Fault, *, after_messages: int,
                 times: int) -> None:
        self.server, self.phase, self.fault = server, phase, fault
        self.after_messages, self.times = after_messages, times

    def start(self, phase: str, total: int | None = None, unit: str = "msg") -> None:
        if phase == self.phase:
            self.server.inject(self.fault, after_messages=self.after_messages, times=self.times)


@pytest.mark.parametrize("fault", [Fault.BYE_MID_FETCH, Fault.DROP_MID_FETCH])
@pytest.mark.parametrize("phase", ["scan", "download"])
def test_connection_lost_mid_fetch_is_resumed(emu: GmailEmulator, tmp_path: Path, fault: Fault,
                                              phase: str) -> None:
    total = _seed(emu, 400)
    r = backup(tmp_path / "a", emu_url(emu), credentials=CREDS, init=True, connections=2, retry=FAST_RETRY,
               progress=ArmOn(emu, phase, fault, after_messages=60, times=3))
    assert emu.faults.fired.get(fault) == 3
    assert r.complete and r.problems == [] and r.messages == 400
    assert {x.key for x in Archive.open(tmp_path / "a").load(r.snapshot)} == {
        f"gm:{m.gm_msgid}" for m in emu.messages(USER)}
    # a body cut short is fetched again, but nothing that arrived whole is
    assert r.bytes_downloaded == total
    assert emu.stats(USER)["body_bytes_sent"] < 1.3 * total


def test_throttled_answers_slow_down_but_complete(emu: GmailEmulator, tmp_path: Path) -> None:
    _seed(emu, 150)
    emu.inject(Fault.THROTTLED, times=-1)
    r = backup(tmp_path / "a", emu_url(emu), credentials=CREDS, init=True, retry=FAST_RETRY)
    assert emu.faults.fired.get(Fault.THROTTLED, 0) > 0
    assert r.complete and r.messages == 150


def test_budget_exhausted_gives_partial_snapshot_then_resume(emu: GmailEmulator, tmp_path: Path) -> None:
    total = _seed(emu, 1500)  # ~4.5 MB: several download batches of <= 2 MB
    emu.config.download_budget = total // 2
    path = tmp_path / "a"
    runner = CliRunner()
    res = runner.invoke(app, ["backup", str(path), emu_url(emu), "--init", "--json", "--retries", "1",
                              "--connections", "1"], env={"GMAIL_ARCHIVER_PASSWORD": PASSWORD})
    assert res.exit_code == 3, res.output
    doc = json.loads(res.stdout)
    assert doc["complete"] is False and doc["problems"]
    missing = {u for p in doc["problems"] for u in p["uids"]}
    assert 0 < doc["messages"] < 1500 and doc["messages"] + len(missing) == 1500
    assert all("OVERQUOTA" in p["reason"] or "not attempted" in p["reason"] for p in doc["problems"])
    archive = Archive.open(path)
    assert archive.snapshots()[-1].partial and archive.snapshots()[-1].id == doc["snapshot"]
    resume_journals = sorted(p.name for p in (path / "journals").iterdir() if p.name.startswith("backup-"))
    assert resume_journals  # the partial run left what the next one resumes from

    # the next day: only what is missing is downloaded
    emu.config.download_budget = 10 * total
    before = emu.stats(USER)["body_bytes_sent"]
    r = backup(path, emu_url(emu), credentials=CREDS, retry=FAST_RETRY)
    assert r.complete and r.messages == 1500 and r.new == len(missing)
    assert emu.stats(USER)["body_bytes_sent"] - before < total - doc["bytes_downloaded"] + 20_000
    assert not Archive.open(path).snapshots()[-1].partial
    # the complete snapshot holds everything the resume journal knew: it is gone
    assert not [p for p in (path / "journals").iterdir() if p.name in resume_journals]


class InterruptAfter(NullProgress):
    """Raises KeyboardInterrupt (as Ctrl-C would) once ``n`` messages were stored."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.stored = 0

    def advance(self, n: int = 1, nbytes: int = 0) -> None:
        self.stored += n
        if self.stored == self.n:
            raise KeyboardInterrupt


def test_interrupted_run_keeps_what_it_stored(emu: GmailEmulator, tmp_path: Path) -> None:
    total = _seed(emu, 600)
    path = tmp_path / "a"
    with pytest.raises(KeyboardInterrupt):
        backup(path, emu_url(emu), credentials=CREDS, init=True, connections=1,
               progress=InterruptAfter(300))
    before = emu.stats(USER)["body_bytes_sent"]
    r = backup(path, emu_url(emu), credentials=CREDS)
    assert r.complete and r.messages == 600
    # about half was stored before the interruption and is not downloaded again
    assert emu.stats(USER)["body_bytes_sent"] - before < 0.6 * total


class ResetOnDownload(NullProgress):
    """Gives All Mail a new UIDVALIDITY once the download has begun."""

    def __init__(self, server: GmailEmulator) -> None:
        self.server = server
        self.done = False

    def advance(self, n: int = 1, nbytes: int = 0) -> None:
        if not self.done:
            self.done = True
            self.server.reset_uidvalidity(USER, self.server.folder_name("all"))


def test_uidvalidity_change_during_the_download(emu: GmailEmulator, tmp_path: Path) -> None:
    total = _seed(emu, 500)
    path = tmp_path / "a"
    r1 = backup(path, emu_url(emu), credentials=CREDS, init=True, connections=1, retry=FAST_RETRY,
                progress=ResetOnDownload(emu))
    assert not r1.complete and any("UIDVALIDITY" in p.reason for p in r1.problems)
    assert Archive.open(path).snapshots()[-1].partial
    before = emu.stats(USER)["body_bytes_sent"]
    r2 = backup(path, emu_url(emu), credentials=CREDS, retry=FAST_RETRY)  # re-mapped by X-GM-MSGID
    assert r2.complete and r2.messages == 500
    assert emu.stats(USER)["body_bytes_sent"] - before == total - r1.bytes_downloaded
