"""The archive's keys (formats/encryption.md "Keys"): one random master key, wrapped by each password in a
key file ``keys/<id>`` through a memory-hard KDF (Argon2id; scrypt where the installed ``cryptography`` has no
Argon2id), and the subkeys derived from it with HKDF: one seals files, one keys the blob ids.

A key file (UTF-8 JSON, plaintext: it holds nothing an observer can use without the password)::

    {"version": 1, "kdf": {"name": "argon2id", "salt": "<b64>", "iterations": 9, "lanes": 4,
                           "memory_kib": 65536},
     "wrapped": "<b64: nonce (12) | AES-256-GCM(KEK, master key, ad = "gmail-archiver key file v1")>"}
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from archiver.errors import AuthError, FormatError, UsageError

try:
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
except ImportError:  # cryptography < 44
    Argon2id = None  # type: ignore[assignment,misc]

KEY_BYTES = 32
_WRAP_AD = b"gmail-archiver key file v1"
_SEAL_INFO = b"gmail-archiver seal key v1"
_ID_INFO = b"gmail-archiver id key v1"
_CHECK_INFO = b"gmail-archiver key check v1"
TARGET_SECONDS = 0.5
"""How long unwrapping a key file takes on the machine that wrote it (calibrated when the file is made)."""
MEMORY_KIB = 64 * 1024
"""Argon2id memory: 64 MiB (scrypt: n = 2**16, r = 8, also 64 MiB)."""


@dataclass(frozen=True)
class KdfParams:
    """How a password becomes the key-encryption key; stored in each key file."""

    name: str  # "argon2id" or "scrypt"
    salt: bytes = field(repr=False)
    iterations: int = 3  # argon2id: passes; scrypt: log2(n)
    lanes: int = 4  # argon2id: lanes; scrypt: p
    memory_kib: int = MEMORY_KIB  # argon2id: memory; scrypt: r = 8 always, memory = 128 * r * n bytes

    def derive(self, password: str) -> bytes:
        secret = password.encode("utf-8")
        if self.name == "argon2id":
            if Argon2id is None:
                raise FormatError("this key file uses Argon2id, which the installed cryptography lacks",
                                  hint="upgrade the cryptography package (44 or newer)")
            return Argon2id(salt=self.salt, length=KEY_BYTES, iterations=self.iterations, lanes=self.lanes,
                            memory_cost=self.memory_kib).derive(secret)
        if self.name == "scrypt":
            return Scrypt(salt=self.salt, length=KEY_BYTES, n=1 << self.iterations, r=8,
                          p=self.lanes).derive(secret)
        raise FormatError(f"unknown key derivation {self.name!r}", hint="upgrade gmail-archiver")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "salt": _b64(self.salt), "iterations": self.iterations,
                "lanes": self.lanes, "memory_kib": self.memory_kib}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> KdfParams:
        try:
            params = cls(str(doc["name"]), _unb64(doc["salt"]), int(doc["iterations"]), int(doc["lanes"]),
                         int(doc["memory_kib"]))
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"{where} is damaged: its kdf parameters do not read") from None
        if not (1 <= params.iterations <= 64 and 1 <= params.lanes <= 64 and params.memory_kib <= 1 << 22):
            raise FormatError(f"{where} is damaged: its kdf parameters are out of range")
        return params


_test_cost: tuple[int, int] | None = None


@contextlib.contextmanager
def cheap_kdf_for_tests(iterations: int = 1, memory_kib: int = 64) -> Iterator[None]:
    """Tests only: key files made inside this block use a tiny KDF cost (never use it for real data)."""
    global _test_cost
    old, _test_cost = _test_cost, (iterations, memory_kib)
    try:
        yield
    finally:
        _test_cost = old


def kdf_name() -> str:
    """The KDF new key files use: Argon2id when the installed cryptography has it, else scrypt."""
    return "argon2id" if Argon2id is not None else "scrypt"


def new_kdf_params() -> KdfParams:
    """Fresh parameters sized to about TARGET_SECONDS on this machine (64 MiB, iterations calibrated)."""
    salt = os.urandom(16)
    if Argon2id is None:
        if _test_cost is not None:
            return KdfParams("scrypt", salt, 4, 1, 16)
        return KdfParams("scrypt", salt, 16, 1, MEMORY_KIB)
    if _test_cost is not None:
        return KdfParams("argon2id", salt, _test_cost[0], 1, _test_cost[1])
    probe = KdfParams("argon2id", salt, 2, 4, MEMORY_KIB)
    start = time.perf_counter()
    probe.derive("calibration")
    per_pass = max((time.perf_counter() - start) / 2, 1e-3)
    return KdfParams("argon2id", salt, max(3, min(64, round(TARGET_SECONDS / per_pass))), 4, MEMORY_KIB)


@dataclass(frozen=True)
class MasterKey:
    """The archive's master key and its subkeys; repr shows nothing secret."""

    key: bytes = field(repr=False)

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(os.urandom(KEY_BYTES))

    def _sub(self, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(self.key)

    @property
    def seal_key(self) -> bytes:
        """The subkey that seals files (stream.py)."""
        return self._sub(_SEAL_INFO)

    @property
    def id_key(self) -> bytes:
        """The subkey of keyed ids (:func:`keyed_id`)."""
        return self._sub(_ID_INFO)

    @property
    def check(self) -> str:
        """A public fingerprint (hex) of the master key, stored in archive.json, so that a key file wrapping
        another key is told apart from a wrong password."""
        return self._sub(_CHECK_INFO)[:16].hex()


def keyed_id(id_key: bytes, data: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``data`` under ``id_key``: an encrypted archive's blob and page id."""
    return hmac.new(id_key, data, hashlib.sha256).hexdigest()


def wrap(master: MasterKey, password: str, params: KdfParams | None = None) -> bytes:
    """A key file (bytes) holding ``master`` wrapped by ``password``."""
    if not password:
        raise UsageError("an archive password cannot be empty")
    params = params or new_kdf_params()
    nonce = os.urandom(12)
    sealed = AESGCM(params.derive(password)).encrypt(nonce, master.key, _WRAP_AD)
    doc = {"version": 1, "kdf": params.to_json(), "wrapped": _b64(nonce + sealed)}
    return (json.dumps(doc, sort_keys=True) + "\n").encode()


def unwrap(data: bytes, password: str, where: str) -> MasterKey | None:
    """The master key of key file ``data`` if ``password`` opens it, else None; FormatError naming ``where``
    when the file does not read."""
    try:
        doc = json.loads(data.decode("utf-8"))
        version, wrapped = doc["version"], _unb64(doc["wrapped"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise FormatError(f"{where} is damaged: not a key file") from None
    if version != 1:
        raise FormatError(f"{where} has key file version {version!r}", hint="upgrade gmail-archiver")
    params = KdfParams.from_json(doc.get("kdf"), where)
    try:
        key = AESGCM(params.derive(password)).decrypt(wrapped[:12], wrapped[12:], _WRAP_AD)
    except InvalidTag:
        return None
    return MasterKey(key) if len(key) == KEY_BYTES else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text.encode("ascii"), validate=True)


def wrong_password(archive: str) -> AuthError:
    return AuthError(f"the archive password does not open any key of {archive}",
                     hint="check GMAIL_ARCHIVER_ARCHIVE_PASSWORD or --archive-password-command (a key "
                          "holder can add a password with `gmail-archiver key add ARCHIVE`)")
