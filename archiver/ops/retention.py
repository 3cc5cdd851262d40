"""Which snapshots to keep (``forget --keep-*``) and the forget/prune operations.

Policy semantics are restic's (``internal/restic/snapshot_policy.go``), per account:

- snapshots are walked newest first; each ``keep_*`` rule has a bucket function (``last``: every snapshot is
  its own bucket; ``hourly``: ``YYYYMMDDHH``; ``daily``: ``YYYYMMDD``; ``weekly``: ISO year and week;
  ``monthly``: ``YYYYMM``; ``yearly``: ``YYYY``) and a count; the first snapshot met in a bucket not seen
  before (the newest one of that bucket) is kept while the rule has counts left;
- as in restic, the oldest snapshot is kept too when a rule still has counts left at the end (so a short
  history is kept whole rather than cut at the last bucket boundary);
- a count of -1 means unlimited; 0 switches the rule off;
- buckets use UTC unless another time zone is passed.

Partial snapshots (checkpoints of an unfinished run) take no part in the rules: a checkpoint is forgotten
once a complete snapshot of the same account exists that is newer than it, and kept otherwise (it is the
point the next run resumes from).
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from archiver.errors import UsageError
from archiver.model import SnapshotInfo
from archiver.progress import NullProgress, Progress
from archiver.store import Archive
from archiver.store.maintenance import (
    clean_tmp,
    delete_snapshot,
    execute_prune,
    plan_prune,
    planned_bytes_after,
)
from archiver.store.stats import total_pack_bytes

log = logging.getLogger(__name__)
RULES: tuple[str, ...] = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How many snapshots to keep per rule (0: rule off, -1: unlimited)."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0

    def __post_init__(self) -> None:
        for rule in RULES:
            if getattr(self, rule) < -1:
                raise UsageError(f"--keep-{rule} must be -1 (unlimited), 0 (off) or a positive count")

    @property
    def empty(self) -> bool:
        return all(getattr(self, rule) == 0 for rule in RULES)


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """The outcome of a policy: snapshots kept (with the rules that kept each) and snapshots to forget."""

    keep: tuple[SnapshotInfo, ...]
    forget: tuple[SnapshotInfo, ...]
    reasons: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Snapshot id -> the rules that keep it (e.g. ``("daily", "last")``)."""


def _bucket(rule: str, tz: _dt.tzinfo) -> Callable[[SnapshotInfo, int], object]:
    def key(info: SnapshotInfo, nr: int) -> object:
        t = info.time.astimezone(tz)
        if rule == "last":
            return nr
        if rule == "hourly":
            return (t.year, t.month, t.day, t.hour)
        if rule == "daily":
            return (t.year, t.month, t.day)
        if rule == "weekly":
            iso = t.isocalendar()
            return (iso.year, iso.week)
        if rule == "monthly":
            return (t.year, t.month)
        return t.year

    return key


def _order(info: SnapshotInfo) -> tuple[_dt.datetime, str]:
    return (info.time, info.id)


def _apply_complete(snaps: Sequence[SnapshotInfo], policy: RetentionPolicy, tz: _dt.tzinfo,
                    reasons: dict[str, list[str]]) -> None:
    newest_first = sorted(snaps, key=_order, reverse=True)
    counts = {rule: getattr(policy, rule) for rule in RULES}
    last_seen: dict[str, object] = {}
    buckets = {rule: _bucket(rule, tz) for rule in RULES}
    for nr, info in enumerate(newest_first):
        oldest = nr == len(newest_first) - 1
        for rule in RULES:
            if counts[rule] == 0:
                continue
            val = buckets[rule](info, nr)
            if rule not in last_seen or val != last_seen[rule] or oldest:
                last_seen[rule] = val
                reasons.setdefault(info.id, []).append(rule)
                if counts[rule] > 0:
                    counts[rule] -= 1


