"""Backup into a local folder vs into S3 on loopback (moto's server, rclone serve s3), and the requests a
run that changes nothing sends.

    .venv/bin/python benchmarks/bench_s3.py [--messages 10000] [--append]

One emulated Gmail account (``gmail-archiver emulator`` in its own process, ``--messages`` synthetic
messages); each S3 service in its own process.  For each target: a full backup from scratch, then a second
backup with nothing new (wall time of each); for S3 the requests of the no-change run by kind, counted by
the backend.  ``--append`` adds the table to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiver import Credentials, S3Backend, S3Options, backup  # noqa: E402
from archiver.store.backend import register_scheme  # noqa: E402
from benchmarks._common import publish  # noqa: E402
from tests.helpers.s3 import ACCESS_KEY, BUCKET, SECRET_KEY, _die_with_parent, _wait, free_port  # noqa: E402

BIN = Path(sys.executable).parent
PASSWORD = "abcdefghijklmnop"
USER = "bench@gmail.com"


def start_emulator(messages: int) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([str(BIN / "gmail-archiver"), "emulator", "--port", "0", "--user", USER,
                             "--password", PASSWORD, "--seed-messages", str(messages), "--seed", "5",
                             "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("}"):
            break
    return proc, int(json.loads("".join(lines))["port"])


def start_s3(kind: str, root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    if kind == "moto":
        cmd = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    else:
        (root / BUCKET).mkdir(parents=True)
        cmd = [str(BIN / "rclone"), "serve", "s3", "--addr", f"127.0.0.1:{port}", "--auth-key",
               f"{ACCESS_KEY},{SECRET_KEY}", "--config", os.devnull, str(root)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    _wait(port)
    endpoint = f"http://127.0.0.1:{port}"
    if kind == "moto":
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{BUCKET}", method="PUT")).close()
    return proc, endpoint


OPENED: list[S3Backend] = []


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION="us-east-1")
    tmp = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
    emu, port = start_emulator(args.messages)
    source = f"imap://{USER}@127.0.0.1:{port}"
    creds = Credentials(password=PASSWORD)
    rows = []
    try:
        for target in ("local", "moto", "rclone"):
            server = None
            if target == "local":
                where = str(tmp / "local")
            else:
                server, endpoint = start_s3(target, tmp / target)
                options = S3Options(endpoint=endpoint, path_style=True)
                register_scheme("s3", lambda url, o=options: OPENED.append(S3Backend(url, o)) or OPENED[-1])
                where = f"s3://{BUCKET}/bench"
            try:
                t = time.perf_counter()
                first = backup(where, source, credentials=creds, init=True, connections=4)
                full = time.perf_counter() - t
                assert first.complete and first.messages == args.messages, first
                runs = []
                for _ in range(2):  # the first no-change run fills the local cache, the second uses it
                    OPENED.clear()
                    t = time.perf_counter()
                    again = backup(where, source, credentials=creds, connections=4)
                    quiet = time.perf_counter() - t
                    assert again.complete and again.new == 0, again
                    counts: collections.Counter[str] = collections.Counter()
                    for b in OPENED:
                        counts.update(b.requests)
                    runs.append((quiet, +counts))
                rows.append((target, full, first.bytes_stored, runs))
            finally:
                if server is not None:
                    server.terminate()
                    server.wait()
    finally:
        emu.terminate()
        emu.wait()
    day = dt.date.today().isoformat()
    out = [f"### backup into S3 on loopback: {args.messages} messages (emulator) ({day}, "
           f"{platform.machine()}, {platform.python_version()}, {os.cpu_count()} cores)",
           f"`python benchmarks/bench_s3.py --messages {args.messages} --append` (one run each; the emulator "
           "and each S3 service in their own process)", "",
           "| target | full backup | stored | no-change run 1 | its requests | no-change run 2 "
           "| its requests |",
           "|---|---|---|---|---|---|---|"]

    def req(counts: collections.Counter[str]) -> str:
        return f"{sum(counts.values())}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))

    for target, full, stored, runs in rows:
        cells = [f"{quiet:.2f} s | {req(c) if target != 'local' else '-'}" for quiet, c in runs]
        out.append(f"| {target} | {full:.1f} s | {stored / 1e6:.1f} MB | {' | '.join(cells)} |")
    publish("\n".join(out) + "\n", args.append)


if __name__ == "__main__":
    main()
