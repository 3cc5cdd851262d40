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
from archiver.runner.shard import Shard, parse_shard, shard_of

__all__ = [
    "SEVERITY",
    "AccountResult",
    "RunReport",
    "Shard",
    "StepResult",
    "account_credentials",
    "check_account",
    "parse_shard",
    "run_account",
    "run_accounts",
    "schedule",
    "shard_of",
    "worst",
]
