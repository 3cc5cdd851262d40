"""The export's read-ahead thread: order kept, the byte budget respected, errors raised where they
happened, and no thread left behind when the consumer stops early."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

import pytest

from archiver.export import _ReadAhead


def blobs(n: int, size: int, fail_at: int | None = None, seen: list[int] | None = None
          ) -> Iterator[tuple[str, bytes]]:
    for i in range(n):
        if i == fail_at:
            raise OSError("pack unreadable")
        if seen is not None:
            seen.append(i)
        data = bytes([i % 256]) * size
        yield hashlib.sha256(data).hexdigest(), data


def test_order_budget_and_intact_flag() -> None:
    produced: list[int] = []
    ahead = _ReadAhead(blobs(50, 1000, seen=produced), budget=5000)
    got = []
    for i, (blob_id, data, intact) in enumerate(ahead):
        assert intact and data[0] == i % 256 and len(produced) - i <= 7  # 5 queued, 1 waiting, 1 in hand
        got.append(blob_id)
    assert len(got) == 50


def test_error_raised_in_place_and_early_stop_joins() -> None:
    out = []
    with pytest.raises(OSError):
        for blob_id, _, _ in _ReadAhead(blobs(10, 10, fail_at=4)):
            out.append(blob_id)
    assert len(out) == 4
    before = threading.active_count()
    it = iter(_ReadAhead(blobs(1000, 10_000), budget=20_000))
    next(it)
    it.close()  # type: ignore[attr-defined]
    assert threading.active_count() <= before
