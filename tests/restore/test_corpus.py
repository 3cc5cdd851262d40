"""Every corpus message through backup -> restore: on the target byte for byte, or listed with its reason."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from archiver import backup, restore
from archiver.emulator import GmailEmulator
from archiver.imap import Credentials
from archiver.ops.restore.rewrite import rewrite_message_id
from archiver.store import Archive

SRC, DST = "src@gmail.com", "dst@gmail.com"
CRED = Credentials(password="pw")


def corpus(corpus_dir: Path) -> list[tuple[list[str], bytes]]:
    out = []
    with (corpus_dir / "manifest.tsv").open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            data = (corpus_dir / row["path"]).read_bytes()
            flags = row["flags"].split(",")
            if "leading_from_line" in flags:
                data = data.split(b"\n", 1)[1]
            out.append((flags, data))
    return out


@pytest.mark.slow
def test_corpus_backup_then_restore(make_emu: Callable[..., GmailEmulator], tmp_path: Path,
                                    corpus_dir: Path) -> None:
    messages = corpus(corpus_dir)
    emu = make_emu(accounts={SRC: "pw", DST: "pw"})
    for i, (_flags, data) in enumerate(messages):
        emu.seed(SRC, data, labels=("\\Inbox", f"Set/{i % 4}"), flags=("\\Seen",))
    done = backup(tmp_path / "a", f"imap://{SRC}@127.0.0.1:{emu.port}", credentials=CRED, init=True)
    assert done.complete and done.messages == len(messages)
    result = restore(tmp_path / "a", f"imap://{DST}@127.0.0.1:{emu.port}", credentials=CRED)
    target = Counter(m.data for m in emu.messages(DST))
    held = set(target)
    archive = Archive.open(tmp_path / "a")
    snap = archive.load(archive.resolve("latest").id)
    source = Counter(archive.get_blob(r.blob_id) for r in snap)
    # never more copies of a message than the source had (byte-identical copies without a
    # Message-ID are separate messages there and come back as such)
    assert [d[:60] for d, n in target.items() if n > source.get(d, 1)] == []
    failed = {p.key: p.reason for p in result.failed}
    conflicts = {p.key: p.reason for p in result.conflicts}
    unaccounted = []
    for r in snap:
        data = archive.get_blob(r.blob_id)
        if data in held or r.key in failed:
            continue
        if r.key in conflicts:
            new_id = conflicts[r.key].split("uploaded as ", 1)[1].split(",", 1)[0]
            if rewrite_message_id(data, new_id) in held:
                continue
        unaccounted.append((r.key, r.message_id, hashlib.sha256(data).hexdigest()[:12]))
    archive.close()
    assert unaccounted == []
    nul = [f for f in result.failed if "NUL" in f.reason]
    assert len(nul) == sum("nul_bytes" in flags for flags, _ in messages)
    assert len(result.conflicts) > 0 and result.already_present > 0   # shared ids, exact duplicates
    assert all(f.reason for f in result.failed)
