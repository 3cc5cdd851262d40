"""What encryption at rest costs: the store's own work on real mail, plain vs sealed (formats/encryption.md).

    .venv/bin/python benchmarks/bench_encryption.py [--copies 8] [--runs 3] [--append]

From the shared corpus, ``--copies`` times over (one distinct header line per copy, ~10 MB each), takes
turns, ``--runs`` times each, on a LocalBackend and on an EncryptedBackend over one:
  store    what a backup does to the bytes it keeps: each message's id (SHA-256 plain, keyed HMAC
           encrypted), one zstd frame each, frames gathered into ~16 MiB packs written with
           ``write_if_absent`` (atomic, fsync'd; sealed first when encrypted)
  verify   what ``verify --read-data`` does: every pack read whole (opened and authenticated when encrypted),
           its name checked, every frame decompressed and its id recomputed
  ranges   what restore/export do: every frame read alone with ``read_range``
Throughput is message (uncompressed) bytes per second of wall time, files in the page cache.  The target is
encrypted/plain <= 1.15 in wall time.  ``--append`` adds the table to benchmarks/README.md.
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

from archiver.store import codec  # noqa: E402
from archiver.store.backend import Backend, LocalBackend  # noqa: E402
from archiver.store.crypto import EncryptedBackend, MasterKey  # noqa: E402
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
                for step, took in (("store", t1 - start), ("verify", t2 - t1), ("ranges", t3 - t2)):
                    times.setdefault((step, mode), []).append(took)
    day = dt.date.today().isoformat()
    lines = [f"### encryption at rest: store / verify / range reads of {len(msgs)} messages, "
             f"{total / 1e6:.0f} MB ({day}, {platform.machine()}, {platform.python_version()})",
             f"`python benchmarks/bench_encryption.py --copies {args.copies} --runs {args.runs}` "
             f"(median of {args.runs}; page cache; AES-256-GCM, 64 KiB chunks)", "",
             "| step | plain | encrypted | encrypted / plain |", "|---|---|---|---|"]
    for step in ("store", "verify", "ranges"):
        p, e = (statistics.median(times[(step, m)]) for m in ("plain", "encrypted"))
        lines.append(f"| {step} | {p:.2f} s ({total / p / 1e6:.0f} MB/s) | {e:.2f} s ({total / e / 1e6:.0f} "
                     f"MB/s) | {e / p:.2f}x |")
    publish("\n".join(lines) + "\n", args.append)


if __name__ == "__main__":
    main()
