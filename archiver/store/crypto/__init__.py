"""Encryption at rest (formats/encryption.md): key files wrapping a master key (keys.py, keyring.py), sealed
files (stream.py), the EncryptedBackend over any Backend (backend.py), whole-archive operations (manage.py)
and, re-exported, where a password comes from (store/archive_password.py).  The one user of
``cryptography``."""

from __future__ import annotations

from archiver.store.archive_password import (
    ARCHIVE_PASSWORD_ENV,
    NEW_ARCHIVE_PASSWORD_ENV,
    archive_password_from_env_or_command,
    set_password_provider,
)
from archiver.store.crypto.backend import EncryptedBackend
from archiver.store.crypto.keys import MasterKey, cheap_kdf_for_tests, keyed_id
from archiver.store.crypto.manage import (
    add_key,
    change_password,
    encrypt_new_archive,
    encryption_of,
    forget_unlocked_keys,
    list_keys,
    open_encrypted,
    remove_key,
)

__all__ = [
    "ARCHIVE_PASSWORD_ENV",
    "NEW_ARCHIVE_PASSWORD_ENV",
    "EncryptedBackend",
    "MasterKey",
    "add_key",
    "archive_password_from_env_or_command",
    "change_password",
    "cheap_kdf_for_tests",
    "encrypt_new_archive",
    "encryption_of",
    "forget_unlocked_keys",
    "keyed_id",
    "list_keys",
    "open_encrypted",
    "remove_key",
    "set_password_provider",
]
