"""Restore of N messages into an empty Dovecot (sdbox): gmail-archiver restore vs mbsync pushing a Maildir.

    .venv/bin/python benchmarks/bench_restore.py [--messages 10000] [--size 10000] [--runs 3]
        [--connections N] [--tmp DIR] [--append]

Builds one archive (through the store's writer) and one Maildir holding the same N synthetic messages, then
alternates, each run into a fresh empty Dovecot (sdbox): ``mbsync`` pushing the Maildir (``Sync Push``,
``Create Far``) and ``gmail-archiver restore`` (a subprocess each, timed from start to exit).  Each target is
checked to hold exactly N messages afterwards.  Reports medians, messages/s and the ratio; ``--append`` adds
the figures to benchmarks/README.md.  Target: ours <= 0.5x mbsync's time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
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

import imapclient  # noqa: E402

from archiver.model import MessageRecord  # noqa: E402
from archiver.store import Archive  # noqa: E402
from benchmarks._common import mbsync_config, publish  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402

WORDS = ["mail", "restore", "archive", "label", "thread", "gmail", "server", "folder", "message", "the", "of",
         "and", "to", "in", "is", "it", "that", "for", "on", "with", "as"]


def synth(n: int, size: int, seed: int = 3) -> list[bytes]:
    """Deterministic CRLF plain-text messages of about ``size`` bytes with unique Message-IDs."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        head = (f"From: user{rng.randrange(50)}@example.org\r\nTo: me@example.org\r\n"
                f"Subject: message {i} {' '.join(rng.choices(WORDS, k=5))}\r\n"
                f"Date: Mon, 1 Jan 2024 00:{i % 60:02d}:00 +0000\r\n"
                f"Message-ID: <restore{i}.{seed}@example.org>\r\n\r\n").encode()
        lines, total = [], len(head)
        while total < int(size * rng.uniform(0.8, 1.2)):
            line = " ".join(rng.choices(WORDS, k=12)).encode() + b"\r\n"
            lines.append(line)
            total += len(line)
        out.append(head + b"".join(lines))
    return out


def build_archive(path: Path, msgs: list[bytes]) -> None:
    archive = Archive.init(path)
    base = 1_700_000_000
    with archive.writer("bench@example.org") as w:
        records = []
        for i, data in enumerate(msgs):
            blob = w.put_blob(data)
            records.append(MessageRecord(key=f"h:{blob}", blob_id=blob, size=len(data), internaldate=base + i,
                                         tz_minutes=0, flags=("\\Seen",), labels=("INBOX",),
                                         thread_id=str(i), message_id=f"<restore{i}.3@example.org>"))
        w.commit(records, [], source="imap://bench@example.org")
    archive.close()


def build_maildir(path: Path, msgs: list[bytes]) -> None:
    for sub in ("cur", "new", "tmp"):
        (path / "INBOX" / sub).mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(msgs):
        name = path / "INBOX" / "cur" / f"{1_700_000_000 + i}.M{i}P1.bench,S={len(data)}:2,S"
        name.write_bytes(data)
        os.utime(name, (1_700_000_000 + i, 1_700_000_000 + i))
    for sub in ("cur", "new", "tmp", ""):  # aged, else mbsync sleeps over a "recently modified" Maildir
        os.utime(path / "INBOX" / sub, (1_700_000_000, 1_700_000_000))


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env=env, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return wall


