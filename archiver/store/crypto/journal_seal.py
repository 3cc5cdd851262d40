"""Sealed journal entries of an encrypted archive (formats/encryption.md "Sealed journals"): the payload of
each journal frame is ``nonce (12 random bytes) | AES-256-GCM(journal key, msgpack map, ad)``, the journal key
HKDF-SHA256(seal key, salt none, "gmail-archiver journal key v1") and the associated data binding the entry
to its journal's file name and its offset in it, so an entry moved, copied to another journal or changed
does not open.  Journals are local state that never goes through the backend: this is their only sealing."""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE = 12
TAG = 16
_INFO = b"gmail-archiver journal key v1"
_AD_PREFIX = b"gmail-archiver journal v1\x00"
_OFFSET = struct.Struct(">Q")


def _ad(journal: str, offset: int) -> bytes:
    return _AD_PREFIX + journal.encode("utf-8") + b"\x00" + _OFFSET.pack(offset)


class JournalSeal:
    """Seals and opens the entries of any journal of one archive (store/journal.py ``EntrySeal``)."""

    def __init__(self, seal_key: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(seal_key)
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "JournalSeal(<key>)"

    def seal(self, journal: str, offset: int, payload: bytes) -> bytes:
        """The sealed form of ``payload``, the entry written at ``offset`` of the journal file ``journal``."""
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, payload, _ad(journal, offset))

    def open(self, journal: str, offset: int, sealed: bytes) -> bytes | None:
        """The payload of a sealed entry; None when it does not authenticate (changed, moved, foreign)."""
        if len(sealed) < NONCE + TAG:
            return None
        try:
            return self._aead.decrypt(sealed[:NONCE], sealed[NONCE:], _ad(journal, offset))
        except InvalidTag:
            return None
