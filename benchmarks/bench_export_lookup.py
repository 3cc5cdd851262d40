"""Export of a large synthetic archive to mbox: the per-message record lookup, Gmail keys vs hash keys.

    .venv/bin/python benchmarks/bench_export_lookup.py [--messages 50000] [--runs 3] [--archive DIR]

Export writes bodies in pack order; a message's record must then be found by key.  With Gmail keys
(``gm:<X-GM-MSGID>``, written in that order) pack order follows key order; with the keys of other servers
(``h:<blob id>``) it is random, the worst case for a per-message manifest lookup.  The archive (one
snapshot per key style, ~1.5 KB messages) is built through ArchiveWriter; ``--archive`` keeps it for
another run.  Prints the median wall time of ``export(..., "mbox", ...)`` per key style.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiver import Archive, export  # noqa: E402
from archiver.model import FolderState, MessageRecord  # noqa: E402
from tests.query.builder import synthetic_messages  # noqa: E402

ACCOUNTS = {"gmail": "gmail@example.com", "hash": "imap@example.com"}


def build(path: Path, n: int) -> None:
    """One snapshot per key style over the same ``n`` bodies (the second writer stores nothing new)."""
    archive = Archive.init(path)
    msgs = synthetic_messages(n, size=1500)
    for style, account in ACCOUNTS.items():
        records = []
        with archive.writer(account) as w:
            for i, (_, data, mid) in enumerate(msgs):
                blob = w.put_blob(data)
                key = f"gm:{1_700_000_000_000_000_000 + i}" if style == "gmail" else f"h:{blob}"
                records.append(MessageRecord(
                    key=key, blob_id=blob, size=len(data), internaldate=1_600_000_000 + i * 60, tz_minutes=0,
                    flags=("\\Seen",), labels=("\\Inbox", f"L{i % 50}"), thread_id=str(i // 3),
                    message_id=mid))
            w.commit(records, [FolderState("INBOX", 1, n + 1, 1, "")], source=f"imaps://{account}@example.com",
                     time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    archive.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--archive", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.archive or Path(tmp) / "archive"
        if not (path / "archive.json").exists():
            start = time.perf_counter()
            build(path, args.messages)
            print(f"built {args.messages} messages in {time.perf_counter() - start:.1f} s")
        for style, account in ACCOUNTS.items():
            walls = []
            for _ in range(args.runs):
                out = Path(tmp) / "out.mbox"
                archive = Archive.open(path)
                start = time.perf_counter()
                result = export(archive, "latest", "mbox", out, account=account, overwrite=True)
                walls.append(time.perf_counter() - start)
                archive.close()
                assert result.complete and result.messages == args.messages
                out.unlink()
            runs = ", ".join(f"{w:.2f}" for w in walls)
            print(f"{style} keys: export mbox {args.messages} messages: "
                  f"median {statistics.median(walls):.2f} s (runs: {runs})")


if __name__ == "__main__":
    main()
