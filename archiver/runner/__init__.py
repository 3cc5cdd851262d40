"""Unattended use: ``run`` every configured account (backup, forget, prune, verify, hooks) and ``schedule``
it.  Above the operations: it calls backup, retention and verify in turn, the only layer that may."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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

_MODULE_OF = {"schedule": "archiver.runner.schedule", "check_account": "archiver.runner.check",
              "account_credentials": "archiver.runner.credentials",
              **dict.fromkeys(("SEVERITY", "AccountResult", "RunReport", "StepResult", "run_account",
                               "run_accounts", "worst"), "archiver.runner.run"),
              **dict.fromkeys(("Shard", "parse_shard", "shard_of"), "archiver.runner.shard")}
"""Imported on first use: ``backup`` needs the account's credentials, not the runner (which brings in
retention and verify)."""


def __getattr__(name: str) -> object:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'archiver.runner' has no attribute {name!r}")
    module = importlib.import_module(_MODULE_OF[name])
    value = module if name == "schedule" else getattr(module, name)
    globals()[name] = value
    return value


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
