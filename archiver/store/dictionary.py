"""The archive's trained zstd dictionaries (formats/layout.md "dicts").

Two roles, told apart by the zstd dictionary ID inside the dictionary: ``ROLE_BLOB`` (1) for messages,
``ROLE_PAGE`` (2) for manifest pages.  A writer buffers the first ``TRAIN_BYTES`` of new message bytes
uncompressed; once it has that much and the archive has no message dictionary yet, it trains one on them,
stores it as ``dicts/<sha256>`` and compresses those messages and every later one with it.  Blobs sealed
before a dictionary exists stay dictionary-less.  Likewise the first commit that writes at least
``PAGE_TRAIN_PAGES`` new pages trains the page dictionary on them.  Each frame's TOC and index entry name
the dictionary it needs; a dictionary is never deleted while referenced.  When several of one role exist
(two writers raced), writers use the one with the smallest id.
"""

from __future__ import annotations

import threading
from pathlib import Path

import zstandard

from archiver.errors import IntegrityError
from archiver.store import codec
from archiver.store.backend import Backend
from archiver.store.layout import as_backend, hashed_names, read_hashed

ROLE_BLOB = 1
ROLE_PAGE = 2
DICT_SIZE = 112 * 1024
TRAIN_BYTES = 4 * 1024 * 1024
MIN_SAMPLES = 64
PAGE_DICT_SIZE = 16 * 1024
PAGE_TRAIN_PAGES = 2000
SAMPLE_PREFIX = 16 * 1024
"""Only the first bytes of each message are used for training: headers and text, not attachments."""


def train(samples: list[bytes], role: int = ROLE_BLOB) -> bytes | None:
    """A dictionary from message (or page) samples, or None when there are too few to train on."""
    cut: list[bytes | bytearray | memoryview] = [s[:SAMPLE_PREFIX] for s in samples if s]
    if len(cut) < MIN_SAMPLES:
        return None
    try:
        return codec.train_dictionary(cut, DICT_SIZE if role == ROLE_BLOB else PAGE_DICT_SIZE, role)
    except zstandard.ZstdError:
        return None


def list_dicts(dicts_dir: Backend | Path) -> list[str]:
    """Ids of the stored dictionaries (``dicts_dir``: a backend, or a local archive's dicts/)."""
    return hashed_names(as_backend(dicts_dir), "dicts")


def read_dict(dicts_dir: Backend | Path, dict_id: str) -> bytes:
    """The dictionary's bytes, checked against its id; IntegrityError names it when missing or damaged."""
    return read_hashed(as_backend(dicts_dir), f"dicts/{dict_id}", f"dictionary {dict_id[:12]}")


class Codecs:
    """Per-thread zstd compressors/decompressors for each dictionary (zstd objects are not thread-safe)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._dicts: dict[str | None, zstandard.ZstdCompressionDict | None] = {None: None}
        self._roles: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, dict_id: str, data: bytes, role: int | None = None) -> None:
        """Make a dictionary usable (its role read from its bytes unless given)."""
        if role is None:
            role = codec.dictionary_role(data)
        with self._lock:
            if dict_id not in self._dicts:
                zd = zstandard.ZstdCompressionDict(data)
                zd.precompute_compress(level=codec.LEVEL)
                self._dicts[dict_id] = zd
                self._roles[dict_id] = role

    def role(self, dict_id: str) -> int:
        """ROLE_BLOB or ROLE_PAGE (another number for a dictionary this program did not write)."""
        return self._roles[dict_id]

    def has(self, dict_id: str | None) -> bool:
        return dict_id in self._dicts

    def compress(self, data: bytes, dict_id: str | None) -> bytes:
        cache: dict[str | None, zstandard.ZstdCompressor] = self._local.__dict__.setdefault("c", {})
        c = cache.get(dict_id)
        if c is None:
            c = cache[dict_id] = zstandard.ZstdCompressor(level=codec.LEVEL, dict_data=self._dicts[dict_id],
                                                          write_checksum=False, write_content_size=True)
        return c.compress(data)

    def decompress(self, frame: bytes, dict_id: str | None, raw_length: int, what: str) -> bytes:
        cache: dict[str | None, zstandard.ZstdDecompressor] = self._local.__dict__.setdefault("d", {})
        d = cache.get(dict_id)
        if d is None:
            d = cache[dict_id] = zstandard.ZstdDecompressor(dict_data=self._dicts[dict_id])
        try:
            out = d.decompress(frame, max_output_size=raw_length)
        except zstandard.ZstdError as exc:
            raise IntegrityError(f"{what} does not decompress: {exc}") from None
        if len(out) != raw_length:
            raise IntegrityError(f"{what} decompresses to {len(out)} bytes, expected {raw_length}")
        return out
