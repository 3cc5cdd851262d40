"""Manifest cost of a real first backup with checkpoints, and of 1% new mail, on a non-Gmail server.

    .venv/bin/python benchmarks/bench_manifest.py [--messages 10000] [--runs 3] [--checkpoint-seconds 0.3]

Mail: the real messages of ../shared/corpus (leading ``From `` lines stripped), repeated until there are
``--messages`` of them, each copy made distinct by a ``Received`` line and its Message-ID (the corpus' own
ids with the copy's number in the local part; messages without one stay without), over three folders of a
private Dovecot (maildir).  Each run backs the server up from scratch through the library, writing a
partial snapshot every ``--checkpoint-seconds`` (a first run of a big account writes one a minute), then
writes 1% new messages into INBOX and backs up again.  Measured side by side in one run:

- format v2 (now): pages v2, keys ``n:<number>`` in first-seen order;
- format v1 (before): pages v1, keys ``h:<blob>`` (the code of v1, reached by patching the two constants
  and the key assignment in this process).

Pages stored are compared with the pages of the final snapshot's tree (checkpoints must not multiply
pages).  Manifest bytes = every manifest page stored (compressed, all copies, including those only checkpoints
reference) + snapshot records, divided by the messages of the final snapshot.  The 1% figure compares the
archive's growth (every file but ``cache/``) with the new messages' own stored frames.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiver import Archive, Credentials, backup  # noqa: E402
from archiver.ops.backup import keys as keys_mod  # noqa: E402
from archiver.ops.backup import plan  # noqa: E402
from archiver.ops.backup.checkpoint import CheckpointPolicy  # noqa: E402
from archiver.store import manifest, snapshot  # noqa: E402
from archiver.store.manifest import iter_page_ids  # noqa: E402
from benchmarks._common import publish  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
CREDS = Credentials(password="secret")


def corpus(corpus_dir: Path, max_size: int = 1 << 20) -> list[tuple[bytes, str]]:
    """(message, Message-ID or "") of every corpus message up to ``max_size``."""
    out = []
    with (corpus_dir / "manifest.tsv").open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            raw = (corpus_dir / row["path"]).read_bytes()
            if "leading_from_line" in row["flags"]:
                raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
            if raw and len(raw) <= max_size:
                out.append((raw, row["message_id"] if row["n_message_id"] == "1" else ""))
    return out


def variants(base: list[tuple[bytes, str]], n: int, start: int, seed: int) -> list[bytes]:
    """``n`` distinct messages from ``base``: copy ``start + i`` gets a Received line and, where the original
    has one Message-ID, that id with the copy's number in its local part."""
    rng = random.Random(seed)
    out = []
    for i in range(start, start + n):
        raw, mid = base[rng.randrange(len(base))]
        if mid and mid.startswith("<") and mid.encode() in raw:
            raw = raw.replace(mid.encode(), f"<{i}.{mid[1:]}".encode(), 1)
        nl = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
        received = f"Received: from relay{i % 97}.example.net by mx.example.org; id {i:08x}".encode()
        out.append(received + nl + raw)
    return out


@contextlib.contextmanager
def format_v1() -> Iterator[None]:
    """Write pages and snapshot records of version 1 with ``h:<blob>`` keys, as the code of v1 did."""
    saved = manifest.WRITE_VERSION, snapshot.WRITE_VERSION, keys_mod.GenericKeys.key
    manifest.WRITE_VERSION = snapshot.WRITE_VERSION = 1
    keys_mod.GenericKeys.key = lambda self, blob_id, n: plan.generic_key(blob_id, n)  # type: ignore[method-assign]
    try:
        yield
    finally:
        manifest.WRITE_VERSION, snapshot.WRITE_VERSION, keys_mod.GenericKeys.key = saved  # type: ignore[method-assign]


def files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")
            if p.is_file() and "cache" not in p.relative_to(root).parts and "locks" not in p.parts}


def manifest_bytes(path: Path) -> tuple[int, int, int]:
    """(bytes of every stored page, number of pages, bytes of snapshot records)."""
    archive = Archive.open(path)
    pages = archive.index.pages
    total = sum(length for length, _raw, _d in pages.raw_lengths())
    total += sum(pages[p].length for p in pages for _ in pages.others(p))  # second copies, if any
    records = sum(p.stat().st_size for p in (path / "snapshots").iterdir())
    count = len(pages)
    archive.close()
    return total, count, records


