"""Restore: put one snapshot (whole or filtered) onto Gmail or any IMAP server, checking what the server kept.

Steps: ``survey`` (what the target holds), ``plan`` (upload / relabel / untrash / present / conflict /
cannot), ``rewrite`` (the Message-ID policy), ``gmail`` and ``generic`` (the two executors, sharing
``executor``), ``parallel`` and ``intent`` (upload streams and their crash-safe intents), ``result``, and
``operation`` (the run with its reconnect loop).
"""

from archiver.ops.restore.operation import restore
from archiver.ops.restore.result import PlannedAction, RestoreProblem, RestoreResult

__all__ = ["PlannedAction", "RestoreProblem", "RestoreResult", "restore"]
