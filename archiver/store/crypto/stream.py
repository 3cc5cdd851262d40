"""Sealed files (formats/encryption.md "Sealed files"): one file's bytes under AES-256-GCM in fixed-size
chunks, each authenticated with its index, a last-chunk flag and the file's name, so that a range read
opens only the chunks it covers and a flipped byte, a truncation, a reordering or a rename is detected.

    header   magic "GAE1" | chunk size as log2 (1 byte) | salt (32 random bytes) | nonce prefix (7 random)
    chunks   AES-256-GCM(file key, nonce = prefix | index (4 bytes, big-endian) | last (1 byte: 0 or 1),
                         plaintext chunk, associated data = "gmail-archiver file v1" 0x00 name)

The file key is HKDF-SHA256(seal key, salt, "gmail-archiver file key v1"): a fresh key per file, so the
(chunk index, flag) nonces are unique under each key, and the random prefix makes them random too.  Every
chunk but the last holds exactly ``chunk_size`` plaintext bytes; the last holds 0..chunk_size (an empty file
is one empty last chunk).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from archiver.errors import IntegrityError

MAGIC = b"GAE1"
SALT = 32
PREFIX = 7
HEADER = len(MAGIC) + 1 + SALT + PREFIX
TAG = 16
CHUNK_LOG2 = 16
"""64 KiB plaintext chunks: 16 bytes of tag per 64 KiB (0.02 %), and a range read of a typical message opens
one or two chunks."""
_FILE_KEY_INFO = b"gmail-archiver file key v1"
_AD_PREFIX = b"gmail-archiver file v1\x00"


def sealed_size(plain: int, chunk_size: int = 1 << CHUNK_LOG2) -> int:
    """The size of the sealed file of ``plain`` plaintext bytes."""
    chunks = max(1, -(-plain // chunk_size))
    return HEADER + plain + TAG * chunks


def plain_size(sealed: int, chunk_size: int = 1 << CHUNK_LOG2) -> int | None:
    """The plaintext size of a sealed file of ``sealed`` bytes; None when no sealed file has that size."""
    body = sealed - HEADER
    if body < TAG:
        return None
    chunks = -(-body // (chunk_size + TAG))
    last = body - (chunks - 1) * (chunk_size + TAG)
    return body - TAG * chunks if last >= TAG else None


@dataclass(frozen=True)
class Header:
    """A sealed file's header, and the cipher of its file key."""

    chunk_size: int
    prefix: bytes
    aead: AESGCM

    def nonce(self, index: int, last: bool) -> bytes:
        return self.prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _file_key(seal_key: bytes, salt: bytes) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_FILE_KEY_INFO).derive(seal_key))


def _ad(name: str) -> bytes:
    return _AD_PREFIX + name.encode("utf-8")


def seal(seal_key: bytes, name: str, data: bytes, chunk_log2: int = CHUNK_LOG2) -> bytes:
    """The sealed file of ``data`` stored as ``name``."""
    salt, prefix = os.urandom(SALT), os.urandom(PREFIX)
    head = Header(1 << chunk_log2, prefix, _file_key(seal_key, salt))
    size, ad = head.chunk_size, _ad(name)
    view = memoryview(data)
    count = max(1, -(-len(data) // size))
    out = [MAGIC, bytes([chunk_log2]), salt, prefix]
    for i in range(count):
        out.append(head.aead.encrypt(head.nonce(i, i == count - 1), view[i * size:(i + 1) * size], ad))
    return b"".join(out)


def parse_header(seal_key: bytes, name: str, data: bytes) -> Header:
    """The header at the start of ``data``; IntegrityError naming ``name`` when it is not one."""
    if len(data) < HEADER or data[:4] != MAGIC:
        raise IntegrityError(f"{name} is damaged: it does not start like a sealed file "
                             "(formats/encryption.md)")
    log2 = data[4]
    if not 10 <= log2 <= 24:
        raise IntegrityError(f"{name} is damaged: its header names an impossible chunk size")
    salt = data[5:5 + SALT]
    return Header(1 << log2, data[5 + SALT:HEADER], _file_key(seal_key, salt))


def open_chunks(head: Header, name: str, body: bytes | memoryview, first: int, at_end: bool) -> bytes:
    """The plaintext of the consecutive sealed chunks ``body`` (chunk ``first`` onward).

    ``at_end``: ``body`` ends where the file ends (the read was short, or ran to the end): then its final
    chunk must be the file's last one.  Otherwise ``body`` holds only full chunks, none of them the last.
    IntegrityError naming the file on any mismatch.
    """
    step = head.chunk_size + TAG
    ad = _ad(name)
    out = []
    view = memoryview(body)  # slices without copies
    count = -(-len(body) // step) if body else 0
    if at_end and count == 0:
        raise IntegrityError(f"{name} is damaged: it is truncated (chunk {first} is missing)")
    for k in range(count):
        piece = view[k * step:(k + 1) * step]
        last = at_end and k == count - 1
        if len(piece) < TAG or (len(piece) < step and not last):
            raise IntegrityError(f"{name} is damaged: it is truncated in chunk {first + k}")
        try:
            out.append(head.aead.decrypt(head.nonce(first + k, last), piece, ad))
        except InvalidTag:
            why = "truncated, or " if last and len(piece) == step else ""
            raise IntegrityError(f"{name} is damaged: chunk {first + k} does not authenticate (the file was "
                                 f"{why}altered, reordered or renamed)") from None
    return out[0] if len(out) == 1 else b"".join(out)


def unseal(seal_key: bytes, name: str, data: bytes) -> bytes:
    """The plaintext of the whole sealed file ``data`` stored as ``name``."""
    head = parse_header(seal_key, name, data)
    return open_chunks(head, name, memoryview(data)[HEADER:], 0, at_end=True)
