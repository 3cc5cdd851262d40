"""Format v2 packs (blocks): archive size on small mail, and random reads of one message.

    .venv/bin/python benchmarks/bench_v2_packs.py size [--runs 3] [--append]
    .venv/bin/python benchmarks/bench_v2_packs.py read [--gigabytes 1.0] [--reads 2000] [--append]

``size``: small mail = the corpus messages under 16 KB (leading mbox "From " line stripped), plus synthetic
mail with realistic headers (Received chains, DKIM, MIME, list headers; ~2-8 KB, seeded), in a fixed order.
Each set is backed up into a fresh v1 archive and a fresh v2 archive through the real writer, one snapshot,
and the WHOLE archive is counted (packs, index, dictionaries, snapshot, archive.json; locks are empty).  The
peer, measured in the same run: ``zstd -3`` of the unique messages concatenated.  Writer wall times are
medians of ``--runs``.

``read``: a v2 archive of ~``--gigabytes`` of synthetic mail (the same generator), then ``--reads`` random
``Archive.get_blob`` calls on a freshly opened archive (the block cache is cold for almost every read: the
archive holds thousands of blocks); p50/p90/p99 latency.  The peer: the same reads from a v1 archive of the
first 1/8 of the messages (one frame per message).
"""

from __future__ import annotations

import argparse
import csv
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

from archiver.model import FolderState, MessageRecord  # noqa: E402
from archiver.store import Archive  # noqa: E402
from archiver.store.backend import LocalBackend  # noqa: E402
from archiver.store.pack import KIND_BLOB, list_packs, read_pack_toc_full  # noqa: E402
from benchmarks._common import publish  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
SMALL = 16 * 1024
_TEXT = ("the of and to in is it that for on with as was at by be this from or have an are not but all we "
         "your meeting report update project please thanks regards attached review schedule tomorrow "
         "invoice order account payment shipping delivery release version build test patch bug issue "
         "list subscribe unsubscribe archive digest summary question answer support team office")
WORDS = _TEXT.split(" ")


def corpus_small() -> list[bytes]:
    out = []
    with open(CORPUS / "manifest.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            data = (CORPUS / row["path"]).read_bytes()
            if row.get("from_line") and data.startswith(b"From "):
                data = data.split(b"\n", 1)[1] if b"\n" in data else b""
            if len(data) < SMALL:
                out.append(data)
    return out


def synthetic_mail(n: int, seed: int = 11) -> list[bytes]:
    """Mail with the headers real mail carries (relays, DKIM, MIME, lists) and a text body of 1-6 KB."""
    rng = random.Random(seed)
    people = [f"{rng.choice(WORDS)}.{rng.choice(WORDS)}{rng.randrange(99)}" for _ in range(120)]
    domains = ["example.org", "mail.example.com", "lists.example.net", "corp.example", "shop.example.co.uk"]
    lists = ["dev", "announce", "users", "security", "jobs"]
    out = []
    t0 = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    for i in range(n):
        when = t0 + dt.timedelta(minutes=37 * i + rng.randrange(30))
        sender, rcpt = rng.choice(people), rng.choice(people)
        sdom = rng.choice(domains)
        date = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
        relays = "".join(
            f"Received: from mx{rng.randrange(9)}.{sdom} (mx{rng.randrange(9)}.{sdom} "
            f"[192.0.2.{rng.randrange(255)}])\r\n\tby mail.example.org with ESMTPS id {rng.getrandbits(48):x}"
            f"\r\n\tfor <{rcpt}@example.org>; {date}\r\n" for _ in range(rng.randrange(2, 5)))
        dkim = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                       for _ in range(172))
        lst = rng.choice(lists) if rng.random() < 0.4 else None
        head = (f"Return-Path: <{sender}@{sdom}>\r\n{relays}"
                f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={sdom}; s=s1; "
                f"t={int(when.timestamp())};\r\n\th=from:to:subject:date:message-id; bh={dkim[:44]}=;\r\n"
                f"\tb={dkim}\r\n"
                f"From: {sender.title()} <{sender}@{sdom}>\r\nTo: <{rcpt}@example.org>\r\n"
                f"Subject: {'Re: ' if rng.random() < 0.3 else ''}{' '.join(rng.choices(WORDS, k=5))}\r\n"
                f"Date: {date}\r\nMessage-ID: <{rng.getrandbits(64):x}.{i}@{sdom}>\r\n"
                "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n")
        if lst:
            head += (f"List-Id: <{lst}.lists.example.net>\r\nList-Unsubscribe: "
                     f"<mailto:{lst}-unsubscribe@lists.example.net>\r\nPrecedence: list\r\n")
        lines, size = [], rng.randint(1000, 6000)
        while sum(map(len, lines)) < size:
            lines.append(" ".join(rng.choices(WORDS, k=rng.randint(6, 14))).capitalize() + ".")
        out.append((head + "\r\n" + "\r\n".join(lines) + "\r\n").encode())
    return out


