"""`gmail-archiver run` over three accounts: wall time, and what each step of each account took.

    .venv/bin/python benchmarks/bench_run.py [--messages 3000] [--append]
    .venv/bin/python benchmarks/bench_run.py --jobs-compare [--accounts 6] [--messages 3000] [--jobs 3] \
        [--runs 3] [--append]

Two emulated Gmail accounts (each its own `gmail-archiver emulator` process, ``--messages`` synthetic
messages) and one Dovecot account (the shared corpus, 775 real messages), each into its own archive, with
keep_daily = 7, prune = "always" and verify_subset = 7.  Runs `gmail-archiver run --init --json` (the first,
full backup) and then `run --json` again (incremental, nothing new), each as its own process, and reports the
wall time of each run and the duration of each step from the --json document.  ``--append`` adds the tables to
benchmarks/README.md.

``--jobs-compare``: ``--accounts`` emulated Gmail accounts (each its own emulator process, as each Gmail
account is its own server-side limit), each into its own archive; the same first and second runs with
``--jobs 1`` and with ``--jobs N`` (fresh archives and state for each, ``--runs`` times, alternating), and the
median wall time of each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import publish  # noqa: E402
from tests.backup.helpers import corpus_messages  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
EXE = str(Path(sys.executable).parent / "gmail-archiver")


def start_emulator(user: str, password: str, messages: int, seed: int) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([EXE, "emulator", "--port", "0", "--user", user, "--password", password,
                             "--seed-messages", str(messages), "--seed", str(seed), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("}"):
            break
    return proc, int(json.loads("".join(lines))["port"])


def run(config: Path, env: dict[str, str], *extra: str) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    proc = subprocess.run([EXE, "run", "--config", str(config), "--json", *extra], capture_output=True,
                          text=True, env=env, check=False)
    wall = time.perf_counter() - start
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0, (proc.returncode, doc)
    return wall, doc


def table(title: str, wall: float, doc: dict[str, Any]) -> str:
    rows = [f"**{title}**: wall {wall:.2f} s (process start to exit)", "",
            "| account | backup | forget | prune | verify | total | messages | new | downloaded "
            "| verify read |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for a in doc["accounts"]:
        s = {x["step"]: x for x in a["steps"]}
        b, v = s["backup"]["figures"], s["verify"]["figures"]
        cells = [f"{s[n]['duration_s']:.2f} s" + (" (skipped)" if s[n]["status"] == "skipped" else "")
                 for n in ("backup", "forget", "prune", "verify")]
        rows.append(f"| {a['name']} | {' | '.join(cells)} | {a['duration_s']:.2f} s | {b['messages']} | "
                    f"{b['new']} | {b['bytes_downloaded'] / 1e6:.1f} MB | {v['subset']}: "
                    f"{v['bytes_read'] / 1e6:.1f} MB |")
    return "\n".join(rows) + "\n"


def jobs_compare(accounts: int, messages: int, jobs: int, runs: int, append: bool) -> None:
    """Wall time of `run --init` then `run` over ``accounts`` emulated accounts, 1 and ``jobs`` at a time."""
    emus = [start_emulator(f"user{i}@gmail.com", f"pw-{i}", messages, seed=i) for i in range(accounts)]
    samples: dict[int, list[tuple[float, float]]] = {1: [], jobs: []}
    try:
        for n in [1, jobs] * runs:
            with tempfile.TemporaryDirectory() as tmp_name:
                tmp = Path(tmp_name)
                tables = []
                for i, (_, port) in enumerate(emus):
                    (tmp / f"pw{i}").write_text(f"pw-{i}\n")
                    tables.append(f'[accounts.gmail{i}]\nsource = "imap://user{i}%40gmail.com@127.0.0.1:{port}"\n'
                                  f'archive = "gmail{i}"\npassword_command = "cat {tmp}/pw{i}"\n'
                                  'keep_daily = 7\nprune = "always"\nverify_subset = 7\n')
                config = tmp / "config.toml"
                config.write_text("\n".join(tables))
                env = {**os.environ, "HOME": str(tmp / "home"), "XDG_STATE_HOME": str(tmp / "state")}
                first, _ = run(config, env, "--init", "--jobs", str(n))
                second, _ = run(config, env, "--jobs", str(n))
                samples[n].append((first, second))
    finally:
        for proc, _ in emus:
            proc.terminate()
            proc.wait()
    walls = {n: (statistics.median(a for a, _ in s), statistics.median(b for _, b in s))
             for n, s in samples.items()}
    load = os.getloadavg()[0]
    rows = [f"### run --jobs 1 vs {jobs}: {accounts} emulated Gmail accounts x {messages} messages "
            f"({dt.date.today().isoformat()}, {platform.machine()}, {platform.python_version()}, "
            f"{os.cpu_count()} cores, load {load:.1f} at the end)",
            f"`python benchmarks/bench_run.py --jobs-compare --accounts {accounts} --messages {messages} "
            f"--jobs {jobs} --runs {runs}{' --append' if append else ''}` (median of {runs}; each account "
            "its own emulator process on loopback and its own archive; keep_daily 7, prune always, "
            "verify_subset 7)", "",
            "| jobs | first run (full backups) | second run (nothing new) |", "|---|---|---|"]
    rows += [f"| {n} | {a:.2f} s ({', '.join(f'{x:.2f}' for x, _ in samples[n])}) | {b:.2f} s "
             f"({', '.join(f'{y:.2f}' for _, y in samples[n])}) |" for n, (a, b) in walls.items()]
    a1, b1 = walls[1]
    an, bn = walls[jobs]
    rows += ["", f"Speed-up with --jobs {jobs}: first run {a1 / an:.2f}x, second run {b1 / bn:.2f}x."]
    publish("\n".join(rows) + "\n", append)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--append", action="store_true")
    parser.add_argument("--jobs-compare", action="store_true", help="--jobs 1 against --jobs N instead")
    parser.add_argument("--accounts", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.jobs_compare:
        jobs_compare(args.accounts, args.messages, args.jobs, args.runs, args.append)
        return
    with tempfile.TemporaryDirectory() as tmp_name, DovecotServer(storage="maildir") as dove:
        tmp = Path(tmp_name)
        dove.add_user("alice", "secret")
        corpus = corpus_messages(CORPUS)
        dove.write_maildir("alice", "INBOX", corpus)
        emus = [start_emulator(f"user{i}@gmail.com", f"pw-{i}", args.messages, seed=i) for i in (1, 2)]
        try:
            for name, pw in (("pw1", "pw-1"), ("pw2", "pw-2"), ("pwd", "secret")):
                (tmp / name).write_text(pw + "\n")
            policy = 'keep_daily = 7\nprune = "always"\nverify_subset = 7\n'
            config = tmp / "config.toml"
            config.write_text(
                f'[accounts.gmail1]\nsource = "imap://user1%40gmail.com@127.0.0.1:{emus[0][1]}"\n'
                f'archive = "gmail1"\npassword_command = "cat {tmp}/pw1"\n{policy}\n'
                f'[accounts.gmail2]\nsource = "imap://user2%40gmail.com@127.0.0.1:{emus[1][1]}"\n'
                f'archive = "gmail2"\npassword_command = "cat {tmp}/pw2"\n{policy}\n'
                f'[accounts.dovecot]\nsource = "imap://alice@127.0.0.1:{dove.port}"\n'
                f'archive = "dovecot"\npassword_command = "cat {tmp}/pwd"\n{policy}')
            env = {**os.environ, "HOME": str(tmp / "home"), "XDG_STATE_HOME": str(tmp / "state")}
            first = run(config, env, "--init")
            second = run(config, env)
        finally:
            for proc, _ in emus:
                proc.terminate()
                proc.wait()
    today = dt.date.today().isoformat()
    text = (f"### run over three accounts: 2 emulated Gmail x {args.messages} messages, Dovecot with the "
            f"{len(corpus)}-message corpus ({today}, {platform.machine()}, {platform.python_version()})\n"
            f"`python benchmarks/bench_run.py --messages {args.messages}"
            f"{' --append' if args.append else ''}` (one run each; every server on loopback; "
            "keep_daily 7, prune always, verify_subset 7)\n\n"
            + table("first run (full backups)", *first) + "\n" + table("second run (nothing new)", *second))
    publish(text, args.append)


if __name__ == "__main__":
    main()
