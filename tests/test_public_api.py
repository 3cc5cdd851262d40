"""The curated public API: everything in __all__ exists, and nothing private leaks into it."""

from __future__ import annotations

import archiver


def test_all_names_exist() -> None:
    missing = [name for name in archiver.__all__ if not hasattr(archiver, name)]
    assert missing == []


def test_all_is_sorted_and_unique() -> None:
    assert archiver.__all__ == sorted(archiver.__all__)
    assert len(set(archiver.__all__)) == len(archiver.__all__)
    assert all(not name.startswith("_") or name == "__version__" for name in archiver.__all__)


def test_error_exit_codes_match_the_cli_contract() -> None:
    codes = {
        archiver.ArchiverError: 1, archiver.UsageError: 2, archiver.PartialFailure: 3,
        archiver.ArchiveNotFound: 10, archiver.ArchiveLocked: 11, archiver.AuthError: 12,
        archiver.DamageFound: 13, archiver.Cancelled: 130,
    }
    assert {cls: cls.exit_code for cls in codes} == codes
