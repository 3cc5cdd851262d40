"""Encrypted archives as a whole: turn a new, empty archive into an encrypted one, open one with a password,
and manage its key files (``key add|remove|passwd|list``).  Every function takes the archive's plain Backend
(``LocalBackend(path)`` for a folder); the CLI is thin over these."""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from archiver.errors import FormatError, UsageError
from archiver.store.archive_password import ask_password
from archiver.store.backend import Backend, backend_at
from archiver.store.crypto import keyring
from archiver.store.crypto.backend import EncryptedBackend
from archiver.store.crypto.keys import MasterKey

CONFIG = "archive.json"
DATA_FOLDERS = ("packs", "index", "dicts", "snapshots")
_unlocked: dict[tuple[str, str], MasterKey] = {}
_unlocked_lock = threading.Lock()
Where = Backend | str | os.PathLike[str]
"""An archive: its Backend, or the path of a local one, or its ``s3://`` URL."""


def as_backend(where: Where) -> Backend:
    return where if isinstance(where, Backend) else backend_at(where)


def _config(backend: Backend) -> dict[str, Any]:
    try:
        doc = json.loads(backend.read(CONFIG).decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no archive at {backend.url}",
                         hint="create one with: gmail-archiver init --encrypt ARCHIVE") from None
    except (UnicodeDecodeError, ValueError):
        raise FormatError(f"{backend.url}/{CONFIG} is damaged: not UTF-8 JSON") from None
    if not isinstance(doc, dict):
        raise FormatError(f"{backend.url}/{CONFIG} is damaged: not a JSON object")
    return doc


def encryption_of(where: Where) -> dict[str, Any] | None:
    """The ``encryption`` member of the archive's config (nothing secret), or None for a plain archive."""
    backend = as_backend(where)
    doc = _config(backend).get("encryption")
    if doc is not None:
        keyring.check_encryption_doc(doc, f"{backend.url}/{CONFIG}")
    return doc


def encrypt_new_archive(where: Where, password: str) -> EncryptedBackend:
    """Make the just-created, empty archive at ``backend`` encrypted: the first key file, then the config
    naming the scheme (the commit point).  Re-running it after a crash between the two finishes the job; an
    archive that holds data already is refused (it would stay readable unsealed)."""
    backend = as_backend(where)
    doc = _config(backend)
    if "encryption" in doc:
        raise UsageError(f"the archive at {backend.url} is encrypted already")
    for folder in DATA_FOLDERS:
        if next(iter(backend.list(folder)), None) is not None:
            raise UsageError(f"the archive at {backend.url} holds data already: it cannot be encrypted "
                             "in place", hint="create a new archive with: gmail-archiver init --encrypt "
                                              "NEW_ARCHIVE")
    for key_id in keyring.key_ids(backend):  # orphans of an interrupted run: they wrap another master key
        backend.delete(f"{keyring.KEYS}/{key_id}")
    master = keyring.create(backend, password)
    doc["encryption"] = keyring.encryption_doc(master)
    backend.replace(CONFIG, (json.dumps(doc, sort_keys=True) + "\n").encode())
    _remember(backend, doc["encryption"]["key_check"], master)
    return EncryptedBackend(backend, master)


def _remember(backend: Backend, check: str, master: MasterKey) -> None:
    with _unlocked_lock:
        _unlocked[(backend.url, check)] = master


def _unlock(backend: Backend, password: str) -> tuple[MasterKey, str]:
    doc = encryption_of(backend)
    if doc is None:
        raise UsageError(f"the archive at {backend.url} is not encrypted",
                         hint="only an archive made by `gmail-archiver init --encrypt` has keys")
    master, key_id = keyring.unlock(backend, password, doc["key_check"])
    _remember(backend, doc["key_check"], master)
    return master, key_id


def open_encrypted(where: Where, password: str | None) -> Backend:
    """``backend`` itself for a plain archive; for an encrypted one, an EncryptedBackend over it, unlocked
    with ``password`` (None: the password provider's, by default GMAIL_ARCHIVER_ARCHIVE_PASSWORD; AuthError,
    exit 12, when it opens no key file; UsageError when there is none and this process has not unlocked the
    archive before).  A key once unlocked is kept for the process, so the
    memory-hard KDF runs once however many times an archive is opened."""
    backend = as_backend(where)
    doc = encryption_of(backend)
    if doc is None:
        return backend
    with _unlocked_lock:
        master = _unlocked.get((backend.url, doc["key_check"]))
    if master is None:
        if password is None:
            password = ask_password(backend.url)
        if password is None:
            raise UsageError(f"the archive at {backend.url} is encrypted and no archive password was given",
                             hint="set GMAIL_ARCHIVER_ARCHIVE_PASSWORD or use --archive-password-command")
        master, _ = _unlock(backend, password)
    return EncryptedBackend(backend, master)


def forget_unlocked_keys() -> None:
    """Drop the master keys this process unlocked (tests; a long-lived embedding program)."""
    with _unlocked_lock:
        _unlocked.clear()


def list_keys(where: Where) -> list[str]:
    """The ids of the archive's key files."""
    backend = as_backend(where)
    if encryption_of(backend) is None:
        raise UsageError(f"the archive at {backend.url} is not encrypted")
    return keyring.key_ids(backend)


def add_key(where: Where, password: str, new_password: str) -> str:
    """Another key file for the same master key, opened by ``new_password``; its id."""
    backend = as_backend(where)
    master, _ = _unlock(backend, password)
    return keyring.add(backend, master, new_password)


def remove_key(where: Where, password: str, key_id: str) -> None:
    """Delete key file ``key_id`` (any holder's password proves the right to); never the last one."""
    backend = as_backend(where)
    _unlock(backend, password)
    keyring.remove(backend, key_id)


def change_password(where: Where, password: str, new_password: str) -> str:
    """Rewrap the key file ``password`` opens with ``new_password``; the new key file's id."""
    backend = as_backend(where)
    master, key_id = _unlock(backend, password)
    return keyring.change_password(backend, master, key_id, new_password)
