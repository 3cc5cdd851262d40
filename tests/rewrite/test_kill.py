"""kill -9 at random moments of ``rewrite`` (a real subprocess, killed at its N-th durable step: each journal
write counts), then re-runs: no message missing or duplicated on the server, the archive verifies, and
``--undo`` puts the originals back byte for byte.  Gmail emulator (duplicate dropping on) and Dovecot."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archiver import Archive, Credentials, GmailEmulator, backup, verify
from archiver.store.fsutil import CRASH_ENV
from tests.helpers.emulator import PASSWORD, USER, Mail, emu_url
from tests.helpers.net import SlowLink
from tests.helpers.rewriter import HEADER, stamped
from tests.restore.helpers import client, folder_contents, message
from tests.servers.dovecot import DovecotServer

REPO = Path(__file__).resolve().parents[2]
KILLS = 10


def cli(*args: str, password: str, crash_at: int | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GMAIL_ARCHIVER_PASSWORD": password}
    env.pop(CRASH_ENV, None)
    if crash_at is not None:
        env[CRASH_ENV] = str(crash_at)
    return subprocess.run([sys.executable, "-m", "tests.helpers.rewriter", "rewrite", *args, "--no-progress"],
                          cwd=REPO, env=env, capture_output=True, timeout=300)


def kill_and_rerun(arch: Path, url: str, password: str, rng: random.Random,
                   seen: Callable[[], tuple[int, int]],
                   *extra: str) -> tuple[list[tuple[int, int]], dict[str, Any]]:
    """Runs killed at random steps until KILLS of them died, then one to the end: (what ``seen`` said after
    each kill, the last run's --json)."""
    kills: list[tuple[int, int]] = []
    tries = 0
    while len(kills) < KILLS:
        tries += 1
        assert tries < 4 * KILLS, "the runs end before they can be killed"
        p = cli(str(arch), url, *extra, password=password, crash_at=rng.randrange(3, 90))
        if p.returncode == -9:
            kills.append(seen())
        else:
            assert p.returncode == 0, p.stderr.decode()
    p = cli(str(arch), url, *extra, "--json", password=password)
    assert p.returncode == 0, p.stderr.decode()
    return kills, json.loads(p.stdout)


def archive_verifies(arch: Path) -> None:
    a = Archive.open(arch)
    try:
        report = verify(a)
    finally:
        a.close()
    assert report.ok, report


def emu_state(emu: GmailEmulator) -> dict[str | None, tuple]:
    msgs = emu.messages(USER)
    counts: dict[str | None, int] = defaultdict(int)
    for m in msgs:
        counts[m.message_id] += 1
    assert [mid for mid, n in counts.items() if n > 1] == []          # none duplicated
    return {m.message_id: (m.data, m.labels, m.flags, m.internaldate, m.trashed) for m in msgs}


@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    return (Mail(120, seed=11),)


@pytest.mark.slow
def test_kill_9_during_gmail_rewrite_then_rerun_and_undo(tmp_path: Path, emu: GmailEmulator) -> None:
    for m in emu.messages(USER)[::9]:
        emu.trash(USER, m.gm_msgid)
    arch, url = tmp_path / "a", emu_url(emu)
    assert backup(arch, url, credentials=Credentials(password=PASSWORD), init=True).complete
    before = emu_state(emu)
    def seen() -> tuple[int, int]:   # (messages on the server, of them rewritten)
        msgs = emu.messages(USER)
        return len(msgs), sum(HEADER in m.data for m in msgs)

    kills, doc = kill_and_rerun(arch, url, PASSWORD, random.Random(5), seen, "--fix-headers")
    print("kills (messages, rewritten):", kills)
    assert len(kills) >= KILLS and doc["ok"]
    assert len({n for _, n in kills}) >= KILLS // 2 and 0 < kills[-1][1] < len(before)  # kills mid-rewrite
    after = emu_state(emu)
    assert set(after) == set(before)                                   # none missing
    for mid, (data, *rest) in before.items():
        assert after[mid] == (stamped(data), *rest), mid
    archive_verifies(arch)
    again = cli(str(arch), url, "--fix-headers", "--json", password=PASSWORD)
    assert again.returncode == 0 and json.loads(again.stdout)["changed"] == []
    assert emu_state(emu) == after

    p = cli(str(arch), url, "--undo", doc["run"], "--json", password=PASSWORD)
    assert p.returncode == 0, p.stderr.decode()
    assert emu_state(emu) == before                                    # byte for byte, labels, flags, dates


FOLDERS = ("INBOX", "Sent", "Trash", "Work")


@pytest.mark.slow
def test_kill_9_during_dovecot_rewrite_then_rerun_and_undo(tmp_path: Path, dovecot: DovecotServer) -> None:
    with client(dovecot.port) as c:
        c.create_folder("Work")
        for i in range(120):
            c.append(FOLDERS[i % 4], message(i, mid=None if i % 6 == 0 else "auto"),
                     flags=(("\\Seen",), (), ("\\Flagged", "\\Seen"))[i % 3])

    def contents() -> dict[str, list[tuple[bytes, tuple[str, ...], object]]]:
        with client(dovecot.port) as c:
            return {f: folder_contents(c, f) for f in FOLDERS}

    arch, url = tmp_path / "a", f"imap://alice@127.0.0.1:{dovecot.port}"
    assert backup(arch, url, credentials=Credentials(password="secret"), init=True).complete
    before = contents()
    def seen() -> tuple[int, int]:   # (messages on the server, of them rewritten)
        rows = [r for v in contents().values() for r in v]
        return len(rows), sum(HEADER in r[0] for r in rows)

    kills, doc = kill_and_rerun(arch, url, "secret", random.Random(9), seen, "--fix-headers")
    print("kills (messages, rewritten):", kills)
    assert len(kills) >= KILLS and doc["ok"]
    assert len({n for _, n in kills}) >= KILLS // 2 and 0 < kills[-1][1] < 120
    after = contents()
    for folder, rows in before.items():                                # none missing, none duplicated
        assert after[folder] == sorted(((stamped(b), f, d) for b, f, d in rows), key=lambda t: t[0]), folder
    archive_verifies(arch)
    p = cli(str(arch), url, "--undo", doc["run"], "--json", password="secret")
    assert p.returncode == 0, p.stderr.decode()
    assert contents() == before


@pytest.mark.slow
@pytest.mark.parametrize("server", ["gmail", "dovecot"])
def test_kill_9_at_every_step_of_one_message(tmp_path: Path, server: str, emu: GmailEmulator,
                                             dovecot: DovecotServer) -> None:
    """Every durable step of a one-message rewrite in turn (a fresh account each time): killed there, the
    re-run leaves exactly one copy, rewritten, with its flags and date.  On Gmail the message has no
    Message-ID: Gmail's de-duplication cannot hide a second upload, the journalled APPEND intent must."""
    original = message(1, mid=None if server == "gmail" else "auto")
    if server == "dovecot":
        for k in range(1, 60):                 # all at once: Dovecot rereads its passwd file by mtime
            dovecot.add_user(f"u{k}", "secret")
    n = 0
    while True:
        n += 1
        assert n < 60
        user = f"u{n}@example.org"
        if server == "gmail":
            emu.add_account(user, password=PASSWORD)
            emu.seed(user, original, labels=("\\Inbox", "Work"), flags=("\\Seen",))
            url, password = emu_url(emu, user), PASSWORD

            def rows(user: str = user) -> list[tuple[bytes, object, object, object]]:
                return sorted((m.data, m.labels, m.flags, m.internaldate) for m in emu.messages(user))
        else:
            user = f"u{n}"
            with client(dovecot.port, user) as c:
                c.append("INBOX", original, flags=["\\Seen"])
            url, password = f"imap://{user}@127.0.0.1:{dovecot.port}", "secret"

            def rows(user: str = user) -> list[tuple[bytes, object, object, object]]:
                with client(dovecot.port, user) as c:
                    return [(b, f, d, "INBOX") for b, f, d in folder_contents(c, "INBOX")]
        arch = tmp_path / f"a{n}"
        assert backup(arch, url, credentials=Credentials(password=password), init=True).complete
        before = rows()
        p = cli(str(arch), url, "--fix-headers", password=password, crash_at=n)
        if p.returncode == 0:
            break                                         # n is past the run's last step: every one was hit
        assert p.returncode == -9, p.stderr.decode()
        p = cli(str(arch), url, "--fix-headers", "--json", password=password)
        assert p.returncode == 0, (n, p.stderr.decode())
        assert rows() == [(stamped(before[0][0]), *before[0][1:])], n
    assert n > 10


@pytest.mark.slow
def test_kill_9_mid_append_over_a_slow_link_no_second_copy(tmp_path: Path, dovecot: DovecotServer) -> None:
    """Killed while its APPEND is still crossing a slow link: the dead client's kernel keeps sending, the
    server stores the upload late, after the re-run started.  The re-run waits for it (the journalled intent
    is young) instead of uploading a second copy."""
    big = message(1, size=600_000)
    with client(dovecot.port) as c:
        c.append("INBOX", big, flags=["\\Seen"])
    link = SlowLink(dovecot.port, up_rate=200_000)
    try:
        url = f"imap://alice@127.0.0.1:{link.port}"
        arch = tmp_path / "a"
        direct = f"imap://alice@127.0.0.1:{dovecot.port}"
        assert backup(arch, direct, credentials=Credentials(password="secret"), init=True).complete
        env = {**os.environ, "GMAIL_ARCHIVER_PASSWORD": "secret"}
        p = subprocess.Popen([sys.executable, "-m", "tests.helpers.rewriter", "rewrite", str(arch), url,
                              "--fix-headers", "--no-progress"], cwd=REPO, env=env)
        deadline = time.monotonic() + 60
        while not any(b"intent" in j.read_bytes() for j in (arch / "journals").glob("rewrite-*")):
            assert p.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.3)                                  # the APPEND is handed to the kernel, not yet stored
        p.kill()
        p.wait()
        with client(dovecot.port) as c:
            assert [b for b, _, _ in folder_contents(c, "INBOX")] == [big]    # killed before it landed
        p2 = cli(str(arch), url, "--fix-headers", password="secret")
        assert p2.returncode == 0, p2.stderr.decode()
        with client(dovecot.port) as c:
            assert [b for b, _, _ in folder_contents(c, "INBOX")] == [stamped(big)]
    finally:
        link.close()
