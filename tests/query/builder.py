"""Test archives built through the real ArchiveWriter from the shared corpus (Gmail-style keys and labels)."""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from archiver.model import FolderState, MessageRecord, SnapshotInfo
from archiver.store import Archive

ACCOUNT = "alice@example.com"
LABELS = ["\\Inbox", "\\Important", "\\Starred", "\\Sent", "\\Draft", "Work", "Work/Projects", "Family",
          "Ünïcode label", "Comma, label", "Archive"]
FLAGS = ["\\Answered", "\\Draft", "\\Flagged", "\\Seen", "$Forwarded", "custom_kw"]
T0 = 1_600_000_000


def corpus_messages(corpus_dir: Path, limit: int | None = None, step: int = 1
                    ) -> list[tuple[str, bytes, str]]:
    """(path, bytes as a server holds them, Message-ID or "") from the corpus, every ``step``-th one."""
    out = []
    with open(corpus_dir / "manifest.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for row in rows[::step][:limit]:
        data = (corpus_dir / row["path"]).read_bytes()
        if row["from_line"]:
            data = data.split(b"\n", 1)[1] if b"\n" in data else b""
        out.append((row["path"], data, row["message_id"]))
    return out


def make_records(archive: Archive, messages: Sequence[tuple[str, bytes, str]], seed: int = 1
                 ) -> list[MessageRecord]:
    """Store every message through a writer and return Gmail-like records for them (not committed)."""
    rng = random.Random(seed)
    records = []
    with archive.writer(ACCOUNT) as w:
        for i, (_path, data, mid) in enumerate(messages):
            blob = w.put_blob(data)
            msgid = 1_700_000_000_000_000_000 + i
            thrid = 1_700_000_000_000_000_000 + (i // 3) * 3
            records.append(MessageRecord(
                key=f"gm:{msgid}", blob_id=blob, size=len(data), internaldate=T0 + i * 3607,
                tz_minutes=rng.choice([0, 60, -300]),
                flags=tuple(sorted(rng.sample(FLAGS, rng.randint(0, 3)))),
                labels=tuple(sorted(rng.sample(LABELS, rng.randint(0, 3)))),
                thread_id=str(thrid), message_id=mid or None, uids=(("[Gmail]/All Mail", i + 1),),
                gm_msgid=msgid, gm_thrid=thrid))
    return records


def commit(archive: Archive, records: Sequence[MessageRecord], when: dt.datetime | None = None,
           partial: bool = False) -> SnapshotInfo:
    with archive.writer(ACCOUNT) as w:
        return w.commit(records, [FolderState("[Gmail]/All Mail", 1, len(records) + 1, 7, "\\All")],
                        source=f"imaps://{ACCOUNT}@imap.example.com", time=when, partial=partial)


def build(path: Path, messages: Sequence[tuple[str, bytes, str]], seed: int = 1, version: int = 2
          ) -> tuple[Archive, list[MessageRecord]]:
    """A fresh archive (format ``version``) holding ``messages`` in one snapshot."""
    archive = Archive.init(path, version=version)
    records = make_records(archive, messages, seed)
    commit(archive, records, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    return archive, records


def relabel(records: Sequence[MessageRecord], every: int, label: str) -> list[MessageRecord]:
    """Records with ``label`` toggled on every ``every``-th message."""
    out = []
    for i, r in enumerate(records):
        if i % every == 0:
            labels = set(r.labels) ^ {label}
            r = replace(r, labels=tuple(sorted(labels)))
        out.append(r)
    return out


WORDS = ("archive", "backup", "label", "thread", "message", "inbox", "server", "restore", "export",
         "verify", "prune", "snapshot", "dictionary", "manifest", "folder", "flag", "gmail", "imap",
         "dovecot", "mailbox", "header", "body", "attachment", "report", "budget", "quarter", "review",
         "draft", "family", "weekend", "holiday", "photo", "invoice", "order")


def synthetic_messages(n: int, seed: int = 7, size: int = 4400) -> list[tuple[str, bytes, str]]:
    """``n`` distinct plain-text messages of about ``size`` bytes (seeded; compressible like real mail)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        mid = f"<syn.{seed}.{i}@example.com>"
        words = " ".join(rng.choice(WORDS) for _ in range(size // 7))
        body = "\n".join(words[j:j + 72] for j in range(0, len(words), 72))
        text = (f"From: Sender {i % 17} <s{i % 17}@example.com>\nTo: alice@example.com\n"
                f"Subject: {rng.choice(WORDS)} {i}\nMessage-ID: {mid}\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n"
                f"\n{body}\n")
        out.append((f"synthetic/{i}", text.encode(), mid))
    return out
