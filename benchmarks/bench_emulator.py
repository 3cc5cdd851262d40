"""Serving speed of the Gmail emulator next to Dovecot: ``UID FETCH 1:* (BODY.PEEK[])`` of the same mailbox.

    .venv/bin/python benchmarks/bench_emulator.py [--messages 10000] [--size 10000] [--runs 3] [--append]

Writes N deterministic ~SIZE-byte messages once as files; loads them into a private Dovecot (Maildir INBOX,
indexed before the clock starts) and into the emulator, run as its own process through the CLI
(``gmail-archiver emulator --seed-corpus``), so neither server shares a GIL with the reader.  Then, taking
turns ``--runs`` times each, two readers fetch every body over loopback with one command:
  raw      a socket reader that only frames literals (the ceiling of a Python client)
  imaplib  stdlib ``uid("FETCH", "1:*", "(BODY.PEEK[])")``
Every run must return the same multiset of bodies (SHA-256).  Reports median wall time and MB/s per server
and reader, and the emulator/Dovecot wall-time ratio; ``--append`` adds the table to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import imaplib
import json
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import plain_messages, publish  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402

Reader = Callable[[int, str, str, str], list[bytes]]


def read_raw(port: int, user: str, password: str, folder: str) -> list[bytes]:
    """LOGIN, EXAMINE, one UID FETCH; frame the literals and keep the bodies."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = sock.makefile("rb", buffering=1 << 20)
    f.readline()
    sock.sendall(f'a LOGIN {user} {password}\r\nb EXAMINE "{folder}"\r\n'
                 f"c UID FETCH 1:* (BODY.PEEK[])\r\n".encode())
    bodies = []
    while True:
        line = f.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        m = re.search(rb"\{(\d+)\}\r\n$", line)
        if m:
            bodies.append(f.read(int(m.group(1))))
        elif line.startswith(b"c "):
            if not line.startswith(b"c OK"):
                raise RuntimeError(line.decode(errors="replace"))
            break
    sock.sendall(b"d LOGOUT\r\n")
    f.close()
    sock.close()
    return bodies


def read_imaplib(port: int, user: str, password: str, folder: str) -> list[bytes]:
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login(user, password)
    imap.select(f'"{folder}"', readonly=True)
    _typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
    imap.logout()
    return [item[1] for item in data if isinstance(item, tuple)]


def digest(bodies: list[bytes]) -> str:
    return hashlib.sha256(b"".join(sorted(hashlib.sha256(b).digest() for b in bodies))).hexdigest()


def start_emulator(folder: Path, n: int) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "archiver", "emulator", "--port", "0", "--user", "alice", "--password",
         "secret", "--seed-corpus", str(folder), "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or lines[-1] != "}\n":
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("emulator did not start")
        lines.append(line)
    doc = json.loads("".join(lines))
    if doc["messages"] != n:
        raise RuntimeError(f"emulator seeded {doc['messages']} messages, expected {n}")
    return proc, int(doc["port"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--size", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--append", action="store_true", help="append the results to benchmarks/README.md")
    args = ap.parse_args()
    messages = plain_messages(args.messages, args.size, 11, "emu")
    total = sum(len(m) for m in messages)
    expected = digest(messages)
    readers: dict[str, Reader] = {"raw": read_raw, "imaplib": read_imaplib}
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="gma-bench-emu-") as tmp, DovecotServer(storage="maildir") as dv:
        for i, data in enumerate(messages):
            (Path(tmp) / f"{i:06d}.eml").write_bytes(data)
        dv.add_user("alice", "secret")
        dv.write_maildir("alice", "INBOX", messages)
        read_raw(dv.port, "alice", "secret", "INBOX")  # let Dovecot build its index before the clock
        proc, emu_port = start_emulator(Path(tmp), args.messages)
        servers = {"dovecot": (dv.port, "INBOX"), "emulator": (emu_port, "[Gmail]/All Mail")}
        try:
            for _ in range(args.runs):
                for server, (port, folder) in servers.items():
                    for name, reader in readers.items():
                        t0 = time.perf_counter()
                        bodies = reader(port, "alice", "secret", folder)
                        times.setdefault((server, name), []).append(time.perf_counter() - t0)
                        if digest(bodies) != expected:
                            raise SystemExit(f"{server}/{name} returned different bodies")
        finally:
            proc.terminate()
            proc.wait(10)
    mb = total / 1e6
    rows = []
    for (server, name), ts in times.items():
        wall = statistics.median(ts)
        rows.append(f"| {server} | {name} | {wall:.2f} s | {mb / wall:.0f} MB/s |")
    ratio = {name: statistics.median(times[("emulator", name)]) / statistics.median(times[("dovecot", name)])
             for name in readers}
    report = "\n".join([
        f"### emulator vs Dovecot: UID FETCH 1:* (BODY.PEEK[]) of {args.messages} messages, {mb:.0f} MB "
        f"({dt.date.today()}, {platform.machine()}, {platform.python_version()})",
        f"`python benchmarks/bench_emulator.py --runs {args.runs}"
        f"{'' if args.messages == 10000 else f' --messages {args.messages}'} --append` (median of "
        f"{args.runs} runs; both servers in their own process; same bytes checked by SHA-256)",
        "",
        "| server | reader | wall | rate |",
        "|---|---|---|---|",
        *rows,
        "",
        "emulator / Dovecot wall time: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratio.items()) + ".",
        "",
    ])
    publish(report, args.append)


if __name__ == "__main__":
    main()
