"""The key files of an encrypted archive (``keys/<id>``, formats/encryption.md "Keys"): create the first,
unlock with a password, add, remove (never the last), change a password.  All through a plain Backend: key
files and ``archive.json`` are the archive's only unsealed files."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from archiver.errors import AuthError, FormatError, UsageError
from archiver.store.backend import Backend
from archiver.store.crypto import stream
from archiver.store.crypto.keys import MasterKey, kdf_name, unwrap, wrap, wrong_password

KEYS = "keys"
SCHEME = "gmail-archiver-sealed-v1"
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")


def encryption_doc(master: MasterKey) -> dict[str, Any]:
    """The ``encryption`` member of an encrypted archive's ``archive.json`` (nothing secret in it)."""
    return {"scheme": SCHEME, "aead": "aes-256-gcm", "chunk_size": 1 << stream.CHUNK_LOG2,
            "kdf": kdf_name(), "ids": "hmac-sha256",
            "key_check": master.check}


def check_encryption_doc(doc: Any, where: str) -> str:
    """The key check of a valid ``encryption`` member; FormatError otherwise."""
    if not isinstance(doc, dict) or doc.get("scheme") != SCHEME:
        raise FormatError(f"{where} names an encryption scheme this program does not know",
                          hint="upgrade gmail-archiver")
    check = doc.get("key_check")
    if not isinstance(check, str) or not re.fullmatch(r"[0-9a-f]{32}", check):
        raise FormatError(f"{where} is damaged: its encryption key_check does not read")
    return check


@dataclass(frozen=True)
class KeyInfo:
    """One key file, as ``key list`` shows it (nothing secret)."""

    id: str
    kdf: str


def key_ids(backend: Backend) -> list[str]:
    """The ids of the key files, sorted."""
    names = (n.rsplit("/", 1)[-1] for n in backend.list(KEYS))
    return sorted(n for n in names if _KEY_ID.match(n))


def _write_new(backend: Backend, master: MasterKey, password: str) -> str:
    data = wrap(master, password)
    while True:
        key_id = os.urandom(8).hex()
        if backend.write_if_absent(f"{KEYS}/{key_id}", data):
            return key_id


def create(backend: Backend, password: str) -> MasterKey:
    """A new master key, wrapped by ``password`` in the first key file."""
    master = MasterKey.generate()
    _write_new(backend, master, password)
    return master


def unlock(backend: Backend, password: str, key_check: str) -> tuple[MasterKey, str]:
    """The master key and the id of the key file ``password`` opens; AuthError (exit 12) when it opens
    none, FormatError when the archive has no key file or one opened wraps another archive's key."""
    ids = key_ids(backend)
    if not ids:
        raise FormatError(f"{backend.url} is encrypted but has no key file (keys/ is empty or missing)",
                          hint="restore keys/ from a copy of the archive: without a key file nothing reads")
    damaged: list[str] = []
    for key_id in ids:
        where = f"key file keys/{key_id}"
        try:
            master = unwrap(backend.read(f"{KEYS}/{key_id}"), password, where)
        except FormatError as exc:
            damaged.append(str(exc))
            continue
        if master is None:
            continue
        if master.check != key_check:
            raise FormatError(f"{where} opens with this password but wraps another archive's key "
                              "(archive.json's key_check differs)",
                              hint=f"remove the stray file keys/{key_id}")
        return master, key_id
    error = wrong_password(backend.url)
    if damaged:
        error = AuthError(f"{error} ({'; '.join(damaged)})", hint=error.hint)
    raise error


def add(backend: Backend, master: MasterKey, password: str) -> str:
    """A new key file wrapping ``master`` with ``password``; its id."""
    return _write_new(backend, master, password)


def remove(backend: Backend, key_id: str) -> None:
    """Delete key file ``key_id``; UsageError for an unknown id or the last key file (the one the caller's
    password opened may go while another remains: a remaining password still opens the archive)."""
    ids = key_ids(backend)
    if key_id not in ids:
        raise UsageError(f"the archive has no key {key_id!r}", hint="`gmail-archiver key list ARCHIVE` "
                         "shows the key ids")
    if len(ids) == 1:
        raise UsageError(f"key {key_id} is the archive's last key: without it nothing could be read",
                         hint="add another first: `gmail-archiver key add ARCHIVE`")
    backend.delete(f"{KEYS}/{key_id}")


def change_password(backend: Backend, master: MasterKey, key_id: str, new_password: str) -> str:
    """Replace key file ``key_id`` by one wrapping ``master`` with ``new_password`` (written first, so a crash
    leaves both, never neither); the new id."""
    new_id = _write_new(backend, master, new_password)
    backend.delete(f"{KEYS}/{key_id}")
    return new_id
