"""The search index's checksum is read in bounded chunks (no memory map of the whole file, which counted its
size in the resident memory of every ls and search) and is the file's CRC-32 whatever its size."""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pytest

from archiver.ops.search import index


@pytest.mark.parametrize("size", [0, 1, 6, 7, 8, 3 * 7 + 5, 1000])
def test_chunked_crc_is_the_whole_file_crc(tmp_path: Path, size: int) -> None:
    data = random.Random(size).randbytes(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert index._crc(path, chunk=7) == (size, zlib.crc32(data))
    assert index._crc(path) == (size, zlib.crc32(data))


def test_no_memory_map() -> None:
    assert "mmap" not in vars(index)