def one_run(dv: DovecotServer, work: Path, name: str, new: list[bytes], seconds: float) -> dict[str, float]:
    path = work / name
    url = f"imap://alice@127.0.0.1:{dv.port}"
    r1 = backup(path, url, credentials=CREDS, init=True, connections=2,
                checkpoint=CheckpointPolicy(seconds=seconds, cost_factor=0.0, snapshot_cost_factor=0.0))
    assert r1.complete, r1.problems
    archive = Archive.open(path)
    partial = sum(1 for s in archive.snapshots() if s.partial)
    blobs_before = set(archive.index.blobs)
    final = sum(1 for _ in iter_page_ids(archive.load(r1.snapshot).root, archive.read_page))
    archive.close()
    pages, npages, records = manifest_bytes(path)
    before = files(path)
    cur = dv.maildir("alice", "INBOX") / "cur"
    present = set(cur.iterdir())
    dv.write_maildir("alice", "INBOX", new)
    r2 = backup(path, url, credentials=CREDS)
    assert r2.complete and r2.new == len(new), (r2.new, len(new))
    after = files(path)
    grown = sum(size - before.get(f, 0) for f, size in after.items())
    archive = Archive.open(path)
    own = sum(archive.index.blobs[b].length for b in set(archive.index.blobs) - blobs_before)
    archive.close()
    for p in set(cur.iterdir()) - present:  # the server as it was, for the next run
        p.unlink()
    return {"messages": r1.messages, "partial": partial, "pages": npages, "final_pages": final,
            "page_bytes": pages,
            "records": records, "per_msg": (pages + records) / r1.messages, "grown": grown, "own": own,
            "budget": 2 * own + 32 * 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--checkpoint-seconds", type=float, default=0.3)
    ap.add_argument("--keep", action="store_true", help="keep the archives (their folder is printed)")
    ap.add_argument("--append", action="store_true", help="append the figures to benchmarks/README.md")
    args = ap.parse_args()
    base = corpus(CORPUS)
    msgs = variants(base, args.messages, 0, seed=1)
    new = variants(base, max(1, args.messages // 100), args.messages, seed=2)
    work = Path(tempfile.mkdtemp(prefix="gma-bench-"))
    results: dict[str, list[dict[str, float]]] = {"v2": [], "v1": []}
    with DovecotServer(storage="maildir") as dv:
        dv.add_user("alice", "secret")
        third = len(msgs) // 3
        dv.write_maildir("alice", "INBOX", msgs[:third])
        dv.write_maildir("alice", "Lists", msgs[third:2 * third])
        dv.write_maildir("alice", "Archive", msgs[2 * third:])
        for i in range(args.runs):
            for label in ("v2", "v1"):
                ctx = format_v1() if label == "v1" else contextlib.nullcontext()
                with ctx:
                    results[label].append(one_run(dv, work, f"{label}-{i}", new, args.checkpoint_seconds))
    if args.keep:
        print(f"archives kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)

    def med(label: str, key: str) -> float:
        return statistics.median(r[key] for r in results[label])

    def spread(label: str, key: str, fmt: str = "{:.0f}") -> str:
        vals = [r[key] for r in results[label]]
        return f"{fmt.format(min(vals))}-{fmt.format(max(vals))}"

    rows = []
    for label in ("v2", "v1"):
        rows.append(
            f"| {label} | {med(label, 'partial'):.0f} | {med(label, 'pages'):.0f} "
            f"({med(label, 'pages') / med(label, 'final_pages'):.2f}x the final tree's) | "
            f"{med(label, 'page_bytes'):,.0f} | **{med(label, 'per_msg'):.1f}** "
            f"({spread(label, 'per_msg', '{:.1f}')}) "
            f"| {med(label, 'grown'):,.0f} ({spread(label, 'grown')}) | {med(label, 'own'):,.0f} | "
            f"{med(label, 'budget'):,.0f} |")
    n = int(med("v2", "messages"))
    text = "\n".join([
        f"### manifest: {n:,} real messages (corpus variants), checkpointed first run, then 1% new mail "
        f"(Dovecot maildir, {dt.date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()})",
        f"`.venv/bin/python benchmarks/bench_manifest.py --messages {args.messages} --runs {args.runs} "
        f"--checkpoint-seconds {args.checkpoint_seconds}` (median of {args.runs}, spread in brackets)",
        "",
        "| format | partial snapshots | pages stored |  page bytes | manifest B/message (target <= 40) | "
        "1% new: archive growth | new messages' own frames | target: 2x own + 32 KB |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    publish(text, args.append)


if __name__ == "__main__":
    main()
