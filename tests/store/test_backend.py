"""The local backend honours the Backend contract (archiver/store/backend.py); other backends reuse
``check_contract`` (tests/helpers/contract.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from archiver.store.backend import Backend, LocalBackend
from tests.helpers.contract import check_contract
from tests.helpers.membackend import MemoryBackend


def test_local_backend_contract(tmp_path: Path) -> None:
    b = LocalBackend(tmp_path)
    assert isinstance(b, Backend)
    check_contract(b)
    assert (tmp_path / "packs" / "ab" / "ab01").stat().st_mode & 0o777 == 0o600
    assert not any((tmp_path / "tmp").iterdir())


def test_local_backend_refuses_names_outside_the_archive(tmp_path: Path) -> None:
    b = LocalBackend(tmp_path / "a")
    for bad in ("../x", "/etc/passwd", "packs/../../x", "", "packs//x"):
        with pytest.raises(ValueError):
            b.read(bad)


def test_local_backend_replaces_a_link_never_its_target(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    root = tmp_path / "a"
    root.mkdir()
    os.symlink(outside, root / "damage.json")
    LocalBackend(root).replace("damage.json", b"{}")
    assert outside.read_bytes() == b"keep"
    assert (root / "damage.json").read_bytes() == b"{}"


def test_encrypted_backend_contract(tmp_path: Path) -> None:
    """The encrypting layer over the local backend honours the same contract."""
    from archiver.store.crypto import EncryptedBackend, MasterKey

    inner = LocalBackend(tmp_path)
    b = EncryptedBackend(inner, MasterKey.generate())
    assert isinstance(b, Backend)
    check_contract(b)
    assert inner.read("packs/ab/ab01") != b"hello world"
    assert b"hello" not in inner.read("packs/ab/ab01")


def test_memory_backend_contract(tmp_path: Path) -> None:
    """The in-memory backend the store's backend tests run archives on is a faithful one."""
    check_contract(MemoryBackend(tmp_path))
