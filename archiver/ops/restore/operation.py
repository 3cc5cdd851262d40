"""Restore a snapshot (whole or filtered) to Gmail or any IMAP server, honest about what the server keeps.

The run: open the archive, pick the snapshot's messages (labels, INTERNALDATE range), connect, survey the
target, plan (``restore_plan``), act (``restore_gmail`` / ``restore_generic``).  The first connection is
not retried: a refused port, an unknown host or a wrong password reach the user at once, as in backup.  Once
a session was established, a dropped connection or throttling backs off, reconnects, re-surveys and
re-plans: what was confirmed (and journalled) is not sent again, so an interrupted restore resumes without
duplicates.  See gmail-imap.md 4.4 for why Gmail needs the
survey (silent de-duplication by Message-ID).
"""

from __future__ import annotations

import datetime as _dt
import errno
import logging
import os
import re
from collections.abc import Iterable, Sequence

from archiver.errors import ArchiverError, Cancelled, ConnectionLost, Throttled, UsageError
from archiver.filters import MessageFilter
from archiver.imap import Credentials, RetryPolicy, ServerOptions, Session
from archiver.model import MessageRecord
from archiver.ops.restore.executor import RunContext
from archiver.ops.restore.generic import run_generic
from archiver.ops.restore.gmail import run_gmail
from archiver.ops.restore.options import POLICIES, RestoreOptions
from archiver.ops.restore.plan import select
from archiver.ops.restore.result import PlannedAction, RestoreProblem, RestoreResult
from archiver.ops.restore.rewrite import has_empty_level, valid_label
from archiver.ops.restore.survey import journal_name, read_journal
from archiver.progress import NullProgress, Progress
from archiver.store import Archive, Journal

log = logging.getLogger(__name__)
_HEX_ID = re.compile(r"^[0-9a-f]{4,64}$")
"""An id prefix: names one snapshot, so of one account (``Archive.resolve``)."""
DEFAULT_CONNECTIONS = 4
"""Upload connections to a non-Gmail target (Dovecot runs one process per connection)."""


def restore(archive_path: str | os.PathLike[str], target_url: str, *, snapshot: str = "latest",
            labels: Sequence[str] | None = None, since: _dt.datetime | None = None,
            until: _dt.datetime | None = None, dry_run: bool = False, credentials: Credentials,
            policy: str = "rewrite-message-id", max_upload_bytes_per_day: int | None = None,
            default_folder: str = "INBOX", cacert: str | None = None, insecure: bool = False,
            retry: RetryPolicy | None = None, progress: Progress | None = None,
            connections: int = DEFAULT_CONNECTIONS, account: str | None = None,
            keys: Iterable[str] | None = None) -> RestoreResult:
    """Restore one snapshot of ``archive_path`` into ``target_url``; per-message problems are in the result.

    ``policy`` decides what happens to a message whose Message-ID the target holds with other content (Gmail
    would silently drop it): ``rewrite-message-id`` (upload with ``<restored.<blob16>.<original>>`` and the
    original in ``X-Archiver-Original-Message-ID``), ``skip`` (report only) or ``force`` (upload as is,
    report the drop).  ``connections``: non-Gmail targets upload over this many connections side by side
    (fewer if the server refuses more; Gmail's uploads keep one).  ``since`` is inclusive, ``until``
    exclusive.  ``retry``: back-off between reconnects (``max_attempts`` counts attempts in a row that
    confirmed nothing).  ``account``: whose snapshot (``user@host``); needed with ``latest`` or a time when
    the archive holds several accounts, unless exactly one of them has the target's user.  ``keys``: only
    these messages (the answer of a search query).  Raises UsageError, ArchiveNotFound, AuthError,
    ConnectionLost/Throttled (after retries without progress).
    """
    options = RestoreOptions(snapshot=snapshot, where=MessageFilter.of(labels, since, until, keys=keys),
                             dry_run=dry_run,
                             policy=policy, max_upload_bytes_per_day=max_upload_bytes_per_day,
                             default_folder=default_folder, account=account)
    if connections < 1:
        raise UsageError("--connections must be at least 1")
    server = ServerOptions.from_url(target_url, credentials, cacert=cacert, insecure=insecure, retry=retry,
                                    connections=connections)
    return run_restore(archive_path, server, options, progress)


