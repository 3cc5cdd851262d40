"""verify --read-data throughput vs the machine's ceiling, ``zstd -d | sha256sum`` of the same bytes.

    .venv/bin/python benchmarks/bench_verify.py [--copies 8] [--runs 3] [--append]

Builds an archive through the real writer from the shared corpus, ``--copies`` times over (each copy gets
one distinct header line so every body is a new blob: realistic mail, ~10 MB per copy), and writes the same
message bytes, concatenated, as one ``zstd -3`` file.  Then takes turns, ``--runs`` times each:
  peer     ``zstd -d -c FILE | sha256sum`` (one stream: the best case for zstd)
  verify   ``archiver.ops.verify(archive, read_data=True)`` (structure, then every pack read whole, its name
           checked, every message frame decompressed and re-hashed; two threads)
Throughput is message (uncompressed) bytes per second of wall time; both read from the page cache.  Reports
the medians and verify/peer; the target is >= 0.70.  ``--append`` adds the table to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiver import Archive, verify  # noqa: E402
from benchmarks._common import publish  # noqa: E402
from tests.query.builder import commit, corpus_messages, make_records  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"


def build_archive(path: Path, copies: int) -> tuple[Archive, list[bytes]]:
    """An archive of ``copies`` variants of every corpus message, and the list of those message bytes."""
    base = corpus_messages(CORPUS)
    msgs: list[tuple[str, bytes, str]] = []
    for c in range(copies):
        for name, data, mid in base:
            msgs.append((f"{c}/{name}", f"X-Bench-Copy: {c}\r\n".encode() + data, mid))
    archive = Archive.init(path)
    records = make_records(archive, msgs)
    commit(archive, records, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    unique = {r.blob_id: data for r, (_, data, _) in zip(records, msgs, strict=True)}
    return Archive.open(path), list(unique.values())


def timed_verify(path: Path) -> float:
    start = time.perf_counter()
    report = verify(Archive.open(path), read_data=True)
    elapsed = time.perf_counter() - start
    assert report.ok, report.damage
    return elapsed


def timed_shell(cmd: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        archive, bodies = build_archive(work / "archive", args.copies)
        raw = sum(len(b) for b in bodies)
        plain = work / "all.raw"
        with open(plain, "wb") as f:
            for b in bodies:
                f.write(b)
        subprocess.run(["zstd", "-q", "-3", "-f", str(plain), "-o", str(work / "all.zst")], check=True)
        plain.unlink()
        peer_cmd = f"zstd -q -d -c {work / 'all.zst'} | sha256sum > /dev/null"
        peer_t, ours_t = [], []
        for _ in range(args.runs):
            peer_t.append(timed_shell(peer_cmd))
            ours_t.append(timed_verify(archive.path))
        packed = sum(p.stat().st_size for p in (archive.path / "packs").rglob("*") if p.is_file())
    peer, ours = statistics.median(peer_t), statistics.median(ours_t)
    mb = raw / 1e6
    lines = [
        f"### verify --read-data: {len(bodies)} messages, {mb:.0f} MB ({packed / 1e6:.0f} MB in packs) "
        f"({dt.date.today()}, {platform.machine()}, {platform.python_version()}, {os.cpu_count()} cores)",
        f"`python benchmarks/bench_verify.py --copies {args.copies} --runs {args.runs}` (median of "
        f"{args.runs}; both from the page cache)",
        "",
        "| reader | wall | rate |",
        "|---|---|---|",
        f"| zstd -d \\| sha256sum (one stream) | {peer:.2f} s | {mb / peer:.0f} MB/s |",
        f"| verify --read-data | {ours:.2f} s | {mb / ours:.0f} MB/s |",
        "",
        f"verify / peer throughput: {peer / ours:.2f} (target >= 0.70).",
        "",
    ]
    text = "\n".join(lines)
    publish(text, args.append)


if __name__ == "__main__":
    main()
