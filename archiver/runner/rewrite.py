"""``rewrite``: change messages in place on the server, a backup first when the archive lacks any of them.

Above the operations (like ``run``) because it calls two of them: backup (so that the archive holds every
original before anything on the server changes) and the rewrite itself (``archiver.ops.rewrite``).
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Sequence

from archiver.errors import ArchiverError
from archiver.filters import MessageFilter
from archiver.imap import Credentials, RetryPolicy, ServerOptions
from archiver.ops.backup.operation import BackupOptions, run_backup
from archiver.ops.rewrite.operation import run_rewrite
from archiver.ops.rewrite.result import RewriteResult
from archiver.ops.rewrite.transform import Transform
from archiver.progress import NullProgress, Progress


def rewrite(archive_path: str | os.PathLike[str], source_url: str, transform: Transform | None = None, *,
            credentials: Credentials, undo: str | None = None, labels: Sequence[str] | None = None,
            since: _dt.datetime | None = None, until: _dt.datetime | None = None,
            keys: Iterable[str] | None = None, account: str | None = None, dry_run: bool = False,
            cacert: str | None = None, insecure: bool = False, retry: RetryPolicy | None = None,
            progress: Progress | None = None) -> RewriteResult:
    """Rewrite the selected messages of ``source_url`` with ``transform`` (``make_transform``), or with
    ``undo=RUN`` put that run's originals back.

    The account is backed up into ``archive_path`` first when the server holds messages its latest complete
    snapshot lacks.  Each replacement is journalled in the archive step by step: a run killed at any moment
    is finished by the next one (which runs first thing, whatever its selection), no message is left twice
    on the server or off it.  Per-message failures (the transform failed, Gmail would merge the new version)
    are in ``RewriteResult.failed``, the message untouched.  Raises UsageError, ArchiveNotFound, AuthError,
    CapabilityMissing (no UIDPLUS; no All Mail/Trash on Gmail), RemoteError/ConnectionLost (run again).
    """
    server = ServerOptions.from_url(source_url, credentials, cacert=cacert, insecure=insecure,
                                    retry=retry or RetryPolicy())
    bar = progress or NullProgress()

    def backup_first() -> str:
        result = run_backup(archive_path, server, BackupOptions(), bar)
        if not result.complete:
            raise ArchiverError(f"the backup before the rewrite is partial ({len(result.problems)} "
                                "problem(s)): the archive may not hold every original; nothing on the server "
                                "was changed",
                                hint="run `gmail-archiver backup` until it completes, then the rewrite")
        return result.snapshot

    where = MessageFilter.of(labels, since, until, account=account, keys=keys)
    return run_rewrite(archive_path, server, transform, where=where, undo=undo, dry_run=dry_run,
                       account=account, ensure_backup=backup_first, progress=bar)
