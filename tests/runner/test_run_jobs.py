"""`gmail-archiver run --jobs N` and `--shard I/N` over several emulated Gmail accounts, each run its own
process: the same archives as one at a time, one account's failure leaving the others whole, disjoint and
stable shards, and a double start that skips (or waits for) the busy account."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from archiver import Archive, parse_shard, shard_of
from archiver.emulator import EmulatorConfig, GmailEmulator
from archiver.errors import UsageError
from archiver.runner.shard import select
from archiver.store.lock import lock_account
from tests.helpers.emulator import Mail, seed_mail

REPO = Path(__file__).resolve().parents[2]
USERS = {"ann@gmail.com": "pw-ann-1q", "ben@gmail.com": "pw-ben-2w", "cat@gmail.com": "pw-cat-3e",
         "dan@gmail.com": "pw-dan-4r"}
POLICY = 'keep_last = 1\nprune = "always"\nverify_subset = 1\n'


@pytest.fixture
def emu_accounts() -> dict[str, str | None]:
    return dict(USERS)


@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    sizes = zip(USERS, (40, 25, 30, 20), strict=True)
    return tuple(Mail(n, seed=i, user=u) for i, (u, n) in enumerate(sizes))


def write_config(tmp: Path, emu: GmailEmulator, accounts: list[tuple[str, str, str]],
                 wrong: frozenset[str] = frozenset(), extra: str = "") -> Path:
    """``accounts``: (config name, emulator user, archive folder under ``tmp/archives``); a name in ``wrong``
    gets a bad password."""
    tables = []
    for name, user, archive in accounts:
        pw = tmp / f"pw-{name}"
        pw.write_text(("not-the-password" if name in wrong else USERS[user]) + "\n")
        pw.chmod(0o600)
        url = f"imap://{user.replace('@', '%40')}@127.0.0.1:{emu.port}"
        tables.append(f'[accounts.{name}]\nsource = "{url}"\n'
                      f'archive = "archives/{archive}"\npassword_command = "cat {pw}"\n{POLICY}{extra}')
    cfg = tmp / "config.toml"
    cfg.write_text("\n".join(tables))
    return cfg


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`gmail-archiver ARGS` as its own process, its state under ``home``."""
    env = {**os.environ, "HOME": str(home), "XDG_STATE_HOME": str(home / "state")}
    return subprocess.run([sys.executable, "-m", "archiver", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)


def content(root: Path) -> dict[str, list[Any]]:
    """Every snapshot of every archive under ``root``: its messages (metadata and a hash of each body)."""
    out: dict[str, list[Any]] = {}
    for path in sorted(root.iterdir()):
        archive = Archive.open(path)
        for info in archive.snapshots():
            rows = sorted((r.key, r.blob_id, r.size, r.internaldate, r.flags, r.labels, r.thread_id,
                           r.message_id, hashlib.sha256(archive.get_blob(r.blob_id)).hexdigest())
                          for r in archive.load(info.id))
            out.setdefault(f"{path.name} {info.account}", []).append((info.message_count, info.partial, rows))
    return out


# ann and ben share one archive (forget and prune need it alone); cat is backed up twice (one login, turns)
ACCOUNTS = [("ann", "ann@gmail.com", "team"), ("ben", "ben@gmail.com", "team"),
            ("cat", "cat@gmail.com", "cat"), ("cat2", "cat@gmail.com", "cat2"),
            ("dan", "dan@gmail.com", "dan")]


@pytest.mark.slow
def test_jobs_3_gives_the_archives_of_jobs_1(emu: GmailEmulator, tmp_path: Path) -> None:
    results = {}
    for jobs in (1, 3):
        base = tmp_path / f"jobs{jobs}"
        base.mkdir()
        cfg = write_config(base, emu, ACCOUNTS)
        res = cli(base, "run", "--config", str(cfg), "--init", "--jobs", str(jobs), "--json")
        assert res.returncode == 0, res.stdout + res.stderr
        doc = json.loads(res.stdout)
        assert doc["jobs"] == jobs and [a["name"] for a in doc["accounts"]] == [a[0] for a in ACCOUNTS]
        for a in doc["accounts"]:
            steps = {s["step"]: s for s in a["steps"]}
            assert a["status"] == "ok", a
            assert steps["forget"]["status"] == "ok" and steps["prune"]["status"] == "ok"
            assert steps["verify"]["figures"]["damage"] == 0
        results[jobs] = content(base / "archives")
        log = (base / "state" / "gmail-archiver" / "run.log").read_text()
        # every account's progress and the backup's own lines say which account they are about
        for name, _, _ in ACCOUNTS:
            assert f"{name}: download (" in log
        scanned = [line for line in log.splitlines() if " scanned " in line]
        assert len(scanned) == len(ACCOUNTS)
        assert {line.split(" scanned ")[0].rsplit(" ", 1)[-1] for line in scanned} == {
            f"[{name}]" for name, _, _ in ACCOUNTS}
    assert results[3] == results[1]
    assert sorted(results[1]) == ["cat cat@gmail.com@127.0.0.1", "cat2 cat@gmail.com@127.0.0.1",
                                  "dan dan@gmail.com@127.0.0.1", "team ann@gmail.com@127.0.0.1",
                                  "team ben@gmail.com@127.0.0.1"]
    assert [snap[0] for snap in results[1]["team ann@gmail.com@127.0.0.1"]] == [40]


@pytest.mark.parametrize("emu_config", [EmulatorConfig(max_connections=6)])
def test_accounts_of_one_login_take_turns(emu: GmailEmulator, tmp_path: Path) -> None:
    """Two config accounts of one mailbox, 4 connections each, on a server allowing 4 per user (Gmail: 15):
    run at once, the second's logins would be refused ("Too many simultaneous connections") and retried."""
    seed_mail(emu, Mail(300, seed=7, user="cat@gmail.com"))  # enough for the two backups to meet
    accounts = [(name, user, name) for name, user, _ in ACCOUNTS if name in ("cat", "cat2")]
    cfg = write_config(tmp_path, emu, accounts, extra="connections = 4\n")
    res = cli(tmp_path, "run", "--config", str(cfg), "--init", "--jobs", "2", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    log = (tmp_path / "state" / "gmail-archiver" / "run.log").read_text()
    assert "refused another connection" not in log and "Too many" not in log
    assert [a["status"] for a in json.loads(res.stdout)["accounts"]] == ["ok", "ok"]
    assert content(tmp_path / "archives")["cat cat@gmail.com@127.0.0.1"][0][0] == 330


def test_one_failing_account_leaves_the_others_whole(emu: GmailEmulator, tmp_path: Path) -> None:
    accounts = [(name, user, name) for name, user, _ in ACCOUNTS if name != "cat2"]
    cfg = write_config(tmp_path, emu, accounts, wrong=frozenset({"ben"}))
    res = cli(tmp_path, "run", "--config", str(cfg), "--init", "--jobs", "3")
    assert res.returncode == 12, res.stdout + res.stderr  # the worst account's: ben's refused login
    out = res.stdout.splitlines()
    assert sorted(line.split(":")[0] for line in out) == ["ann", "cat", "dan"]
    assert all(": ok: backup " in line for line in out)
    assert "ben: failed: backup FAILED (exit 12)" in res.stderr
    # one summary, last, saying what did not complete
    assert res.stderr.rstrip().splitlines()[-2:][0].endswith(
        "1 of 4 accounts (3 at a time) did not complete: ben (failed)")
    for name, n in (("ann", 40), ("cat", 30), ("dan", 20)):
        assert [s.message_count for s in Archive.open(tmp_path / "archives" / name).snapshots()] == [n]
    assert Archive.open(tmp_path / "archives" / "ben").snapshots() == []


def test_shards_are_disjoint_cover_all_and_stay_put() -> None:
    names = [f"user{i}@example.com" for i in range(200)]
    for n in (1, 2, 3, 7):
        shares = [select(names, parse_shard(f"{i}/{n}")) for i in range(n)]
        assert sorted(name for share in shares for name in share) == sorted(names)  # every account once
        assert all(shares)  # 200 names: no worker idle
    before = {name: shard_of(name, 5) for name in names}
    grown = names + [f"new{i}@example.com" for i in range(50)]
    shrunk = names[::2]
    assert {name: shard_of(name, 5) for name in grown if name in before} == before
    assert {name: shard_of(name, 5) for name in shrunk} == {name: before[name] for name in shrunk}
    # one more worker moves only the accounts it takes, about 1/6 of them
    moved = [name for name in names if shard_of(name, 6) != before[name]]
    assert all(shard_of(name, 6) == 5 for name in moved) and 10 < len(moved) < 60


@pytest.mark.parametrize("text", ["3/3", "1/0", "0/0", "x", "1", "-1/3", "1/3/4", ""])
def test_bad_shard_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)


@pytest.mark.slow
def test_run_shard_takes_its_share(emu: GmailEmulator, tmp_path: Path) -> None:
    accounts = [(name, user, name) for name, user, _ in ACCOUNTS if name != "cat2"]
    cfg = write_config(tmp_path, emu, accounts)
    res = cli(tmp_path, "run", "--config", str(cfg), "--shard", "3/3")
    assert res.returncode == 2 and "--shard 3/3: I must be below N" in res.stderr
    assert not any((tmp_path / "archives" / name).exists() for name, _, _ in accounts)  # nothing ran
    ran: list[str] = []
    for i in range(2):
        res = cli(tmp_path, "run", "--config", str(cfg), "--init", "--shard", f"{i}/2", "--json")
        assert res.returncode == 0, res.stdout + res.stderr
        doc = json.loads(res.stdout)
        assert doc["shard"] == f"{i}/2" and doc["configured"] == 4
        assert [a["name"] for a in doc["accounts"]] == [n for n, _, _ in accounts if shard_of(n, 2) == i]
        ran += [a["name"] for a in doc["accounts"]]
    assert sorted(ran) == ["ann", "ben", "cat", "dan"]
    assert all(len(Archive.open(tmp_path / "archives" / name).snapshots()) == 1 for name in ran)


def test_a_busy_account_is_skipped_and_the_others_run(emu: GmailEmulator, tmp_path: Path) -> None:
    """A backup of ann holds her account lock (as `gmail-archiver backup` does) while `run` starts."""
    accounts = [(name, user, name) for name, user, _ in ACCOUNTS if name in ("ann", "ben")]
    cfg = write_config(tmp_path, emu, accounts)
    Archive.init(tmp_path / "archives" / "ann")
    with lock_account(tmp_path / "archives" / "ann" / "locks", "ann@gmail.com@127.0.0.1"):
        res = cli(tmp_path, "run", "--config", str(cfg), "--init", "--jobs", "2")
    assert res.returncode == 11, res.stdout + res.stderr
    assert res.stdout.startswith("ben: ok: backup ")
    assert ("ann: locked: skipped: another backup of this account is running (account "
            f"ann@gmail.com@127.0.0.1 is locked by pid {os.getpid()} on ") in res.stderr
    assert "1 of 2 accounts (2 at a time) did not complete: ann (locked)" in res.stderr
    assert Archive.open(tmp_path / "archives" / "ann").snapshots() == []
    assert len(Archive.open(tmp_path / "archives" / "ben").snapshots()) == 1


@pytest.mark.slow
def test_wait_runs_the_busy_account_once_it_is_free(emu: GmailEmulator, tmp_path: Path) -> None:
    """`run --wait` waits for ann (a backup holds her lock); a second `run` started meanwhile skips ann, which
    the first run is busy with; once the lock goes, the first run backs her up."""
    accounts = [(name, user, name) for name, user, _ in ACCOUNTS if name in ("ann", "ben")]
    cfg = write_config(tmp_path, emu, accounts)
    Archive.init(tmp_path / "archives" / "ann")
    lock = lock_account(tmp_path / "archives" / "ann" / "locks", "ann@gmail.com@127.0.0.1")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    proc = subprocess.Popen([sys.executable, "-m", "archiver", "-v", "run", "--config", str(cfg), "--init",
                             "--jobs", "2", "--wait"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # it says it waits for ann; then the lock goes
            seen.append(line)
            if "waiting: account ann@gmail.com@127.0.0.1 is locked" in line:
                break
        second = cli(tmp_path, "run", "--config", str(cfg), "--jobs", "2")
        lock.release()
        out, rest = proc.communicate(timeout=120)
    finally:
        lock.release()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(seen) + rest
    assert sorted(line.split(":")[0] for line in out.splitlines()[:2]) == ["ann", "ben"]
    assert out.splitlines()[-1].startswith("2 accounts (2 at a time) ok in ")
    assert len(Archive.open(tmp_path / "archives" / "ann").snapshots()) == 1
    assert second.returncode == 11, second.stdout + second.stderr
    assert f"ann: locked: skipped: another run of this account is going on (pid {proc.pid})" in second.stderr


@pytest.mark.slow
def test_sigterm_mid_run_keeps_every_archive_and_the_next_run_completes(emu: GmailEmulator, tmp_path: Path
                                                                        ) -> None:
    """SIGTERM while three backups download: exit 143, each archive still opens and verifies, and the next
    run completes all three."""
    users = ("ann@gmail.com", "ben@gmail.com", "cat@gmail.com")
    for i, user in enumerate(users):
        seed_mail(emu, Mail(1500, seed=10 + i, user=user))
    accounts = [(name, user, name) for name, user, _ in ACCOUNTS if user in users and name != "cat2"]
    cfg = write_config(tmp_path, emu, accounts)
    env = {**os.environ, "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    proc = subprocess.Popen([sys.executable, "-m", "archiver", "-v", "run", "--config", str(cfg), "--init",
                             "--jobs", "3"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        downloading = set()
        for line in proc.stderr:
            if ": download (" in line:
                downloading.add(line.split(" INFO ")[1].split(":")[0])
                if len(downloading) == 3:
                    break
        proc.terminate()
        _, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, rest
    assert "interrupted while ann, ben, cat ran" in rest and "error: terminated (SIGTERM)" in rest
    for name, _, _ in accounts:
        res = cli(tmp_path, "verify", str(tmp_path / "archives" / name), "--json")
        assert res.returncode == 0, res.stdout + res.stderr
    res = cli(tmp_path, "run", "--config", str(cfg), "--jobs", "3", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    got = {a["name"]: a["steps"][0]["figures"]["messages"] for a in json.loads(res.stdout)["accounts"]}
    assert got == {"ann": 1540, "ben": 1525, "cat": 1530}
