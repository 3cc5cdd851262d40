"""Peak memory (VmHWM) of a first backup against the number of messages, from a local Dovecot.

    .venv/bin/python benchmarks/bench_backup_memory.py [--messages 20000,80000] [--size 1000] [--runs 2]
                                                       [--before SRC]

For each size, N synthetic ~SIZE-byte messages (bench_backup.py's) in a private Dovecot's INBOX, then
``gmail-archiver backup --init`` into a fresh archive, each run a fresh process; ``--before SRC`` also runs
another checkout of the project (put first on PYTHONPATH), alternating.  Prints the median peak RSS per
size and the growth per message between the smallest and the largest size (issue 11's target: <= 0.5 KB
per message).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import publish  # noqa: E402
from benchmarks.bench_backup import run_measured, synth  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", default="20000,80000")
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--before", type=Path, help="another checkout to measure alongside (PYTHONPATH)")
    ap.add_argument("--append", action="store_true", help="append the figures to benchmarks/README.md")
    args = ap.parse_args()
    sizes = [int(s) for s in args.messages.split(",")]
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    envs = {"gmail-archiver": dict(base, PYTHONPATH=str(ROOT), GMAIL_ARCHIVER_PASSWORD="secret")}
    if args.before:
        envs["gmail-archiver (before)"] = dict(base, PYTHONPATH=str(args.before.resolve()),
                                               GMAIL_ARCHIVER_PASSWORD="secret")
    peaks: dict[str, dict[int, list[int]]] = {name: {} for name in envs}
    walls: dict[str, dict[int, list[float]]] = {name: {} for name in envs}
    work = Path(tempfile.mkdtemp(prefix="gma-bkmem-"))
    for n in sizes:
        with DovecotServer(storage="maildir") as dv:
            dv.add_user("alice", "secret")
            dv.write_maildir("alice", "INBOX", synth(n, args.size))
            for i in range(args.runs):
                for name, env in envs.items():
                    arch = work / f"a{n}-{i}"
                    cmd = [sys.executable, "-P", "-m", "archiver", "backup", str(arch),
                           f"imap://alice@127.0.0.1:{dv.port}", "--init", "--no-progress"]
                    wall, peak = run_measured(cmd, env=env)
                    peaks[name].setdefault(n, []).append(peak)
                    walls[name].setdefault(n, []).append(wall)
                    shutil.rmtree(arch)
    shutil.rmtree(work, ignore_errors=True)
    lo, hi = sizes[0], sizes[-1]
    before = " --before SRC" if args.before else ""
    lines = [f"### memory: peak RSS of a first backup, {', '.join(f'{n:,}' for n in sizes)} x ~{args.size} B "
             "from local Dovecot",
             f"`.venv/bin/python benchmarks/bench_backup_memory.py --messages {args.messages} "
             f"--size {args.size} --runs {args.runs}{before}` (median peak RSS (min-max); wall median)", "",
             "| run | " + " | ".join(f"{n:,} msgs" for n in sizes) + " | growth per message |",
             "|---|" + "---|" * (len(sizes) + 1)]
    for name, by_n in peaks.items():
        med = {n: statistics.median(v) for n, v in by_n.items()}
        cells = [f"{med[n] / 1024:.0f} MB ({min(by_n[n]) / 1024:.0f}-{max(by_n[n]) / 1024:.0f}), "
                 f"{statistics.median(walls[name][n]):.1f} s" for n in sizes]
        growth = (med[hi] - med[lo]) * 1024 / (hi - lo) if hi > lo else 0.0
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {growth:.0f} B |")
    publish("\n".join(lines), args.append)


if __name__ == "__main__":
    main()
