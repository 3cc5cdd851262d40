"""``run``: every configured account (``jobs`` at a time, or one worker's ``shard`` of them): backup, forget,
prune, verify, then its hook.

One account's failure never stops the others.  Each step's outcome is a :class:`StepResult` (status, exit
code, duration, key figures); an account's exit code is its worst step's, the run's the worst account's
(order in :data:`SEVERITY`).  A second ``run`` of the same account while one is still going is skipped
(exit 11) unless ``wait``; so is an account whose archive another writer holds.  Accounts running at once
share :class:`~archiver.runner.limits.Limits`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import logging
import logging.handlers
import os
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.config import AccountConfig, Config, state_dir
from archiver.errors import ArchiveLocked, ArchiveNotFound, ArchiverError, DamageFound, UsageError
from archiver.ops.backup import backup
from archiver.ops.retention import RetentionPolicy, forget, prune
from archiver.ops.verify import verify
from archiver.remote import merge_s3_defaults
from archiver.runner.credentials import account_credentials
from archiver.runner.hooks import run_hook
from archiver.runner.jobs import LogProgress, run_all, tagged
from archiver.runner.limits import Limits
from archiver.runner.shard import Shard, select
from archiver.runner.state import AccountState, due, load_state, private_dir, save_state, state_file
from archiver.store import Archive

log = logging.getLogger("archiver.run")

SEVERITY: tuple[int, ...] = (0, 3, 11, 1, 2, 10, 12, 13, 130)
"""Exit codes from best to worst: ok, partial, locked, error, usage, no archive, auth, damage, interrupted."""
LOG_BYTES = 1 << 20
LOG_KEEP = 5
WAIT_POLL = 5.0


def worst(codes: Sequence[int]) -> int:
    """The worst of ``codes`` by :data:`SEVERITY` (an unknown code counts as an error)."""
    def rank(code: int) -> int:
        return SEVERITY.index(code) if code in SEVERITY else SEVERITY.index(1)
    return max(codes, key=rank, default=0)


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of one account: ``status`` is ok, partial, failed or skipped (``message`` says why)."""

    step: str
    status: str
    exit_code: int = 0
    duration: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    hint: str | None = None


@dataclass(slots=True)
class AccountResult:
    """What ``run`` did for one config account."""

    name: str
    archive: Path | str
    steps: list[StepResult] = field(default_factory=list)
    duration: float = 0.0
    locked: bool = False

    @property
    def exit_code(self) -> int:
        return worst([s.exit_code for s in self.steps])

    @property
    def failed_step(self) -> StepResult | None:
        """The first step that did not succeed (partial, failed, or the lock that skipped the account)."""
        return next((s for s in self.steps if s.exit_code != 0), None)

    @property
    def status(self) -> str:
        if self.locked:
            return "locked"
        code = self.exit_code
        return "ok" if code == 0 else "partial" if code == 3 else "failed"

    def summary(self) -> str:
        """One line: the status, then each step that ran with its key figure."""
        parts = [_step_text(s) for s in self.steps if s.step not in ("on_failure", "on_success")]
        return f"{self.status}: " + "; ".join(p for p in parts if p)


@dataclass(slots=True)
class RunReport:
    accounts: list[AccountResult]
    duration: float
    log_file: Path | None
    jobs: int = 1
    shard: Shard | None = None
    """The worker's share (None: every account); ``accounts`` are the ones it owns."""
    configured: int = 0
    """How many accounts the config (or the names given) held before the shard took its share."""

    @property
    def exit_code(self) -> int:
        return worst([a.exit_code for a in self.accounts])


def _step_text(s: StepResult) -> str:
    f = s.figures
    if s.status in ("failed", "partial") and s.step != "backup":
        return f"{s.step} {s.status.upper()} (exit {s.exit_code}): {s.message}"
    if s.status == "skipped":
        return s.message if s.step == "lock" or s.exit_code else f"{s.step} skipped ({s.message})"
    if s.step == "backup":
        head = (f"backup {f.get('snapshot', '')[:8]} {f.get('messages', 0)} messages, {f.get('new', 0)} "
                f"new, {f.get('bytes_downloaded', 0):,} bytes in {s.duration:.1f}s")
        if s.status == "failed":
            return f"backup FAILED (exit {s.exit_code}): {s.message}"
        return head + (f" PARTIAL: {s.message}" if s.status == "partial" else "")
    if s.step == "forget":
        return f"forget {f['forgotten']} of {f['forgotten'] + f['kept']} snapshots"
    if s.step == "prune":
        return f"prune {f['bytes_before'] - f['bytes_after']:,} bytes freed"
    if s.step == "verify":
        what = (f"slice {f['subset']}" if f.get("subset")
                else "all data" if f.get("read_data") else "structure")
        return f"verify {what} ok ({f['bytes_read']:,} bytes read in {s.duration:.1f}s)"
    return f"{s.step} {s.status}"


