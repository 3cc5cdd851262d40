"""Body download speed: Session.fetch_bodies vs stdlib imaplib vs imapclient's fetch, same Dovecot, same run.

    .venv/bin/python benchmarks/bench_fetch.py [--messages 10000] [--size 10000] [--runs 3] [--append]

Writes N synthetic ~SIZE-byte messages (seeded) into a private Dovecot's INBOX (Maildir files), lets Dovecot
index them once, then takes turns, ``--runs`` times each, reading every body over loopback:
  imaplib     one ``UID FETCH 1:* (BODY.PEEK[])`` through stdlib imaplib (the reference of test-servers.md)
  imapclient  ``IMAPClient.fetch(chunk, ['BODY.PEEK[]'])`` in 500-UID chunks (imapclient 4 takes no ranges)
  archiver    ``Session.fetch_bodies(uids, sizes=...)`` (sizes from fetch_meta, fetched before the clock)
Every reader must return the same bytes (checked by SHA-256).  Reports the median wall time, MB/s and CPU
seconds, the ratio of ours to imaplib, and the time of ``fetch_meta`` over all messages; ``--append`` adds
the table to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import imaplib
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imapclient import IMAPClient  # noqa: E402

from archiver.imap import Credentials, connect, parse_url  # noqa: E402
from benchmarks._common import plain_messages, publish  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402


class Digest:
    """Order-independent digest of (uid, body) pairs, to check that every reader got the same bytes."""

    def __init__(self) -> None:
        self.items: dict[int, str] = {}
        self.nbytes = 0

    def add(self, uid: int, body: bytes) -> None:
        self.items[uid] = hashlib.sha256(body).hexdigest()
        self.nbytes += len(body)

    def value(self) -> str:
        return hashlib.sha256("".join(f"{u}:{h}" for u, h in sorted(self.items.items())).encode()).hexdigest()


def read_imaplib(port: int) -> Digest:
    d = Digest()
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login("alice", "secret")
    imap.select("INBOX", readonly=True)
    _typ, data = imap.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
    for item in data:
        if isinstance(item, tuple):
            head = item[0]
            uid = int(head[head.index(b"UID ") + 4:].split()[0].rstrip(b")"))
            d.add(uid, item[1])
    imap.logout()
    return d


def read_imapclient(port: int) -> Digest:
    d = Digest()
    client = IMAPClient("127.0.0.1", port=port, ssl=False)
    client.login("alice", "secret")
    client.select_folder("INBOX", readonly=True)
    uids = client.search("ALL")
    for i in range(0, len(uids), 500):
        for uid, item in client.fetch(uids[i:i + 500], ["BODY.PEEK[]"]).items():
            d.add(uid, item[b"BODY[]"])
    client.logout()
    return d


def make_archiver_reader(port: int) -> Callable[[], Digest]:
    endpoint = parse_url(f"imap://alice@127.0.0.1:{port}")

    def read() -> Digest:
        d = Digest()
        with connect(endpoint, Credentials(password="secret")) as session:
            session.select("INBOX")
            for uid, body in session.fetch_bodies(UIDS, sizes=SIZES):
                d.add(uid, body)
        return d

    return read


UIDS: list[int] = []
SIZES: dict[int, int] = {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--append", action="store_true", help="append the results to benchmarks/README.md")
    args = ap.parse_args()

    with DovecotServer(storage="maildir") as dv:
        dv.add_user("alice", "secret")
        dv.write_maildir("alice", "INBOX", plain_messages(args.messages, args.size, 7, "fetch"))
        with connect(parse_url(f"imap://alice@127.0.0.1:{dv.port}"), Credentials(password="secret")) as s:
            s.select("INBOX")  # Dovecot indexes the Maildir here, before any clock runs
            UIDS[:] = s.search_uids()
            SIZES.update({m.uid: m.size for m in s.fetch_meta(UIDS)})
            meta_times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                s.fetch_meta(UIDS)
                meta_times.append(time.perf_counter() - t0)
        readers: dict[str, Callable[[], Digest]] = {
            "imaplib": lambda: read_imaplib(dv.port),
            "imapclient": lambda: read_imapclient(dv.port),
            "archiver": make_archiver_reader(dv.port),
        }
        wall: dict[str, list[float]] = {k: [] for k in readers}
        cpu: dict[str, list[float]] = {k: [] for k in readers}
        digests: dict[str, set[str]] = {k: set() for k in readers}
        nbytes = 0
        for _ in range(args.runs):
            for name, read in readers.items():
                t0, c0 = time.perf_counter(), time.process_time()
                d = read()
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
                digests[name].add(d.value())
                nbytes = d.nbytes
                if len(d.items) != len(UIDS):
                    raise SystemExit(f"{name} read {len(d.items)} of {len(UIDS)} messages")
        if len(set().union(*digests.values())) != 1:
            raise SystemExit(f"readers disagree on the bytes: {digests}")

    mb = nbytes / 1e6
    rows = []
    for name in readers:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        rows.append(f"| {name} | {w:.2f} s | {mb / w:.0f} MB/s | {c:.2f} s |")
    ratio = statistics.median(wall["archiver"]) / statistics.median(wall["imaplib"])
    vs_ic = statistics.median(wall["imapclient"]) / statistics.median(wall["archiver"])
    cmd = "python benchmarks/bench_fetch.py " + " ".join(sys.argv[1:])
    report = "\n".join([
        f"### fetch_bodies: {args.messages} messages, {mb:.0f} MB, Dovecot Maildir on loopback "
        f"({dt.date.today()}, {platform.machine()}, {platform.python_version()})",
        f"`{cmd.strip()}` (median of {args.runs} runs each, same bytes checked by SHA-256)",
        "",
        "| reader | wall | rate | client CPU |",
        "|---|---|---|---|",
        *rows,
        "",
        f"archiver / imaplib wall time: {ratio:.2f}x; imapclient / archiver: {vs_ic:.2f}x.  "
        f"fetch_meta of all {len(UIDS)} (flags, dates, sizes, Message-ID, MODSEQ): "
        f"{statistics.median(meta_times):.2f} s ({len(UIDS) / statistics.median(meta_times):.0f} msg/s).",
        "",
    ])
    publish(report, args.append)


if __name__ == "__main__":
    main()
