"""Archive size of the shared corpus vs `zstd -3` of the same messages concatenated (the peer, same run).

    .venv/bin/python benchmarks/bench_compression.py [--json]

Messages are the 775 files of ../shared/corpus (the leading mbox "From " line stripped where manifest.tsv
flags leading_from_line), backed up in manifest order into a fresh archive with one snapshot (so the archive
size includes the index, manifest pages, snapshot record and dictionary).  Variants: the default writer
(trained dictionary), and no dictionary (one plain zstd frame per message).  Peers: `zstd -3` of all
messages concatenated, and of the unique ones (the archive stores byte-identical messages once).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import tempfile
import time
from pathlib import Path

from archiver.model import FolderState, MessageRecord
from archiver.store import Archive, dictionary

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def corpus_messages() -> list[bytes]:
    out = []
    with open(CORPUS / "manifest.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            data = (CORPUS / row["path"]).read_bytes()
            if "leading_from_line" in row["flags"].split(",") and data.startswith(b"From "):
                data = data.split(b"\n", 1)[1] if b"\n" in data else b""
            out.append(data)
    return out


def archive_bytes(messages: list[bytes], train: bool) -> tuple[int, float, dict[str, int]]:
    saved = dictionary.TRAIN_BYTES
    if not train:
        dictionary.TRAIN_BYTES = 1 << 62
    try:
        with tempfile.TemporaryDirectory() as tmp:
            archive = Archive.init(Path(tmp) / "a")
            t = time.perf_counter()
            with archive.writer("bench@example.org") as w:
                ids = [w.put_blob(m) for m in messages]
                pairs = enumerate(zip(ids, messages, strict=True))
                w.commit([MessageRecord(f"k{i:04}", b, len(m), 1_700_000_000, 0, (), ("INBOX",), str(i), None,
                                        (("INBOX", i + 1),)) for i, (b, m) in pairs],
                         [FolderState("INBOX", 1, len(messages) + 1)], source="bench")
            elapsed = time.perf_counter() - t
            files = [p for p in archive.path.rglob("*") if p.is_file() and "locks" not in p.parts]
            parts: dict[str, int] = {}
            for p in files:
                top = p.relative_to(archive.path).parts[0]
                parts[top] = parts.get(top, 0) + p.stat().st_size
            return sum(parts.values()), elapsed, parts
    finally:
        dictionary.TRAIN_BYTES = saved


def zstd3(data: bytes) -> int:
    return len(subprocess.run(["zstd", "-3", "-c", "-q"], input=data, capture_output=True, check=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    messages = corpus_messages()
    unique = list(dict.fromkeys(messages))
    raw = sum(map(len, messages))
    peer_all = zstd3(b"".join(messages))
    peer_unique = zstd3(b"".join(unique))
    with_dict, t_dict, parts = archive_bytes(messages, train=True)
    no_dict, t_plain, _ = archive_bytes(messages, train=False)
    result = {
        "messages": len(messages), "unique": len(unique), "raw_bytes": raw,
        "zstd3_all_bytes": peer_all, "zstd3_unique_bytes": peer_unique,
        "archive_bytes": with_dict, "archive_parts": parts, "archive_s": round(t_dict, 2),
        "archive_no_dict_bytes": no_dict, "archive_no_dict_s": round(t_plain, 2),
        "ratio_vs_zstd3_all": round(with_dict / peer_all, 3),
        "ratio_vs_zstd3_unique": round(with_dict / peer_unique, 3),
        "ratio_no_dict_vs_zstd3_unique": round(no_dict / peer_unique, 3),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:32}{v}")


if __name__ == "__main__":
    main()