def run_restore(archive_path: str | os.PathLike[str], server: ServerOptions, options: RestoreOptions,
                progress: Progress | None = None) -> RestoreResult:
    """``restore`` with its options as objects (what the library's internals pass around)."""
    archive = Archive.open(archive_path)
    try:
        return _run(archive, server, options, progress or NullProgress())
    finally:
        archive.close()


def _run(archive: Archive, server: ServerOptions, options: RestoreOptions,
         progress: Progress) -> RestoreResult:
    """Connect once (failures raised as they are), then run; after a drop, reconnect and run again.

    Not ``imap.retry.Reconnecting``: its ``run`` counts every retry of one operation against
    ``max_attempts`` and also retries the very first connection, while a restore is one hours-long
    operation that must keep going after any number of drops as long as each attempt confirmed something
    (``fruitless`` resets on progress), and whose every attempt re-surveys the target rather than repeating
    one command on a re-selected folder.
    """
    endpoint, retry, dry_run, where = server.endpoint, server.retry, options.dry_run, options.where
    info = archive.resolve(options.snapshot,
                           source_account(archive, options.snapshot, options.account, endpoint.user))
    snap = archive.load(info.id)
    seen: set[str] = set()
    records = select(snap, where, seen if where.labels else None)
    log.info("restoring %d messages of snapshot %s to %s%s", len(records), info.id[:8], endpoint.display(),
             " (dry run)" if dry_run else "")
    journal = archive.journal(journal_name(f"{endpoint.user}@{endpoint.host}:{endpoint.port}"))
    if not dry_run:
        _check_writable(journal)
    hits, uploads, intents = read_journal(journal)
    result = RestoreResult(snapshot=info.id, account=info.account, target=endpoint.display(), dry_run=dry_run,
                           selected=len(records), warnings=where.warnings(seen),
                           renamed={lb: valid_label(lb) for r in records for lb in r.labels
                                    if has_empty_level(lb)})
    ctx = RunContext(archive=archive, snapshot=snap, journal=journal, journal_hits=hits, upload_log=uploads,
                     result=result, progress=progress, options=options, intents=intents,
                     connections=server.connections, open_session=lambda: _extra(server, progress))
    session: Session | None = server.connect()  # the first connection: errors go to the user
    fruitless = 0
    while True:
        mark = len(ctx.finished)
        try:
            if session is None:
                session = server.connect()
            session.on_throttle = lambda text: _slow_down(text, retry, progress)
            try:
                todo = [r for r in records if r.key not in ctx.finished]
                if todo or dry_run:
                    (run_gmail if session.is_gmail else run_generic)(session, ctx, todo)
                elif ctx.intents.watched() and not session.is_gmail:  # late copies of an interrupted run
                    run_generic(session, ctx, [])
            except KeyboardInterrupt as stop:   # Ctrl-C, or SIGTERM (the CLI maps it by the cause)
                session.abort()   # no LOGOUT: it would wait for answers to commands still under way
                session = None
                raise Cancelled(f"restore interrupted: {_so_far(ctx, records)}",
                                hint="run the same restore again: it resumes and sends nothing twice"
                                ) from stop
            except BaseException:
                session.logout()
                session = None
                raise
            session.logout()
            session = None
            log.info("restore of snapshot %s to %s: %d selected, %d uploaded, %d already present, %d failed",
                     info.id[:8], result.target, len(records), result.uploaded, result.already_present,
                     len(result.failed))
            return result
        except (ConnectionLost, Throttled) as exc:
            if not dry_run and isinstance(exc, Throttled) and _is_quota(exc) and result.stopped is None:
                # the mailbox is full or the upload quota spent: no retry gets through.  One more attempt
                # uploads nothing: it confirms what was sent and counts the rest as left (exit 3)
                result.stopped = (f"the server refused further uploads ({exc}): free space or wait for "
                                  "the quota, then run the same restore again for what is left")
                progress.note(result.stopped)
                continue
            fruitless = 0 if len(ctx.finished) > mark else fruitless + 1
            if dry_run or fruitless >= retry.max_attempts:
                raise
            result.reconnects += 1
            delay = retry.delay(max(1, fruitless), throttled=isinstance(exc, Throttled))
            progress.note(f"{exc}; reconnecting in {delay:.1f} s "
                          f"({len(ctx.finished)} of {len(records)} done)")
            retry.sleep(delay)


