"""Files the store writes in place (locks, the lock holder, journals) are never written through a symbolic
link planted in the archive: the store refuses, naming the file, and the link's target is untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.errors import FormatError
from archiver.store import Archive
from archiver.store.lock import account_lock_path

PRECIOUS = b"a file outside the archive\n"


def _plant(link: Path, tmp_path: Path) -> Path:
    target = tmp_path / "precious"
    target.write_bytes(PRECIOUS)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    return target


def test_symlinked_account_lock_is_refused(archive: Archive, tmp_path: Path) -> None:
    link = account_lock_path(archive.layout.locks, "alice@example.org")
    target = _plant(link, tmp_path)
    with pytest.raises(FormatError, match="symbolic link") as info:
        archive.writer("alice@example.org")
    assert str(link) in str(info.value) and info.value.hint and "rm" in info.value.hint
    assert target.read_bytes() == PRECIOUS
    link.unlink()  # the archive lock was let go: a writer works once the link is gone
    archive.writer("alice@example.org").close()


def test_symlinked_archive_lock_and_holder_are_refused(archive: Archive, tmp_path: Path) -> None:
    target = _plant(archive.layout.locks / "archive.lock", tmp_path)
    with pytest.raises(FormatError, match=r"archive\.lock"):
        archive.exclusive_lock()
    with pytest.raises(FormatError, match=r"archive\.lock"):
        archive.writer("alice@example.org")
    assert target.read_bytes() == PRECIOUS
    (archive.layout.locks / "archive.lock").unlink()
    holder = _plant(archive.layout.locks / "archive.holder", tmp_path)
    with pytest.raises(FormatError, match=r"archive\.holder"):
        archive.exclusive_lock()
    assert holder.read_bytes() == PRECIOUS
    (archive.layout.locks / "archive.holder").unlink()
    with archive.exclusive_lock():  # the refused attempt released the flock
        pass


def test_symlinked_locks_folder_is_refused(archive: Archive, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    archive.layout.locks.rmdir()
    archive.layout.locks.symlink_to(elsewhere)
    with pytest.raises(FormatError, match="symbolic link"):
        archive.writer("alice@example.org")
    assert list(elsewhere.iterdir()) == []


def test_symlinked_journal_is_refused(archive: Archive, tmp_path: Path) -> None:
    journal = archive.journal("restore-x")
    target = _plant(journal.path, tmp_path)
    with pytest.raises(FormatError, match=r"restore-x\.journal") as info:
        journal.append({"a": 1})
    assert "symbolic link" in str(info.value)
    with pytest.raises(FormatError, match=r"restore-x\.journal"):
        list(journal)
    assert target.read_bytes() == PRECIOUS
    journal.path.unlink()
    journal.append({"a": 1})
    assert list(archive.journal("restore-x")) == [{"a": 1}]
    assert oct(journal.path.stat().st_mode & 0o777) == oct(0o600)