def apply_policy(snapshots: Sequence[SnapshotInfo], policy: RetentionPolicy,
                 tz: _dt.tzinfo = _dt.UTC) -> PolicyDecision:
    """Split ``snapshots`` into kept and forgotten ones; pure (no I/O). UsageError for an empty policy."""
    if policy.empty:
        raise UsageError("no --keep-* rule given; refusing to forget every snapshot",
                         hint="e.g. --keep-daily 7 --keep-weekly 5")
    reasons: dict[str, list[str]] = {}
    accounts = sorted({s.account for s in snapshots})
    for account in accounts:
        mine = [s for s in snapshots if s.account == account]
        complete = [s for s in mine if not s.partial]
        _apply_complete(complete, policy, tz, reasons)
        newest_complete = max((s.time for s in complete), default=None)
        for s in mine:
            if s.partial and (newest_complete is None or s.time >= newest_complete):
                reasons.setdefault(s.id, []).append("checkpoint")
    ordered = sorted(snapshots, key=_order)
    keep = tuple(s for s in ordered if s.id in reasons)
    forget = tuple(s for s in ordered if s.id not in reasons)
    return PolicyDecision(keep=keep, forget=forget, reasons={k: tuple(v) for k, v in reasons.items()})


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What prune removed (or, with ``dry_run``, would remove)."""

    dry_run: bool
    packs_deleted: int
    packs_repacked: int
    packs_written: int
    entries_removed: int
    bytes_before: int
    bytes_after: int
    tmp_files_removed: int = 0


@dataclass(frozen=True, slots=True)
class ForgetResult:
    """The policy's decision, and the prune that followed it (``prune=True``)."""

    dry_run: bool
    decision: PolicyDecision
    prune: PruneResult | None = None

    @property
    def forgotten(self) -> tuple[SnapshotInfo, ...]:
        return self.decision.forget

    @property
    def kept(self) -> tuple[SnapshotInfo, ...]:
        return self.decision.keep


def _prune_locked(archive: Archive, dry_run: bool, progress: Progress,
                  ignore: frozenset[str] = frozenset()) -> PruneResult:
    layout = archive.layout
    progress.start("prune: find referenced data", total=None, unit="pack")
    plan = plan_prune(layout, ignore=ignore)
    progress.finish()
    if dry_run:
        return PruneResult(True, len(plan.delete), len(plan.repack), 0, plan.entries_removed,
                           plan.bytes_before, planned_bytes_after(layout, plan))
    progress.start("prune: repack and delete", total=None, unit="pack")
    written, _deleted = execute_prune(layout, plan)
    removed = clean_tmp(layout)
    progress.finish()
    log.info("prune: %d packs deleted, %d repacked into %d", len(plan.delete), len(plan.repack), written)
    return PruneResult(False, len(plan.delete), len(plan.repack), written, plan.entries_removed,
                       plan.bytes_before, total_pack_bytes(layout), removed)


def prune(archive: Archive, *, dry_run: bool = False, progress: Progress | None = None) -> PruneResult:
    """Delete data no snapshot references and repack mostly-empty packs, holding the exclusive lock.

    Safe to interrupt at any step (see ``archiver.store.maintenance``).  DamageFound on a damaged archive;
    ArchiveLocked while a backup runs.  Reopen ``archive`` afterwards: its cached index is out of date.
    """
    progress = progress or NullProgress()
    with archive.exclusive_lock():
        return _prune_locked(archive, dry_run, progress)


def forget(archive: Archive, policy: RetentionPolicy, *, dry_run: bool = False, prune: bool = False,
           account: str | None = None, tz: _dt.tzinfo = _dt.UTC, progress: Progress | None = None
           ) -> ForgetResult:
    """Remove the snapshot records ``policy`` does not keep (per account; ``account`` limits it to one),
    then optionally prune.  Holds the exclusive lock throughout."""
    progress = progress or NullProgress()
    with archive.exclusive_lock():
        decision = apply_policy(archive.snapshots(account), policy, tz)
        if dry_run:
            gone = frozenset(s.id for s in decision.forget)
            planned = _prune_locked(archive, True, progress, gone) if prune else None
            return ForgetResult(True, decision, planned)
        progress.start("forget", total=len(decision.forget), unit="snapshot")
        for info in decision.forget:
            delete_snapshot(archive.layout, info.id)
            progress.advance()
        progress.finish()
        log.info("forgot %d snapshots, kept %d", len(decision.forget), len(decision.keep))
        return ForgetResult(False, decision, _prune_locked(archive, False, progress) if prune else None)
