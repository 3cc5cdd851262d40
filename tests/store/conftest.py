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
