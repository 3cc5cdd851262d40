"""Full backup of one Dovecot mailbox: gmail-archiver vs mbsync, same server, same run.

    .venv/bin/python benchmarks/bench_backup.py [--messages 10000] [--size 10000] [--runs 3] [--append]

Writes N synthetic ~SIZE-byte messages (seeded) into a private Dovecot's INBOX, lets Dovecot index them
once, then alternates full backups from scratch by ``mbsync`` (config of test-servers.md; its default
``FSync yes`` and its ``FSync no`` mode) and by ``gmail-archiver backup`` (a subprocess each, so peak RSS
is per tool, from wait4).  Reports median wall time, the ratios, peak RSS and bytes on disk; ``--append``
adds the figures to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import mbsync_config, publish  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402

WORDS = ["mail", "backup", "archive", "label", "thread", "gmail", "server", "folder", "message", "snapshot",
         "restore", "verify", "the", "of", "and", "to", "in", "is", "it", "that", "for", "on", "with", "as"]


def synth(n: int, size: int, seed: int = 1) -> list[bytes]:
    """Deterministic plain-text messages of about ``size`` bytes with unique Message-IDs."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        head = (f"From: user{rng.randrange(50)}@example.org\r\nTo: me@example.org\r\n"
                f"Subject: message {i} {' '.join(rng.choices(WORDS, k=5))}\r\n"
                f"Date: Mon, 1 Jan 2024 00:{i % 60:02d}:00 +0000\r\n"
                f"Message-ID: <bench{i}.{seed}@example.org>\r\n"
                "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
        body = []
        total = len(head)
        target = int(size * rng.uniform(0.8, 1.2))
        while total < target:
            line = " ".join(rng.choices(WORDS, k=12)).encode() + b"\r\n"
            body.append(line)
            total += len(line)
        out.append(head + b"".join(body))
    return out


def _hwm(pid: int) -> int:
    """VmHWM (peak resident set, KiB) of a running process, 0 if unreadable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one subprocess.

    The peak is VmHWM polled every 2 ms: wait4's ru_maxrss would include this (big) parent's memory,
    which a forked or vforked child inherits before exec.
    """
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, dict(env or os.environ), file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, err.fileno(), 2)])
        peak = 0
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            peak = max(peak, _hwm(pid))
            time.sleep(0.002)
        wall = time.perf_counter() - t0
        if status != 0:
            err.seek(0)
            raise RuntimeError(f"{argv[0]} failed ({status}): {err.read().decode()[-2000:]}")
    return wall, peak


def du(path: Path) -> int:
    """Bytes of the files under ``path``, the archive's rebuildable local ``cache/`` left out."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and "cache" not in p.parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--append", action="store_true", help="append the figures to benchmarks/README.md")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gma-bench-"))
    msgs = synth(args.messages, args.size)
    mailbox_bytes = sum(len(m) for m in msgs)
    ours_t: list[float] = []
    theirs_t: list[float] = []
    nofsync_t: list[float] = []
    ours_rss = theirs_rss = 0
    archive_bytes = maildir_bytes = 0
    with DovecotServer(storage="maildir") as dv:
        dv.add_user("alice", "secret")
        dv.write_maildir("alice", "INBOX", msgs)
        # let Dovecot index the folder once so neither tool pays for it
        (work / "warm").mkdir()
        warm_rc = _write(work / "warm.rc", mbsync_config(dv.port, work / "warm", "pull"))
        run_measured(["mbsync", "-q", "-c", str(warm_rc), "-a"])
        shutil.rmtree(work / "warm")
        # byte-code compiled once, as an installed package has it (not recompiled by every run)
        compileall.compile_dir(ROOT / "archiver", quiet=1)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["GMAIL_ARCHIVER_PASSWORD"] = "secret"
        for i in range(args.runs):
            target = work / f"mb{i}"
            target.mkdir()
            rc = _write(work / f"mb{i}.rc", mbsync_config(dv.port, target, "pull"))
            t, rss = run_measured(["mbsync", "-q", "-c", str(rc), "-a"])
            theirs_t.append(t)
            theirs_rss = max(theirs_rss, rss)
            maildir_bytes = du(target)
            nofsync = work / f"nf{i}"
            nofsync.mkdir()
            nf_rc = _write(work / f"nf{i}.rc", mbsync_config(dv.port, nofsync, "pull", fsync=False))
            nofsync_t.append(run_measured(["mbsync", "-q", "-c", str(nf_rc), "-a"])[0])
            shutil.rmtree(nofsync)
            arch = work / f"ar{i}"
            ours_cmd = [sys.executable, "-m", "archiver", "backup", str(arch), f"imap://alice@127.0.0.1:{dv.port}",
                        "--init", "--no-progress", "--connections", str(args.connections)]
            t, rss = run_measured(ours_cmd, env=env)
            ours_t.append(t)
            ours_rss = max(ours_rss, rss)
            archive_bytes = du(arch)
            if i < args.runs - 1:
                shutil.rmtree(target)
                shutil.rmtree(arch)
        # incremental: nothing new, then 1% new mail, both tools on top of their last full copy
        incr: dict[str, tuple[float, float, int]] = {}
        for label in ("nothing new", "1% new"):
            if label == "1% new":
                dv.write_maildir("alice", "INBOX", synth(max(1, args.messages // 100), args.size, seed=2))
            size0 = du(arch)
            t_theirs, _ = run_measured(["mbsync", "-q", "-c", str(rc), "-a"])
            t_ours, _ = run_measured(ours_cmd, env=env)
            incr[label] = (t_ours, t_theirs, du(arch) - size0)
    shutil.rmtree(work, ignore_errors=True)
    ours, theirs, nf = statistics.median(ours_t), statistics.median(theirs_t), statistics.median(nofsync_t)
    lines = [
        f"### backup: {args.messages:,} x ~{args.size:,} B on local Dovecot (maildir), "
        "gmail-archiver vs mbsync",
        f"- command: `.venv/bin/python benchmarks/bench_backup.py --messages {args.messages} "
        f"--size {args.size} --runs {args.runs} --connections {args.connections}`",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{dt.date.today().isoformat()}",
        f"- mailbox {mailbox_bytes / 1e6:.1f} MB; runs: ours {[round(t, 2) for t in ours_t]} s, "
        f"mbsync {[round(t, 2) for t in theirs_t]} s",
        f"- median wall: gmail-archiver {ours:.2f} s, mbsync {theirs:.2f} s, **ratio {ours / theirs:.2f}x**",
        f"- mbsync's other mode (`FSync no`): runs {[round(t, 2) for t in nofsync_t]} s, median {nf:.2f} s, "
        f"**ratio {ours / nf:.2f}x**",
        f"- peak RSS: gmail-archiver {ours_rss / 1024:.0f} MB, mbsync {theirs_rss / 1024:.0f} MB",
        f"- on disk: archive {archive_bytes / 1e6:.1f} MB, mbsync Maildir {maildir_bytes / 1e6:.1f} MB",
        *(f"- incremental, {label}: gmail-archiver {o:.2f} s (archive +{grown / 1e3:.1f} KB without cache/), "
          f"mbsync {m:.2f} s" for label, (o, m, grown) in incr.items()),
    ]
    publish("\n".join(lines), args.append)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


if __name__ == "__main__":
    main()
