"""A backup with nothing new: gmail-archiver vs mbsync on the same Dovecot folder, same run.

    .venv/bin/python benchmarks/bench_nochange.py [--messages 10000] [--size 10000] [--runs 9] [--before SRC]

Writes N synthetic ~SIZE-byte messages (bench_backup.py's) into a private Dovecot's INBOX, makes one full
copy with each tool, then alternates no-change runs: ``mbsync -a`` and ``gmail-archiver backup`` (each a
fresh process, as a scheduler starts them).  Also times the floor of any Python command
(``python -c pass``) and ``gmail-archiver --version`` (start-up without a command), and with ``--before
SRC`` the no-change backup of another checkout of the project (put first on PYTHONPATH) on the same
archive.  Byte-code is compiled before timing (as an installed package has it).  Reports medians with
min-max and the ratios; the targets of issue 11 are <= 0.3 s and <= 4x mbsync.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import mbsync_config, publish  # noqa: E402
from benchmarks.bench_backup import run_measured, synth  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s ({min(values):.3f}-{max(values):.3f})"


def run_timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, from wait4: what the machine's other load does not
    inflate as much as the wall time) of one subprocess, its output discarded."""
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, env, file_actions=[
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
    _pid, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{argv[:4]} failed ({status})")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--before", type=Path, help="another checkout to time alongside (PYTHONPATH)")
    ap.add_argument("--append", action="store_true", help="append the figures to benchmarks/README.md")
    args = ap.parse_args()
    sources = {"gmail-archiver": ROOT, **({"gmail-archiver (before)": args.before.resolve()}
                                          if args.before else {})}
    for src in sources.values():
        compileall.compile_dir(src / "archiver", quiet=1)
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    envs = {name: dict(base, PYTHONPATH=str(src), GMAIL_ARCHIVER_PASSWORD="secret")
            for name, src in sources.items()}
    names = ["mbsync", *envs, "--version", "python -c pass"]
    times: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    work = Path(tempfile.mkdtemp(prefix="gma-nochange-"))
    with DovecotServer(storage="maildir") as dv:
        dv.add_user("alice", "secret")
        dv.write_maildir("alice", "INBOX", synth(args.messages, args.size))
        (work / "mb").mkdir()
        rc = work / "mb.rc"
        rc.write_text(mbsync_config(dv.port, work / "mb", "pull"))
        mbsync = ["mbsync", "-q", "-c", str(rc), "-a"]
        ours = [sys.executable, "-P", "-m", "archiver", "backup", str(work / "ar"),  # -P: PYTHONPATH decides
                f"imap://alice@127.0.0.1:{dv.port}", "--no-progress"]
        run_measured(mbsync)
        run_measured([*ours, "--init"], env=envs["gmail-archiver"])
        runs = {"mbsync": (mbsync, base), **{name: (ours, env) for name, env in envs.items()},
                "--version": ([sys.executable, "-P", "-m", "archiver", "--version"], envs["gmail-archiver"]),
                "python -c pass": ([sys.executable, "-c", "pass"], base)}
        for _ in range(args.runs):
            for name, (argv, env) in runs.items():
                wall, cpu = run_timed(argv, env)
                times[name].append(wall)
                cpus[name].append(cpu)
    shutil.rmtree(work, ignore_errors=True)
    med = {name: statistics.median(t) for name, t in times.items()}
    before = " --before SRC" if args.before else ""
    lines = [
        f"### no-change backup: {args.messages:,} x ~{args.size:,} B on local Dovecot (maildir), "
        "gmail-archiver vs mbsync",
        f"- command: `.venv/bin/python benchmarks/bench_nochange.py --messages {args.messages} "
        f"--size {args.size} --runs {args.runs}{before}` (alternating runs; median (min-max))",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{dt.date.today().isoformat()}, load average {os.getloadavg()[0]:.1f} at the end",
        "",
        "| run | wall | vs mbsync | CPU (user+sys) |",
        "|---|---|---|---|",
        *(f"| {name} | {_median(t)} | {med[name] / med['mbsync']:.1f}x | {_median(cpus[name])} |"
          for name, t in times.items()),
        "",
        f"Target <= 0.3 s: {'met' if med['gmail-archiver'] <= 0.3 else 'missed'} "
        f"({med['gmail-archiver']:.3f} s); <= 4x mbsync: "
        f"{'met' if med['gmail-archiver'] <= 4 * med['mbsync'] else 'missed'} "
        f"({med['gmail-archiver'] / med['mbsync']:.1f}x).",
    ]
    publish("\n".join(lines), args.append)


if __name__ == "__main__":
    main()
