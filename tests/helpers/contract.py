"""The Backend contract (archiver/store/backend.py) as one check every backend's tests run."""

from __future__ import annotations

import pytest

from archiver.store.backend import Backend


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
