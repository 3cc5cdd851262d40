"""Snapshot cost at scale: bytes added by unchanged / slightly changed snapshots; load time and memory.

    .venv/bin/python benchmarks/bench_snapshot.py [--messages 1000000] [--json]

Synthetic, seeded records (Gmail-like keys, random blob ids and Message-IDs, labels from a pool).  The blobs
themselves are not written (this measures manifests), so the writer's blob check is bypassed here.  The load
is measured in a fresh child process: open, resolve latest, iterate every record; peak RSS of that child.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import itertools
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from archiver.model import FolderState, MessageRecord
from archiver.store import Archive, manifest, snapshot

LABELS = ["\\Inbox", "\\Important", "\\Sent", "\\Starred", "Work", "Family", "Receipts", "Travel",
          "Lists/python", "Lists/debian", "Newsletters", "Old/2015", "Old/2016"]
FLAGS = [(), ("\\Seen",), ("\\Seen",), ("\\Seen", "\\Flagged"), ("\\Answered", "\\Seen")]
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def synth(n: int, seed: int = 1) -> list[MessageRecord]:
    rng = random.Random(seed)
    out = []
    msgid = 1_500_000_000_000_000_000
    thread = msgid
    for i in range(n):
        msgid += rng.randint(1, 2_000_000_000)
        if rng.random() < 0.6:
            thread = msgid
        labels = tuple(sorted(rng.sample(LABELS, rng.choice((1, 1, 2, 3)))))
        out.append(MessageRecord(
            key=f"gm:{msgid}", blob_id=f"{rng.getrandbits(256):064x}", size=rng.randint(800, 200_000),
            internaldate=1_300_000_000 + i * 300 + rng.randint(0, 299),
            tz_minutes=rng.choice((0, 60, -300, 330)),
            flags=rng.choice(FLAGS), labels=labels, thread_id=str(thread),
            message_id=f"<{rng.getrandbits(96):x}.{i}@mail.example.com>", uids=(("[Gmail]/All Mail", i + 1),),
            gm_msgid=msgid, gm_thrid=thread))
    return out


def files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()
            and "locks" not in p.parts}


def added(before: dict[str, int], after: dict[str, int]) -> int:
    return sum(size for name, size in after.items() if name not in before)


def commit(archive: Archive, records: list[MessageRecord], hour: int) -> tuple[int, float]:
    before = files(archive.path)
    t = time.perf_counter()
    with archive.writer("me@gmail.com") as w:
        w._check_blobs = lambda ordered: None  # type: ignore[method-assign]  # manifests only: no blobs
        w.commit(records, [FolderState("[Gmail]/All Mail", 1, len(records) + 1, 10**6, "\\All")],
                 source="imaps://me@imap.gmail.com", time=T0 + dt.timedelta(hours=hour))
    return added(before, files(archive.path)), time.perf_counter() - t


def peak_rss() -> int:
    """VmHWM of this process (ru_maxrss would include the parent's RSS inherited across fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def load_child(path: str) -> None:
    t, cpu = time.perf_counter(), time.process_time()
    archive = Archive.open(path)
    snap = archive.load(archive.resolve().id)
    counter = itertools.count()
    collections.deque(zip(snap, counter, strict=False), maxlen=0)  # consumed in C: time the load only
    n = next(counter)
    load_s, load_cpu = time.perf_counter() - t, time.process_time() - cpu
    keys = [f"gm:{k}" for k in random.Random(3).sample(range(10**6), 10)]
    t = time.perf_counter()
    for k in keys:
        snap.get(k)
    rss = peak_rss()
    print(json.dumps({"records": n, "load_s": round(load_s, 3), "load_cpu_s": round(load_cpu, 3),
                      "peak_rss_mb": round(rss / 2**20, 1),
                      "get_ms": round((time.perf_counter() - t) * 100, 3)}))


def load_only(path: str, runs: int) -> None:
    """Re-measure the load of an existing archive (``--load-only PATH``), median of ``runs`` child runs."""
    outs = [json.loads(subprocess.run([sys.executable, __file__, "--load-child", path], check=True,
                                      capture_output=True, text=True).stdout) for _ in range(runs)]
    outs.sort(key=lambda o: o["load_s"])
    print(json.dumps(outs[len(outs) // 2], indent=2))


def index_bench(n: int) -> None:
    """``--index N``: load an index of N blobs (one segment, as a first backup writes): time and memory."""
    import tracemalloc

    from archiver.store import codec
    from archiver.store.index import encode_segment, load_index
    from archiver.store.pack import PackEntry

    rng = random.Random(1)
    per_pack = 16_667  # ~16 MiB packs of ~1 KB compressed messages
    packs = {f"{rng.getrandbits(256):064x}": [PackEntry(0, f"{rng.getrandbits(256):064x}", 8 + i * 1000, 1000,
                                                        3000, "ab" * 32) for i in range(per_pack)]
             for _ in range((n + per_pack - 1) // per_pack)}
    with tempfile.TemporaryDirectory() as tmp:
        data = encode_segment(packs)
        (Path(tmp) / codec.sha256_hex(data)).write_bytes(data)
        del packs
        t = time.process_time()
        entries = len(load_index(Path(tmp)).blobs)
        cpu = time.process_time() - t
        tracemalloc.start()  # a second load, traced (tracing slows it down)
        index = load_index(Path(tmp))
        held, peak = tracemalloc.get_traced_memory()
    print(json.dumps({"index_entries": entries, "segment_bytes": len(data), "load_cpu_s": round(cpu, 2),
                      "held_mb": round(held / 1e6, 1), "peak_mb": round(peak / 1e6, 1),
                      "check": len(index.blobs) == entries}, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--load-child")
    ap.add_argument("--load-only")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--index", type=int, help="measure loading an index of this many blobs instead")
    ap.add_argument("--page-version", type=int, choices=(1, 2), default=manifest.WRITE_VERSION,
                    help="write manifest pages and snapshot records of this version (1: as before v2)")
    args = ap.parse_args()
    if args.index:
        index_bench(args.index)
        return
    if args.load_child:
        load_child(args.load_child)
        return
    if args.load_only:
        load_only(args.load_only, args.runs)
        return
    manifest.WRITE_VERSION = snapshot.WRITE_VERSION = args.page_version
    n = args.messages
    records = synth(n)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Archive.init(Path(tmp) / "a")
        first, first_s = commit(archive, records, 0)
        same, same_s = commit(archive, records, 1)
        rng = random.Random(2)
        changed = list(records)
        for i in rng.sample(range(n), 500):
            r = changed[i]
            changed[i] = MessageRecord(r.key, r.blob_id, r.size, r.internaldate, r.tz_minutes, r.flags,
                                       tuple(sorted({*r.labels, "Relabelled"})), r.thread_id, r.message_id,
                                       r.uids, r.gm_msgid, r.gm_thrid)
        last = records[-1].gm_msgid or 0
        for r in synth(100, seed=99):  # new mail: Gmail message ids grow, so new keys sort last
            m = last + (r.gm_msgid or 0)
            changed.append(MessageRecord(f"gm:{m}", r.blob_id, r.size, r.internaldate, r.tz_minutes, r.flags,
                                         r.labels, str(m), r.message_id, r.uids, m, m))
        small, small_s = commit(archive, changed, 2)
        out = subprocess.run([sys.executable, __file__, "--load-child", str(archive.path)], check=True,
                             capture_output=True, text=True).stdout
        load = json.loads(out)
    result = {"page_version": args.page_version, "messages": n, "first_snapshot_bytes": first,
              "first_commit_s": round(first_s, 2),
              "unchanged_snapshot_bytes": same, "unchanged_commit_s": round(same_s, 2),
              "changed_snapshot_bytes": small, "changed_commit_s": round(small_s, 2), **load}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:28}{v}")


if __name__ == "__main__":
    main()
