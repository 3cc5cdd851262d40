"""Unattended use: ``run`` every configured account (backup, forget, prune, verify, hooks) and ``schedule``
it.  Above the operations: it calls backup, retention and verify in turn, the only layer that may."""

from __future__ import annotations

from archiver.runner import schedule
from archiver.runner.check import check_account
from archiver.runner.credentials import account_credentials
from archiver.runner.run import (
    SEVERITY,
    AccountResult,
    RunReport,
    StepResult,
    run_account,
    run_accounts,
    worst,
)

__all__ = [
    "SEVERITY",
    "AccountResult",
    "RunReport",
    "StepResult",
    "account_credentials",
    "check_account",
    "run_account",
    "run_accounts",
    "schedule",
    "worst",
]