def build(path: Path, messages: list[bytes], version: int) -> tuple[Archive, list[str], float]:
    archive = Archive.init(path, version=version)
    t = time.perf_counter()
    with archive.writer("bench@example.org") as w:
        ids = [w.put_blob(m) for m in messages]
        pairs = enumerate(zip(ids, messages, strict=True))
        w.commit([MessageRecord(f"k{i:07}", b, len(m), 1_700_000_000 + i, 0, (), ("INBOX",), str(i), None,
                                (("INBOX", i + 1),)) for i, (b, m) in pairs],
                 [FolderState("INBOX", 1, len(messages) + 1)], source="bench")
    return archive, ids, time.perf_counter() - t


def tree_bytes(path: Path) -> dict[str, int]:
    parts: dict[str, int] = {}
    for p in path.rglob("*"):
        if p.is_file():
            top = p.relative_to(path).parts[0]
            parts[top] = parts.get(top, 0) + p.stat().st_size
    return parts


def zstd3(data: bytes) -> int:
    return len(subprocess.run(["zstd", "-3", "-c", "-q"], input=data, capture_output=True, check=True).stdout)


def header(what: str) -> str:
    return (f"### {what} ({dt.date.today()}, {platform.machine()}, {platform.python_version()}, "
            f"{os.cpu_count()} cores)\n")


def breakdown(path: Path) -> dict[str, int]:
    """Bytes of a v2 archive by what they hold: message blocks, manifest page frames, pack TOCs and
    trailers, dictionary copies in packs, and the other files."""
    backend = LocalBackend(path)
    out = dict.fromkeys(("blocks", "pages", "tocs", "dict copies"), 0)
    for pid in list_packs(backend):
        toc = read_pack_toc_full(backend, pid)
        size = backend.size(f"packs/{pid[:2]}/{pid}")
        frames = {(e.offset, e.length, e.kind) for e in toc.entries}
        out["blocks"] += sum(n for _, n, k in frames if k == KIND_BLOB)
        out["pages"] += sum(n for _, n, k in frames if k != KIND_BLOB)
        copies = sum(n for _, n in toc.dicts.values())
        out["dict copies"] += copies
        out["tocs"] += size - sum(n for _, n, _k in frames) - copies
    for top, n in tree_bytes(path).items():
        if top != "packs":
            out[top] = n
    return out


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} s ({min(xs):.2f}-{max(xs):.2f})"


