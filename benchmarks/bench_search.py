"""Search: index build rate on real mail, index size, query latency at 100,000 messages, notmuch beside it.

    .venv/bin/python benchmarks/bench_search.py [--messages 100000] [--copies 4] [--runs 7] [--append]

1. *Build rate on real mail*: the shared corpus, ``--copies`` times over (each copy one distinct header
   line, so every body is a new blob), in one archive; the time of the first search (which parses and
   indexes every message) gives messages/s; index size as a fraction of the raw mail.
2. *Query latency*: ``--messages`` synthetic messages (benchmarks/_common.plain_messages, ~1.5 KB, 50
   senders, labels on a third) in one snapshot; each query ``--runs`` times through the library
   (``archiver.search(..., limit=50)`` in a warm process, as a result page: open the index and check its
   checksum, run the query as SQL over the records the index keeps, 50 hits with sender, subject and
   snippet; the first search, which loads the records, is left out), p50 and p95; and the
   same text queries through ``notmuch count`` on a Maildir of the same messages (after ``notmuch new``,
   timed too), one process each, as notmuch is used.
``--append`` adds the tables to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiver import search  # noqa: E402
from archiver.model import MessageRecord  # noqa: E402
from archiver.store import Archive  # noqa: E402
from benchmarks._common import plain_messages, publish  # noqa: E402
from tests.query.builder import corpus_messages  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
QUERIES = [  # (ours, notmuch's spelling or None)
    ("backup", "backup"),
    ("from:user7", "from:user7"),
    ('"mail backup"', '"mail backup"'),
    ("backup -archive", "backup and not archive"),
    ("label:work is:unread", None),
    ("thread:(from:user3) snapshot", None),
]


LABELS = ["\\Inbox", "Work", "Family", "\\Important"]


def _records(archive: Archive, bodies: list[bytes], rng: random.Random) -> list[MessageRecord]:
    out = []
    with archive.writer("bench@example.com") as w:
        for i, raw in enumerate(bodies):
            blob = w.put_blob(raw)
            labels = tuple(sorted(rng.sample(LABELS, rng.randint(0, 2))))
            out.append(MessageRecord(key=f"gm:{10**12 + i}", blob_id=blob, size=len(raw),
                                     internaldate=1_600_000_000 + i * 60, tz_minutes=0,
                                     flags=("\\Seen",) if i % 3 else (), labels=labels,
                                     thread_id=str(i // 4), message_id=None))
    return out


def build_rate(tmp: Path, copies: int) -> str:
    base = corpus_messages(CORPUS)
    bodies = [b"X-Copy: %d\r\n" % c + raw for c in range(copies) for _, raw, _ in base]
    archive = Archive.init(tmp / "real")
    commit_records = _records(archive, bodies, random.Random(1))
    with archive.writer("bench@example.com") as w:
        w.commit(commit_records, [], source="imap://bench@example.com")
    t0 = time.perf_counter()
    result = search(archive, "anything", snippets=False)
    took = time.perf_counter() - t0
    raw_bytes = sum(len(b) for b in bodies)
    db = (archive.layout.cache / "search.sqlite").stat().st_size
    return (f"| real mail (corpus x{copies}) | {result.parsed:,} messages, {raw_bytes / 1e6:.1f} MB | "
            f"{took:.2f} s | **{result.parsed / took:,.0f} msg/s** (target >= 2,000) | "
            f"index {db / 1e6:.2f} MB = {db / raw_bytes:.1%} of the raw mail |")


def latency(tmp: Path, n: int, runs: int) -> tuple[str, list[str]]:
    bodies = plain_messages(n, 1500, seed=3, tag="s")
    archive = Archive.init(tmp / "big")
    records = _records(archive, bodies, random.Random(2))
    with archive.writer("bench@example.com") as w:
        w.commit(records, [], source="imap://bench@example.com", time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    t0 = time.perf_counter()
    first = search(archive, "backup", snippets=False)
    build = time.perf_counter() - t0
    maildir = tmp / "maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for i, raw in enumerate(bodies):
        (maildir / "cur" / f"{i}.bench:2,S").write_bytes(raw)
    cfg = tmp / "notmuch.cfg"
    cfg.write_text(f"[database]\npath={maildir}\n[new]\ntags=\n[maildir]\nsynchronize_flags=false\n")
    env = dict(os.environ, NOTMUCH_CONFIG=str(cfg))
    t0 = time.perf_counter()
    subprocess.run(["notmuch", "new", "--quiet"], env=env, check=True, capture_output=True)
    nm_build = time.perf_counter() - t0
    rows = []
    for ours, theirs in QUERIES:
        times, count = [], 0
        for _ in range(runs):
            t0 = time.perf_counter()
            count = search(archive, ours, limit=50).total
            times.append(time.perf_counter() - t0)
        q = statistics.quantiles(times, n=20)
        nm = "-"
        if theirs is not None:
            nts, ncount = [], ""
            for _ in range(runs):
                t0 = time.perf_counter()
                ncount = subprocess.run(["notmuch", "count", theirs], env=env, check=True,
                                        capture_output=True, text=True).stdout.strip()
                nts.append(time.perf_counter() - t0)
            nm = f"{statistics.median(nts) * 1000:.0f} ms ({ncount} hits)"
        rows.append(f"| `{ours}` | {count:,} | {statistics.median(times) * 1000:.0f} ms "
                    f"({min(times) * 1000:.0f}-{max(times) * 1000:.0f}) | {q[18] * 1000:.0f} ms | {nm} |")
    head = (f"Index build of the {n:,} synthetic messages: ours {build:.1f} s ({first.parsed / build:,.0f} "
            f"msg/s), `notmuch new` {nm_build:.1f} s ({n / nm_build:,.0f} msg/s).")
    return head, rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    try:
        rate = build_rate(tmp, args.copies)
        head, rows = latency(tmp, args.messages, args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    publish("\n".join([
        f"## search ({dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores)",
        f"`benchmarks/bench_search.py --messages {args.messages} --copies {args.copies} --runs {args.runs}`",
        "", "| set | size | first search | rate | index size |", "|---|---|---|---|---|", rate, "", head, "",
        f"Query latency at {args.messages:,} messages, library call for a page of 50 in a warm process "
        "(opens and checks the index, one SQL query over the records it keeps, reads 50 snippets); "
        "notmuch: `notmuch count` as a process.", "",
        "| query | hits | ours p50 (min-max) | ours p95 | notmuch p50 |", "|---|---|---|---|---|", *rows]),
        args.append)


if __name__ == "__main__":
    main()
