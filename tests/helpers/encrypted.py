"""Shared pieces of the encrypted-archive tests: the password in the environment with a cheap KDF, a new
encrypted archive, and the plaintext a test greps the stored files for."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from archiver import Archive
from archiver.store.crypto import cheap_kdf_for_tests, encrypt_new_archive, forget_unlocked_keys

ADDRESS = re.compile(r"[\w.+-]+@[\w.-]+\w")


def password_in_env(monkeypatch: pytest.MonkeyPatch, password: str) -> Iterator[None]:
    """For an autouse fixture (``yield from``): GMAIL_ARCHIVER_ARCHIVE_PASSWORD set, the KDF cheap, and no
    unlocked key left for the next test."""
    monkeypatch.setenv("GMAIL_ARCHIVER_ARCHIVE_PASSWORD", password)
    with cheap_kdf_for_tests():
        yield
    forget_unlocked_keys()


def new_encrypted_archive(path: Path, password: str) -> Path:
    """An empty encrypted archive at ``path``; its key is forgotten, so every later open unlocks with the
    environment's password, as a new process would."""
    Archive.init(path)
    encrypt_new_archive(path, password)
    forget_unlocked_keys()
    return path


def header_needles(msgs: Iterable[bytes]) -> set[bytes]:
    """The addresses of Subject/From/To/Message-ID and the first 48 bytes of each Subject and Message-ID:
    plaintext no stored file of an encrypted archive may hold."""
    out: set[bytes] = set()
    for m in msgs:
        msg = email.message_from_bytes(m, policy=email.policy.compat32)
        for header in ("Subject", "From", "To", "Message-ID"):
            value = msg.get(header)
            if not isinstance(value, str):
                continue
            value = value.strip()
            out.update(a.encode("utf-8", "surrogateescape") for a in ADDRESS.findall(value))
            if header in ("Subject", "Message-ID"):
                out.add(value.encode("utf-8", "surrogateescape")[:48])
    return out


def files_holding(folder: Path, needles: set[bytes]) -> dict[str, list[bytes]]:
    """Each file under ``folder`` that holds any of ``needles``, with the ones it holds."""
    found = {str(p.relative_to(folder)): [n for n in needles if n in p.read_bytes()]
             for p in folder.rglob("*") if p.is_file()}
    return {k: v for k, v in found.items() if v}