# -- steps ------------------------------------------------------------------------------------------


class _Step:
    """Times one step and turns its exception into a failed StepResult (never lets it escape)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.start = time.monotonic()

    def done(self, status: str = "ok", figures: dict[str, Any] | None = None, message: str = "",
             exit_code: int = 0) -> StepResult:
        return StepResult(self.name, status, exit_code, time.monotonic() - self.start, figures or {}, message)

    def failed(self, exc: BaseException) -> StepResult:
        if isinstance(exc, ArchiverError):
            code, message, hint = exc.exit_code, str(exc), exc.hint
        elif isinstance(exc, OSError):
            where = f": {exc.filename}" if exc.filename else ""
            code, message, hint = 1, f"{exc.strerror or exc}{where}", None
        else:
            log.error("%s: unexpected %s", self.name, type(exc).__name__, exc_info=exc)
            code, message, hint = 1, f"unexpected {type(exc).__name__}: {exc}", "please report this as a bug"
        return StepResult(self.name, "failed", code, time.monotonic() - self.start, {}, message, hint)


def _skipped(name: str, why: str) -> StepResult:
    return StepResult(name, "skipped", 0, 0.0, {}, why)


def _waiting(fn: Callable[[], Any], wait: bool) -> Any:
    """``fn()``; with ``wait``, again every few seconds while the archive is locked by someone else."""
    while True:
        try:
            return fn()
        except ArchiveLocked as exc:
            if not wait:
                raise
            log.info("waiting: %s", exc)
            time.sleep(WAIT_POLL)


def _backup_step(acct: AccountConfig, init: bool, wait: bool, clock: Callable[[], dt.datetime], limits: Limits
                 ) -> tuple[StepResult, str | None]:
    step = _Step("backup")
    try:
        creds = account_credentials(acct)
        with limits.backup(acct):
            r = _waiting(lambda: backup(acct.archive, acct.source, credentials=creds,
                                        include_spam=acct.include_spam, connections=acct.connections,
                                        clock=clock, init=init, progress=LogProgress(acct.name),
                                        cacert=str(acct.cacert) if acct.cacert else None), wait)
    except Exception as exc:
        return step.failed(exc), None
    figures = {"snapshot": r.snapshot, "account": r.account, "mode": r.mode, "messages": r.messages,
               "new": r.new, "changed": r.changed, "deleted": r.deleted,
               "bytes_downloaded": r.bytes_downloaded, "bytes_stored": r.bytes_stored, "complete": r.complete,
               "problems": len(r.problems)}
    if not r.complete:
        return step.done("partial", figures, f"{len(r.problems)} problem(s); the next run fetches what is "
                                             "missing", exit_code=3), r.account
    return step.done("ok", figures), r.account


def _forget_step(acct: AccountConfig, account: str | None, wait: bool, limits: Limits) -> StepResult:
    if not acct.retention:
        return _skipped("forget", "no keep_* rule")
    if account is None:
        return _skipped("forget", "no new snapshot")
    step = _Step("forget")
    try:
        policy = RetentionPolicy(**{k.removeprefix("keep_"): v for k, v in acct.retention.items()})
        with limits.exclusive(acct):
            r = _waiting(lambda: forget(Archive.open(acct.archive), policy, account=account), wait)
    except Exception as exc:
        return step.failed(exc)
    return step.done("ok", {"forgotten": len(r.forgotten), "kept": len(r.kept)})


def _prune_step(acct: AccountConfig, state: AccountState, now: dt.datetime, wait: bool, limits: Limits
                ) -> StepResult:
    policy = acct.prune
    threshold = policy.min_percent is not None or policy.min_bytes is not None
    if not threshold and not due(policy.every, state.when("prune"), now):
        last = state.when("prune")
        return _skipped("prune", f"{policy.every}; last {last:%Y-%m-%d}" if last else policy.every)
    step = _Step("prune")
    try:
        with limits.exclusive(acct):
            return _prune(acct, state, now, wait, step, threshold)
    except Exception as exc:
        return step.failed(exc)


def _prune(acct: AccountConfig, state: AccountState, now: dt.datetime, wait: bool, step: _Step,
           threshold: bool) -> StepResult:
    """The prune step with the archive held: a threshold policy first measures what a prune would free."""
    policy = acct.prune
    if threshold:
        plan = prune(Archive.open(acct.archive), dry_run=True)
        free = plan.bytes_before - plan.bytes_after
        pct = 100.0 * free / plan.bytes_before if plan.bytes_before else 0.0
        enough = (free >= policy.min_bytes if policy.min_bytes is not None
                  else pct >= (policy.min_percent or 0.0))
        if not enough:
            return step.done("skipped", {"reclaimable_bytes": free},
                             f"{free:,} bytes ({pct:.1f}%) reclaimable; prunes {policy.describe()}")
    p = _waiting(lambda: prune(Archive.open(acct.archive)), wait)
    state.last_prune = now.isoformat()
    return step.done("ok", {"packs_deleted": p.packs_deleted, "packs_repacked": p.packs_repacked,
                            "bytes_before": p.bytes_before, "bytes_after": p.bytes_after})


def _verify_step(acct: AccountConfig, state: AccountState, now: dt.datetime, limits: Limits) -> StepResult:
    if not due(acct.verify, state.when("verify"), now):
        return _skipped("verify", acct.verify)
    n = acct.verify_subset
    if state.verify_slices != n or not 1 <= state.verify_next <= max(n, 1):
        state.verify_slices, state.verify_next = n, 1
    subset = (state.verify_next, n) if n > 1 else None
    step = _Step("verify")
    try:
        with limits.reading(acct):
            report = verify(Archive.open(acct.archive), read_data=n >= 1, subset=subset)
    except Exception as exc:
        return step.failed(exc)
    # the slice was read whatever it found: the next run reads the next one
    state.verify_next = state.verify_next % n + 1 if n > 1 else 1
    state.last_verify = now.isoformat()
    figures = {"subset": f"{subset[0]}/{subset[1]}" if subset else None, "read_data": n >= 1,
               "snapshots": report.snapshots, "packs": report.packs, "packs_read": report.packs_read,
               "bytes_read": report.bytes_read, "damage": len(report.damage),
               "affected_messages": report.affected_count, "next_subset": f"{state.verify_next}/{n}" if n > 1
               else None}
    if not report.ok:
        damage = DamageFound(f"{len(report.damage)} damaged files or entries; "
                             f"{len(report.damaged_snapshots)} snapshots and {report.affected_count} "
                             "messages affected",
                             hint=f"gmail-archiver verify {acct.archive} --read-data --json lists them")
        return StepResult("verify", "failed", damage.exit_code, step.done().duration, figures, str(damage),
                          damage.hint)
    return step.done("ok", figures)


def _hook(acct: AccountConfig, result: AccountResult) -> StepResult | None:
    code = result.exit_code
    command, name = (acct.on_success, "on_success") if code == 0 else (acct.on_failure, "on_failure")
    if not command:
        return None
    failed = result.failed_step
    step = _Step(name)
    status, why = run_hook(command, {
        "account": acct.name, "archive": str(acct.archive), "status": result.status, "exit_code": str(code),
        "failed_step": failed.step if failed else "", "error": failed.message if failed else "",
        "hint": (failed.hint or "") if failed else "", "summary": result.summary()})
    if status != 0:
        return step.done("failed", {"hook_exit": status}, f"{name} hook failed: {why}", exit_code=1)
    return step.done("ok")


# -- the per-account lock ---------------------------------------------------------------------------


@contextlib.contextmanager
def _run_lock(root: Path, acct: AccountConfig, wait: bool) -> Iterator[bool]:
    """Holds the account's lock file under the state dir; yields False when busy and not ``wait``."""
    path = state_file(root, acct.name).with_suffix(".lock")
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        yield True
    finally:
        os.close(fd)