def _check_writable(journal: Journal) -> None:
    """Fail before the first upload, not after it, when the restore journal cannot be written (a read-only
    archive): without it an interrupted run could not know what it had sent."""
    path = journal.path
    try:
        if path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        elif not os.access(path.parent, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path.parent))
    except OSError as exc:
        raise ArchiverError(
            f"cannot write the restore journal {path} ({exc.strerror or exc}): restore records each "
            "confirmed upload there, so that a re-run sends nothing twice; nothing was uploaded",
            hint="make the archive writable (or restore from a writable copy); --dry-run works read-only",
        ) from None


def _is_quota(exc: Throttled) -> bool:
    """``NO [OVERQUOTA]`` (or Dovecot's quota text) answering an APPEND: no retry will get it through."""
    text = str(exc).upper()
    return "(APPEND)" in text and ("OVERQUOTA" in text or "QUOTA EXCEEDED" in text)


def _so_far(ctx: RunContext, records: Sequence[MessageRecord]) -> str:
    r = ctx.result
    return (f"of {len(records)} messages, {r.uploaded} uploaded, {r.relabelled} relabelled, "
            f"{r.already_present} already present, {len(r.failed)} failed so far (each confirmed one "
            "journalled); the others are not restored yet")


def source_account(archive: Archive, spec: str, account: str | None, user: str) -> str | None:
    """The account whose snapshot ``spec`` names: ``account`` if given; else, when ``spec`` (latest, a
    time) would pick among several accounts, the one whose user is the target's (UsageError naming them
    all unless exactly one matches)."""
    if account is not None or _HEX_ID.match(spec):
        return account
    names = archive.accounts()
    if len(names) <= 1:
        return None
    mine = [a for a in names if _user_of(a) == user.lower()]
    if len(mine) != 1:
        mine = [a for a in names if _user_of(a).split("@")[0] == user.lower().split("@")[0]]
    if len(mine) == 1:
        return mine[0]
    raise UsageError(f"the archive holds {len(names)} accounts ({', '.join(names)}) and "
                     f"{'none' if not mine else 'more than one'} of them is the target's user {user!r}: "
                     "restoring 'latest' could upload another account's mail",
                     hint=f"add --account {names[0]} (or another of them), or name a snapshot id")


def _user_of(account: str) -> str:
    """The user part of ``user@host`` (the user may itself hold an ``@``), lowercased."""
    return account.rsplit("@", 1)[0].lower()


def _extra(server: ServerOptions, progress: Progress) -> Session:
    """One more connection for a parallel upload stream (throttling slows it down like the first)."""
    session = server.connect()
    session.on_throttle = lambda text: _slow_down(text, server.retry, progress)
    return session


def _slow_down(text: str, retry: RetryPolicy, progress: Progress) -> None:
    """A command succeeded but the server says it is throttling (``OK ... [THROTTLED]``): pause a little."""
    progress.note(f"server is throttling ({text}); pausing {retry.throttle_pause:.1f} s")
    retry.sleep(retry.throttle_pause)


__all__ = ["POLICIES", "PlannedAction", "RestoreProblem", "RestoreResult", "restore"]
