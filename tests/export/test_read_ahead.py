"""The export's read-ahead thread: order kept, the byte budget respected, errors raised where they
happened, no thread left behind when the consumer stops early; a damaged blob skipped and listed."""

from __future__ import annotations

import hashlib
import mailbox
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver.ops.export.operation import _ReadAhead, export
from archiver.store import Archive
from archiver.store.pack import pack_path
from tests.query.builder import build, synthetic_messages


def blobs(n: int, size: int, fail_at: int | None = None, seen: list[int] | None = None
          ) -> Iterator[tuple[str, bytes]]:
    for i in range(n):
        if i == fail_at:
            raise OSError("pack unreadable")
        if seen is not None:
            seen.append(i)
        data = bytes([i % 256]) * size
        yield hashlib.sha256(data).hexdigest(), data


def test_order_and_budget() -> None:
    produced: list[int] = []
    ahead = _ReadAhead(blobs(50, 1000, seen=produced), budget=5000)
    got = []
    for i, (blob_id, data) in enumerate(ahead):  # (id, bytes): the store already checked the hash
        assert data[0] == i % 256 and len(produced) - i <= 7  # 5 queued, 1 waiting, 1 in hand
        got.append(blob_id)
    assert got == [hashlib.sha256(bytes([i]) * 1000).hexdigest() for i in range(50)]


def test_damaged_blob_is_skipped_and_listed_the_rest_exported(tmp_path: Path) -> None:
    msgs = synthetic_messages(30, size=2000)
    archive, records = build(tmp_path / "a", msgs, version=1)  # v1: a flipped byte damages one message
    victim = records[7]
    loc = archive.index.blobs[victim.blob_id]
    pack = pack_path(tmp_path / "a" / "packs", loc.pack)
    data = bytearray(pack.read_bytes())
    data[loc.offset + loc.length // 2] ^= 0x55
    pack.write_bytes(bytes(data))
    archive.close()
    damaged = Archive.open(tmp_path / "a")
    result = export(damaged, "latest", "mbox", tmp_path / "out.mbox", extra_headers=False)
    damaged.close()
    assert [(p.key, p.message_id) for p in result.skipped] == [(victim.key, victim.message_id)]
    assert "unreadable" in result.skipped[0].reason
    assert result.messages == len(records) - 1 and not result.complete
    box = mailbox.mbox(tmp_path / "out.mbox")
    exported = {m["Message-ID"] for m in box}
    box.close()
    assert exported == {r.message_id for r in records} - {victim.message_id}


def test_error_raised_in_place_and_early_stop_joins() -> None:
    out = []
    with pytest.raises(OSError):
        for blob_id, _ in _ReadAhead(blobs(10, 10, fail_at=4)):
            out.append(blob_id)
    assert len(out) == 4
    before = threading.active_count()
    it = iter(_ReadAhead(blobs(1000, 10_000), budget=20_000))
    next(it)
    it.close()  # type: ignore[attr-defined]
    assert threading.active_count() <= before