def _holder(root: Path, acct: AccountConfig) -> str:
    try:
        return state_file(root, acct.name).with_suffix(".lock").read_text().strip() or "another process"
    except OSError:
        return "another process"


def run_account(acct: AccountConfig, *, init: bool = False, wait: bool = False,
                clock: Callable[[], dt.datetime] | None = None, state_root: Path | None = None,
                limits: Limits | None = None) -> AccountResult:
    """Back up, forget, prune and verify one account, then run its hook; never raises for a step's failure.

    ``limits`` are shared with the accounts running at the same time in this process (``run --jobs``).
    """
    clock = clock or (lambda: dt.datetime.now(dt.UTC))
    root = state_root or state_dir()
    result = AccountResult(acct.name, acct.archive)
    start = time.monotonic()
    try:
        _run_locked(acct, result, init, wait, clock, root, limits or Limits())
    except Exception as exc:  # a bug: this account fails, the others still run
        result.steps.append(_Step("run").failed(exc))
    result.duration = time.monotonic() - start
    log.info("%s: exit %d, %s", acct.name, result.exit_code, result.summary())
    return result


def _run_locked(acct: AccountConfig, result: AccountResult, init: bool, wait: bool,
                clock: Callable[[], dt.datetime], root: Path, limits: Limits) -> None:
    with _run_lock(root, acct, wait) as held:
        if not held:
            result.locked = True
            result.steps.append(StepResult("lock", "skipped", ArchiveLocked.exit_code, 0.0, {},
                                           f"skipped: another run of this account is going on "
                                           f"({_holder(root, acct)})", "wait for it, or run with --wait"))
        else:
            _run_steps(acct, result, init, wait, clock, root, limits)
    if not result.locked:
        hook = _hook(acct, result)
        if hook is not None:
            result.steps.append(hook)


