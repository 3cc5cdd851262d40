"""What encryption at rest costs, plain vs encrypted archives (formats/encryption.md).

    .venv/bin/python benchmarks/bench_encryption.py [--copies 8] [--runs 3] [--append]

From the shared corpus, ``--copies`` times over (one distinct header line per copy, ~10 MB each), takes
turns, ``--runs`` times each, plain then encrypted:
  backup   ``archiver.backup`` of all of it from the built-in Gmail emulator (in this process, loopback)
           into a new archive (encrypted: ``init`` + ``encrypt_new_archive``, the key already unlocked, so
           the ~0.5 s KDF is not counted)
  verify   ``archiver.verify(read_data=True)`` of that archive (every pack read, opened, every frame
           decompressed and its id recomputed)
and the store's share alone, on a LocalBackend and on an EncryptedBackend over one:
  store    what a backup does to the bytes it keeps: each message's id (SHA-256 plain, keyed HMAC
           encrypted), one zstd frame each, frames gathered into ~16 MiB packs written with
           ``write_if_absent`` (atomic, fsync'd; sealed first when encrypted)
  verify   what ``verify --read-data`` does: every pack read whole (opened and authenticated when encrypted),
           its name checked, every frame decompressed and its id recomputed
  ranges   what restore/export do: every frame read alone with ``read_range``
Throughput is message (uncompressed) bytes per second of wall time, files in the page cache.  The target
(backup and verify) is encrypted/plain <= 1.15 in wall time.  ``--append`` adds the table to
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiver import Archive, Credentials, backup  # noqa: E402
from archiver import verify as verify_archive  # noqa: E402
from archiver.emulator import EmulatorConfig, GmailEmulator  # noqa: E402
from archiver.store import codec  # noqa: E402
from archiver.store.backend import Backend, LocalBackend  # noqa: E402
from archiver.store.crypto import EncryptedBackend, MasterKey, encrypt_new_archive  # noqa: E402
from benchmarks._common import publish  # noqa: E402
from tests.query.builder import corpus_messages  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
PACK_TARGET = 16 << 20


def messages(copies: int) -> list[bytes]:
    base = corpus_messages(CORPUS)
    return [f"X-Bench-Copy: {c}\r\n".encode() + data for c in range(copies) for _, data, _ in base]


def store(backend: Backend, msgs: list[bytes], ident: Callable[[bytes], str]) -> list[tuple[str, list]]:
    """Write packs as a backup would; returns (pack name, [(id, offset, length)]) per pack."""
    packs: list[tuple[str, list]] = []
    frames: list[bytes] = []
    toc: list[tuple[str, int, int]] = []
    size = 0

    def seal_pack() -> None:
        nonlocal frames, toc, size
        data = b"".join(frames)
        name = f"packs/{hashlib.sha256(data).hexdigest()[:2]}/{hashlib.sha256(data).hexdigest()}"
        backend.write_if_absent(name, data)
        packs.append((name, toc))
        frames, toc, size = [], [], 0

    for m in msgs:
        frame = codec.compress(m)
        toc.append((ident(m), size, len(frame)))
        frames.append(frame)
        size += len(frame)
        if size >= PACK_TARGET:
            seal_pack()
    if frames:
        seal_pack()
    return packs


def verify(backend: Backend, packs: list[tuple[str, list]], ident: Callable[[bytes], str]) -> None:
    for name, toc in packs:
        data = backend.read(name)
        assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
        for blob_id, off, length in toc:
            assert ident(codec.decompress(data[off:off + length], "frame")) == blob_id


def ranges(backend: Backend, packs: list[tuple[str, list]]) -> None:
    for name, toc in packs:
        for _, off, length in toc:
            assert len(backend.read_range(name, off, length)) == length


USER, PASSWORD = "bench@gmail.com", "abcdefghijklmnop"


def end_to_end(tmp: Path, msgs: list[bytes], runs: int, times: dict[tuple[str, str], list[float]]) -> None:
    """Real backups and verifies, plain and encrypted, taking turns."""
    with GmailEmulator(EmulatorConfig()) as emu:
        emu.add_account(USER, PASSWORD)
        for m in msgs:
            emu.seed(USER, m, labels=("\\Inbox",))
        url = f"imap://{USER.replace('@', '%40')}@127.0.0.1:{emu.port}"
        for run in range(runs):
            for mode in ("plain", "encrypted"):
                path = tmp / f"e2e-{mode}-{run}"
                Archive.init(path)
                if mode == "encrypted":
                    encrypt_new_archive(path, "benchmark password")
                start = time.perf_counter()
                result = backup(path, url, credentials=Credentials(password=PASSWORD))
                t1 = time.perf_counter()
                assert not result.problems
                report = verify_archive(Archive.open(path), read_data=True)
                t2 = time.perf_counter()
                assert report.damage == []
                times.setdefault(("backup", mode), []).append(t1 - start)
                times.setdefault(("verify", mode), []).append(t2 - t1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()
    msgs = messages(args.copies)
    total = sum(map(len, msgs))
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        end_to_end(Path(tmp), msgs, args.runs, times)
        for run in range(args.runs):
            for mode in ("plain", "encrypted"):
                inner = LocalBackend(Path(tmp) / f"{mode}-{run}")
                if mode == "plain":
                    backend: Backend = inner
                    ident = codec.sha256_hex
                else:
                    enc = EncryptedBackend(inner, MasterKey.generate())
                    backend, ident = enc, enc.content_id
                start = time.perf_counter()
                packs = store(backend, msgs, ident)
                t1 = time.perf_counter()
                verify(backend, packs, ident)
                t2 = time.perf_counter()
                ranges(backend, packs)
                t3 = time.perf_counter()
                for step, took in (("store", t1 - start), ("store-verify", t2 - t1), ("ranges", t3 - t2)):
                    times.setdefault((step, mode), []).append(took)
    day = dt.date.today().isoformat()
    lines = [f"### encryption at rest: backup, verify, and the store's share, of {len(msgs)} messages, "
             f"{total / 1e6:.0f} MB ({day}, {platform.machine()}, {platform.python_version()})",
             f"`python benchmarks/bench_encryption.py --copies {args.copies} --runs {args.runs}` "
             f"(median of {args.runs}; page cache; AES-256-GCM, 64 KiB chunks)", "",
             "| step | plain | encrypted | encrypted / plain |", "|---|---|---|---|"]
    for step in ("backup", "verify", "store", "store-verify", "ranges"):
        p, e = (statistics.median(times[(step, m)]) for m in ("plain", "encrypted"))
        lines.append(f"| {step} | {p:.2f} s ({total / p / 1e6:.0f} MB/s) | {e:.2f} s ({total / e / 1e6:.0f} "
                     f"MB/s) | {e / p:.2f}x |")
    publish("\n".join(lines) + "\n", args.append)


if __name__ == "__main__":
    main()
