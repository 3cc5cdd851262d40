"""Backup: one new snapshot of an account, read over IMAP into the archive.

Steps: ``scan`` (folders and their state), ``plan`` (what changed since the last snapshot), ``fetch`` (bodies
over several connections, hashed and compressed off the network path), ``checkpoint`` (durable progress and
the resume journal), ``operation`` (the run that ties them together); ``demo`` runs it against the emulator.
"""

from archiver.ops.backup.operation import BackupProblem, BackupResult, backup

__all__ = ["BackupProblem", "BackupResult", "backup"]