def _run_steps(acct: AccountConfig, result: AccountResult, init: bool, wait: bool,
               clock: Callable[[], dt.datetime], root: Path, limits: Limits) -> None:
    path = state_file(root, acct.name)
    state = load_state(path)
    log.info("%s: backup of %s into %s", acct.name, acct.source, acct.archive)
    step, account = _backup_step(acct, init, wait, clock, limits)
    result.steps.append(step)
    log.info("%s: %s", acct.name, _step_text(step))
    if step.exit_code == ArchiveLocked.exit_code:  # another writer: skipped, not failed
        result.steps[-1] = dataclasses.replace(
            step, status="skipped", message=f"skipped: another backup of this account is running "
                                            f"({step.message})")
        result.locked = True
        return
    if step.exit_code == ArchiveNotFound.exit_code and not init:
        result.steps[-1] = dataclasses.replace(
            step, hint=f"the first run creates it: gmail-archiver run --init {shlex.quote(acct.name)}")
    if step.exit_code in (ArchiveNotFound.exit_code, UsageError.exit_code):
        for name in ("forget", "prune", "verify"):
            result.steps.append(_skipped(name, "backup failed"))
        return

    def add(s: StepResult) -> None:
        result.steps.append(s)
        log.info("%s: %s (%.1fs)", acct.name, _step_text(s), s.duration)

    add(_forget_step(acct, account, wait, limits))
    add(_prune_step(acct, state, clock(), wait, limits) if account is not None
        else _skipped("prune", "backup failed"))
    add(_verify_step(acct, state, clock(), limits))
    save_state(path, state)


@contextlib.contextmanager
def _log_to(path: Path | None) -> Iterator[None]:
    """Attach a rotating log file to the ``archiver`` logger (INFO) for the duration of the run; every
    handler of that logger tags a line logged for an account with its name."""
    if path is None:
        with tagged(logging.getLogger("archiver").handlers):
            yield
        return
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))  # 0600 before the first line
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_KEEP,
                                                   encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("archiver")
    old_level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        with tagged(logger.handlers):
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        handler.close()


def run_accounts(config: Config, names: Sequence[str] = (), *, init: bool = False, wait: bool = False,
                 log_file: Path | bool | None = True, clock: Callable[[], dt.datetime] | None = None,
                 state_root: Path | None = None,
                 on_account: Callable[[AccountResult], None] | None = None, jobs: int = 1,
                 shard: Shard | None = None) -> RunReport:
    """Run every account of ``config`` (or those in ``names``, in that order), ``jobs`` at a time.

    ``shard`` keeps the accounts that worker owns (:mod:`archiver.runner.shard`).  ``log_file``: True logs
    to ``<state dir>/run.log`` (rotated at 1 MiB, 5 kept), a path logs there, None or False not at all.
    ``on_account`` is called as each account finishes, one call at a time (the CLI prints its line); the
    report lists the accounts in their order.  UsageError for a name the config lacks or ``jobs`` < 1, before
    anything runs.
    """
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: at least 1 account at a time", hint="use --jobs 1 or more")
    root = state_root or state_dir()
    merge_s3_defaults(config.s3.endpoint, config.s3.region, config.s3.path_style)  # [s3] of the config
    chosen = list(config.accounts)
    if names:
        unknown = [n for n in names if n not in config.names()]
        if unknown:
            raise UsageError(f"{config.path}: no account named {', '.join(map(repr, unknown))}",
                             hint=f"the accounts are: {', '.join(config.names())}")
        chosen = [config.account(n) for n in names]
    configured = len(chosen)
    if shard is not None:
        mine = set(select([a.name for a in chosen], shard))
        chosen = [a for a in chosen if a.name in mine]
    path = root / "run.log" if log_file is True else (log_file or None)
    start = time.monotonic()
    limits = Limits()
    with _log_to(path):
        log.info("run of %d account(s) from %s, %d at a time%s", len(chosen), config.path, jobs,
                 f", shard {shard}: {len(chosen)} of {configured}" if shard else "")
        results = run_all(chosen, jobs, lambda a: a.name,
                          lambda a: run_account(a, init=init, wait=wait, clock=clock, state_root=root,
                                                limits=limits), on_account)
        report = RunReport(results, time.monotonic() - start, path, jobs, shard, configured)
        log.info("run finished in %.1fs, exit %d", report.duration, report.exit_code)
    return report
