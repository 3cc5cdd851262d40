"""Which function names a blob: the SHA-256 of its bytes, or in an encrypted archive the keyed HMAC of
formats/encryption.md "Keyed ids" (a backend that keys ids offers ``content_id(data)``).  The one place that
decides; every writer and checker of blob ids asks here, or ``Archive.content_id``.  Manifest pages, packs,
segments, dictionaries and snapshot records stay named by the SHA-256 of their (plaintext) bytes."""

from __future__ import annotations

from collections.abc import Callable

from archiver.store import codec
from archiver.store.backend import Backend

BlobHasher = Callable[[bytes], str]


def blob_hasher(backend: Backend) -> BlobHasher:
    """The blob-id function of the archive held by ``backend``."""
    keyed = getattr(backend, "content_id", None)
    return keyed if callable(keyed) else codec.sha256_hex
