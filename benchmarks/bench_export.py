"""Export throughput (mbox, Maildir, eml) beside ``zstd -d -c FILE > out`` of the same bytes, same run.

    .venv/bin/python benchmarks/bench_export.py [--copies 8] [--runs 3] [--append]

The archive is the one bench_verify.py builds (the shared corpus ``--copies`` times over, every copy a new
blob).  The peer writes the same message bytes, decompressed from one ``zstd -3`` stream, to one file: the
ceiling for "decompress and write".  Rates are message bytes per second of wall time (page cache, no fsync
on either side).  ``--append`` adds the table to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiver import Archive, export  # noqa: E402
from benchmarks._common import publish  # noqa: E402
from benchmarks.bench_verify import build_archive  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()
    times: dict[str, list[float]] = {"peer": [], "mbox": [], "maildir": [], "eml": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        archive, bodies = build_archive(work / "archive", args.copies)
        raw = sum(len(b) for b in bodies)
        plain = work / "all.raw"
        plain.write_bytes(b"".join(bodies))
        subprocess.run(["zstd", "-q", "-3", "-f", str(plain), "-o", str(work / "all.zst")], check=True)
        plain.unlink()
        messages = len(archive.load(archive.resolve().id))
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run(f"zstd -q -d -c {work / 'all.zst'} > {work / 'peer.out'}", shell=True, check=True)
            times["peer"].append(time.perf_counter() - start)
            (work / "peer.out").unlink()
            for fmt in ("mbox", "maildir", "eml"):
                out = work / f"out.{fmt}"
                start = time.perf_counter()
                result = export(Archive.open(archive.path), "latest", fmt, out)
                times[fmt].append(time.perf_counter() - start)
                assert result.complete and result.messages == messages
                if out.is_dir():
                    shutil.rmtree(out)
                else:
                    out.unlink()
    med = {k: statistics.median(v) for k, v in times.items()}
    mb = raw / 1e6
    lines = [
        f"### export: {messages} messages, {mb:.0f} MB ({dt.date.today()}, {platform.machine()}, "
        f"{platform.python_version()}, {os.cpu_count()} cores)",
        f"`python benchmarks/bench_export.py --copies {args.copies} --runs {args.runs}` (median of "
        f"{args.runs}; page cache, no fsync)",
        "",
        "| writer | wall | rate |",
        "|---|---|---|",
        f"| zstd -d -c > file (peer) | {med['peer']:.2f} s | {mb / med['peer']:.0f} MB/s |",
        *(f"| export --format {fmt} | {med[fmt]:.2f} s | {mb / med[fmt]:.0f} MB/s |"
          for fmt in ("mbox", "maildir", "eml")),
        "",
        f"mbox export / peer throughput: {med['peer'] / med['mbox']:.2f}.",
        "",
    ]
    text = "\n".join(lines)
    publish(text, args.append)


if __name__ == "__main__":
    main()
