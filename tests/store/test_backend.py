"""The local backend honours the Backend contract (archiver/store/backend.py); other backends reuse
``check_contract``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from archiver.store.backend import Backend, LocalBackend
from tests.helpers.membackend import MemoryBackend


def check_contract(b: Backend) -> None:
    """What every backend must do; raises AssertionError at the first break of the contract."""
    assert list(b.list("packs")) == []
    assert not b.exists("packs/ab/ab01")
    assert b.write_if_absent("packs/ab/ab01", b"hello world") is True
    assert b.write_if_absent("packs/ab/ab01", b"other bytes") is False
    assert b.read("packs/ab/ab01") == b"hello world"
    assert b.read_range("packs/ab/ab01", 6, 5) == b"world"
    assert b.read_range("packs/ab/ab01", 6, 50) == b"world"
    assert b.size("packs/ab/ab01") == 11
    b.write_if_absent("packs/cd/cd02", b"x")
    b.write_if_absent("index/0001", b"y")
    assert sorted(b.list("packs")) == ["packs/ab/ab01", "packs/cd/cd02"]
    b.replace("damage.json", b"{}")
    b.replace("damage.json", b"[]")
    assert b.read("damage.json") == b"[]"
    b.delete("packs/cd/cd02")
    b.delete("packs/cd/cd02")  # missing: not an error
    assert sorted(b.list("packs")) == ["packs/ab/ab01"]
    with pytest.raises(FileNotFoundError):
        b.read("packs/cd/cd02")
    with pytest.raises(FileNotFoundError):
        b.read_range("packs/cd/cd02", 0, 1)
    with pytest.raises(FileNotFoundError):
        b.size("packs/cd/cd02")


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
