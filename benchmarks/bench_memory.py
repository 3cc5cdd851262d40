"""Peak memory (VmHWM) of the commands that read a whole snapshot, against the number of messages.

    .venv/bin/python benchmarks/bench_memory.py [--messages 20000,80000] [--runs 3] [--before SRC]

For each size, one archive of N synthetic ~1.5 KB messages (one snapshot, Gmail keys, built through
ArchiveWriter as bench_export_lookup.py builds it), then ``gmail-archiver ls --json``, ``ls`` and
``export --format mbox`` each in a fresh process (stdout to /dev/null).  Prints peak RSS per command and
size, and the growth per message between the smallest and the largest size: the constant-memory promise
of the README is growth ~0.  The first ``ls`` builds the search index (sender and subject); it is run once
untimed before the measured runs.  ``--before SRC`` also runs every command from another checkout of the
project (e.g. a worktree of main, put first on PYTHONPATH), alternating with this one: the peer in the
same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import publish  # noqa: E402
from benchmarks.bench_backup import run_measured  # noqa: E402
from benchmarks.bench_export_lookup import build  # noqa: E402

COMMANDS = {
    "ls --json": ["ls", "{a}", "--json", "--account", "gmail@example.com"],
    "ls": ["ls", "{a}", "--account", "gmail@example.com"],
    "export --format mbox": ["export", "{a}", "-o", "{out}", "--format", "mbox", "--account",
                             "gmail@example.com", "--overwrite"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", default="20000,80000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="build (or reuse) the archives under this folder")
    ap.add_argument("--before", type=Path, help="another checkout to measure alongside (PYTHONPATH)")
    ap.add_argument("--append", action="store_true", help="append the figures to benchmarks/README.md")
    args = ap.parse_args()
    sizes = [int(s) for s in args.messages.split(",")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    envs = {"": dict(env, PYTHONPATH=str(ROOT))}
    if args.before:
        envs[" (before)"] = dict(env, PYTHONPATH=str(args.before.resolve()))
    peaks: dict[str, dict[int, list[int]]] = {c + tag: {} for c in COMMANDS for tag in envs}
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        for n in sizes:
            arch = base / f"mem-{n}"
            if not (arch / "archive.json").exists():
                build(arch, n)
            out = Path(tmp) / "out.mbox"
            argv = [sys.executable, "-P", "-m", "archiver"]  # -P: PYTHONPATH decides which code runs
            run_measured([*argv, "ls", str(arch), "--account", "gmail@example.com"], env=env)  # index built
            for name, cmd in COMMANDS.items():
                for _ in range(args.runs):
                    for tag, code in envs.items():
                        line = [*argv, *(c.format(a=arch, out=out) for c in cmd)]
                        _wall, peak = run_measured(line, env=code)
                        peaks[name + tag].setdefault(n, []).append(peak)
                out.unlink(missing_ok=True)
    lo, hi = sizes[0], sizes[-1]
    counts = ", ".join(f"{n:,}" for n in sizes)
    lines = [f"### memory: peak RSS of whole-snapshot commands, {counts} messages",
             f"`.venv/bin/python benchmarks/bench_memory.py --messages {args.messages} --runs {args.runs}"
             f"{' --before SRC' if args.before else ''}` "
             "(~1.5 KB synthetic messages, one snapshot with Gmail keys; median of the runs, min-max)", "",
             "| command | " + " | ".join(f"{n:,} msgs" for n in sizes) + " | growth per message |",
             "|---|" + "---|" * (len(sizes) + 1)]
    for name, by_n in peaks.items():
        med = {n: statistics.median(v) for n, v in by_n.items()}
        cells = [f"{med[n] / 1024:.0f} MB ({min(by_n[n]) / 1024:.0f}-{max(by_n[n]) / 1024:.0f})"
                 for n in sizes]
        growth = (med[hi] - med[lo]) * 1024 / (hi - lo) if hi > lo else 0.0
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {growth:.0f} B |")
    publish("\n".join(lines), args.append)


if __name__ == "__main__":
    main()