def run_size(runs: int, append: bool) -> None:
    sets = {"corpus < 16 KB": corpus_small(), "synthetic mail": synthetic_mail(6000)}
    lines = [header("archive size on small mail, v1 vs v2 vs zstd -3"),
             f"`python benchmarks/bench_v2_packs.py size --runs {runs}{' --append' if append else ''}` "
             "(whole archive counted; peer: `zstd -3` of the unique messages concatenated, same run; "
             "writer time: median of the runs, min-max)\n",
             "| set | messages | raw | zstd -3 | v1 archive | v1 / zstd | v2 archive | v2 / zstd | v1 write "
             "| v2 write |", "|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for name, msgs in sets.items():
        unique = list(dict.fromkeys(msgs))
        raw = sum(map(len, unique))
        peer = zstd3(b"".join(unique))
        total: dict[int, int] = {}
        times: dict[int, list[float]] = {1: [], 2: []}
        parts: dict[str, int] = {}
        for _ in range(runs):
            for version in (1, 2):
                with tempfile.TemporaryDirectory() as tmp:
                    _a, _ids, took = build(Path(tmp) / "a", msgs, version)
                    times[version].append(took)
                    total[version] = sum(tree_bytes(Path(tmp) / "a").values())
                    if version == 2:
                        parts = breakdown(Path(tmp) / "a")
        lines.append(f"| {name} | {len(unique)} | {raw / 1e6:.1f} MB | {peer / 1e6:.2f} MB | "
                     f"{total[1] / 1e6:.2f} MB | {total[1] / peer:.3f}x | {total[2] / 1e6:.2f} MB | "
                     f"**{total[2] / peer:.3f}x** | {spread(times[1])} | {spread(times[2])} |")
        per = ", ".join(f"{k} {v / 1e3:.0f} KB ({v / peer:.3f}x, {v / len(unique):.0f} B/msg)"
                        for k, v in sorted(parts.items(), key=lambda kv: -kv[1]) if v)
        notes.append(f"- {name}, v2 by part: {per}.")
    lines += ["", *notes, "",
              "Target (issue 11): v2 / zstd <= 1.10x on small real mail, <= 1.0x as a stretch."]
    publish("\n".join(lines) + "\n", append)


def run_read(gigabytes: float, reads: int, append: bool) -> None:
    target = int(gigabytes * 1e9)
    msgs: list[bytes] = []
    seed = 0
    while sum(map(len, msgs)) < target:
        msgs += synthetic_mail(20000, seed=100 + seed)
        seed += 1
    raw = sum(map(len, msgs))
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        results = {}
        for version, part in ((2, msgs), (1, msgs[: len(msgs) // 8])):
            path = Path(tmp) / f"v{version}"
            _a, ids, took = build(path, part, version)
            stored = sum(tree_bytes(path).values())
            archive = Archive.open(path)
            _ = archive.index  # loaded before timing, as any reader has it after its first read
            picks = [rng.choice(ids) for _ in range(reads)]
            lat = []
            for b in picks:
                t = time.perf_counter()
                archive.get_blob(b)
                lat.append((time.perf_counter() - t) * 1000)
            lat.sort()
            results[version] = (len(part), sum(map(len, part)), stored, took, lat)
            shutil.rmtree(path)
    lines = [header("random read of one message"),
             f"`python benchmarks/bench_v2_packs.py read --gigabytes {gigabytes} --reads {reads}"
             f"{' --append' if append else ''}` (synthetic mail; {reads} random `get_blob` on a "
             "freshly opened archive, index loaded first; page cache warm from the write)\n",
             "| archive | messages | raw | stored | write | p50 | p90 | p99 |",
             "|---|---|---|---|---|---|---|---|"]
    for version in (2, 1):
        n, rawb, stored, took, lat = results[version]
        pct = [lat[int(len(lat) * q)] for q in (0.5, 0.9, 0.99)]
        lines.append(f"| v{version} | {n} | {rawb / 1e9:.2f} GB | {stored / 1e9:.2f} GB | {took:.0f} s | "
                     f"{pct[0]:.2f} ms | {pct[1]:.2f} ms | {pct[2]:.2f} ms |")
    lines.append(f"\nTarget (issue 11): p50 <= 3 ms on a ~1 GB archive (raw {raw / 1e9:.2f} GB here).")
    publish("\n".join(lines) + "\n", append)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("size")
    s.add_argument("--runs", type=int, default=3)
    s.add_argument("--append", action="store_true")
    r = sub.add_parser("read")
    r.add_argument("--gigabytes", type=float, default=1.0)
    r.add_argument("--reads", type=int, default=2000)
    r.add_argument("--append", action="store_true")
    args = ap.parse_args()
    if args.cmd == "size":
        run_size(args.runs, args.append)
    else:
        run_read(args.gigabytes, args.reads, args.append)


if __name__ == "__main__":
    main()