def inbox_digest(dv: DovecotServer) -> tuple[int, str]:
    """(message count, order-free digest of the bodies) of alice's INBOX."""
    c = imapclient.IMAPClient("127.0.0.1", port=dv.port, ssl=False)
    c.login("alice", "secret")
    c.select_folder("INBOX", readonly=True)
    uids = c.search("ALL")
    hashes = []
    for i in range(0, len(uids), 1000):
        for item in c.fetch(uids[i:i + 1000], ["BODY.PEEK[]"]).values():
            hashes.append(hashlib.sha256(item[b"BODY[]"]).hexdigest())
    c.logout()
    return len(uids), hashlib.sha256("".join(sorted(hashes)).encode()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=None,
                    help="restore's --connections (default: the command's own default)")
    ap.add_argument("--tmp", default=None,
                    help="where the archive, the Maildir and Dovecot's mail live (default: the system's temp "
                         "dir); e.g. /dev/shm takes the disk's file creation, the same for both tools, out")
    ap.add_argument("--append", action="store_true", help="append the figures to benchmarks/README.md")
    args = ap.parse_args()
    if args.tmp is not None:
        tempfile.tempdir = args.tmp  # DovecotServer's mail folder too
    work = Path(tempfile.mkdtemp(prefix="gma-bench-restore-"))
    msgs = synth(args.messages, args.size)
    build_archive(work / "archive", msgs)
    expected = hashlib.sha256("".join(sorted(hashlib.sha256(m).hexdigest() for m in msgs)).encode())
    expected_hex = expected.hexdigest()
    env = dict(os.environ, GMAIL_ARCHIVER_PASSWORD="secret")
    conns = ["--connections", str(args.connections)] if args.connections is not None else []
    where = ["--tmp", args.tmp] if args.tmp is not None else []
    ours_t: list[float] = []
    theirs_t: list[float] = []
    try:
        for i in range(args.runs):
            with DovecotServer(storage="sdbox") as dv:
                dv.add_user("alice", "secret")
                rc = work / f"mb{i}.rc"
                maildir = work / f"maildir{i}"       # a fresh copy: mbsync renames files and keeps state
                build_maildir(maildir, msgs)
                rc.write_text(mbsync_config(dv.port, maildir, "push"))
                theirs_t.append(timed(["mbsync", "-q", "-c", str(rc), "-a"]))
                # mbsync adds an X-TUID header to what it pushes: check the count only
                assert inbox_digest(dv)[0] == args.messages, "mbsync target incomplete"
                shutil.rmtree(maildir)
            with DovecotServer(storage="sdbox") as dv:
                dv.add_user("alice", "secret")
                ours_t.append(timed([sys.executable, "-m", "archiver", "restore", str(work / "archive"),
                                     f"imap://alice@127.0.0.1:{dv.port}", "--no-progress", *conns], env=env))
                assert inbox_digest(dv) == (args.messages, expected_hex), "gmail-archiver target differs"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours, theirs = statistics.median(ours_t), statistics.median(theirs_t)
    total_mb = sum(len(m) for m in msgs) / 1e6
    lines = [
        f"### restore: {args.messages:,} x ~{args.size:,} B ({total_mb:.0f} MB) into an empty Dovecot "
        f"(sdbox), gmail-archiver vs mbsync push ({dt.date.today()}, {platform.machine()}, "
        f"{platform.python_version()})",
        f"`.venv/bin/python benchmarks/bench_restore.py --messages {args.messages} --size {args.size} "
        f"--runs {args.runs}{' '.join(['', *conns, *where])}` "
        f"(median of {args.runs}; each target checked: N messages; ours byte-identical)",
        "",
        "| tool | wall | messages/s |",
        "|---|---|---|",
        f"| mbsync (Sync Push, PipelineDepth 50) | {theirs:.2f} s | {args.messages / theirs:,.0f} |",
        f"| gmail-archiver restore | {ours:.2f} s | {args.messages / ours:,.0f} |",
        "",
        f"gmail-archiver / mbsync wall time: {ours / theirs:.2f}x (target <= 0.5x). "
        f"Runs: ours {', '.join(f'{t:.2f}' for t in ours_t)} s; "
        f"mbsync {', '.join(f'{t:.2f}' for t in theirs_t)} s.",
    ]
    text = "\n".join(lines)
    publish(text, args.append)


if __name__ == "__main__":
    main()
