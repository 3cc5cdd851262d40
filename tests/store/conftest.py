"""Helpers for store tests: a fresh archive and records built from blobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.model import MessageRecord
from archiver.store import Archive


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    return Archive.init(tmp_path / "archive")


def record(key: str, blob_id: str, size: int = 1, labels: tuple[str, ...] = ("INBOX",),
           flags: tuple[str, ...] = ("\\Seen",)) -> MessageRecord:
    return MessageRecord(key=key, blob_id=blob_id, size=size, internaldate=1_700_000_000, tz_minutes=-300,
                         flags=flags, labels=labels, thread_id="t1", message_id=f"<{key}@example.org>",
                         uids=(("INBOX", 7),), gm_msgid=None, gm_thrid=None)


def report_bodies(start: int, n: int) -> list[bytes]:
    """Messages ``start`` .. ``start + n - 1``: alike enough to train a dictionary, of varied sizes."""
    return [(f"From: user{i % 7}@example.org\r\nSubject: report {i}\r\nMessage-ID: <{i}@example.org>\r\n\r\n"
             + f"line {i} of a body that repeats itself\r\n" * (5 + i % 40)).encode()
            for i in range(start, start + n)]
