"""The one place that configures msgpack and zstandard for the archive (every option explained here).

- msgpack: ``use_bin_type=True`` (bytes stay bytes), ``raw=False`` (str decode as UTF-8 str),
  ``use_list=False`` (arrays decode as tuples, so rows feed frozen records directly),
  ``strict_map_key=False`` is never needed: maps have str keys only.
- zstd: level 3 (design.md: good ratio at a speed well above download rates); frames carry the content size
  (so decompression needs no size guess) and no checksum (the SHA-256 names already check every byte).
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack
import zstandard

from archiver.errors import IntegrityError

LEVEL = 3


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256: the name of every blob, page and file in the archive."""
    return hashlib.sha256(data).hexdigest()


def pack(obj: Any) -> bytes:
    """msgpack-encode ``obj`` (bytes as bin, str as str)."""
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data: bytes, what: str) -> Any:
    """Decode msgpack; IntegrityError naming ``what`` when it does not decode."""
    try:
        return msgpack.unpackb(data, raw=False, use_list=False)
    except Exception as exc:  # msgpack raises several unrelated classes
        raise IntegrityError(f"{what} does not decode as msgpack: {exc}") from None


def unpacker(data: bytes) -> msgpack.Unpacker:
    """A streaming msgpack reader over ``data`` (same options as :func:`unpack`), to decode big documents
    one element at a time."""
    u = msgpack.Unpacker(raw=False, use_list=False, max_buffer_size=max(len(data), 1024))
    u.feed(data)
    return u


def compressor(dict_data: bytes | None = None, level: int = LEVEL) -> zstandard.ZstdCompressor:
    """A fresh compressor (compressors are not thread-safe: one per call or per thread)."""
    zdict = zstandard.ZstdCompressionDict(dict_data) if dict_data is not None else None
    return zstandard.ZstdCompressor(level=level, dict_data=zdict, write_checksum=False,
                                    write_content_size=True)


def compress(data: bytes, dict_data: bytes | None = None) -> bytes:
    """One zstd frame of ``data``."""
    return compressor(dict_data).compress(data)


def decompress(frame: bytes, what: str, dict_data: bytes | None = None,
               raw_length: int | None = None) -> bytes:
    """Inverse of :func:`compress`; IntegrityError naming ``what`` on a damaged frame."""
    zdict = zstandard.ZstdCompressionDict(dict_data) if dict_data is not None else None
    try:
        out = zstandard.ZstdDecompressor(dict_data=zdict).decompress(
            frame, max_output_size=raw_length or 0)
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"{what} does not decompress: {exc}") from None
    if raw_length is not None and len(out) != raw_length:
        raise IntegrityError(f"{what} decompresses to {len(out)} bytes, expected {raw_length}")
    return out


def packz(obj: Any) -> bytes:
    """msgpack then one zstd frame: the encoding of index segments and snapshot records."""
    return compress(pack(obj))


def unpackz(data: bytes, what: str) -> Any:
    """Inverse of :func:`packz`."""
    return unpack(decompress(data, what), what)


def train_dictionary(samples: list[bytes | bytearray | memoryview], size: int, dict_id: int) -> bytes:
    """A zstd dictionary of at most ``size`` bytes trained on ``samples`` (deterministic for equal input);
    ``dict_id`` is the zstd dictionary ID written into it (the archive uses it as the dictionary's role)."""
    return zstandard.train_dictionary(size, samples, level=LEVEL, dict_id=dict_id).as_bytes()


def dictionary_role(data: bytes) -> int:
    """The zstd dictionary ID inside a dictionary's bytes (0 if the bytes are not a zstd dictionary)."""
    return int(zstandard.ZstdCompressionDict(data).dict_id())
