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
from dataclasses import dataclass, field, replace

from archiver.errors import IntegrityError, UnsupportedVersion, UsageError
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
from archiver.store.snapio import load_snapshot, salvage_snapshot
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
    damaged: dict[str, str] = field(default_factory=dict)
    """Readable snapshots whose manifest is damaged (id -> why): no rule keeps them, so they are in
    ``forgotten`` (unless they are all their account has: then kept, with the reason "damaged")."""
    unreadable: dict[str, str] = field(default_factory=dict)
    """Unreadable snapshot records forgotten (id -> why); they have no ``SnapshotInfo``."""
    left_unreadable: dict[str, str] = field(default_factory=dict)
    """Unreadable records left alone (id -> why): of an unknown version, or maybe of another account."""

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
    then optionally prune.  Holds the exclusive lock throughout.

    Damaged snapshots are not kept: a snapshot whose manifest cannot be read takes no part in the rules and
    is forgotten (``ForgetResult.damaged``), unless its account has no readable snapshot at all; an
    unreadable record is forgotten too (``unreadable``) when it is damaged and not possibly another
    account's, and left alone when it has an unknown version (``left_unreadable``).
    """
    progress = progress or NullProgress()
    with archive.exclusive_lock():
        infos = archive.snapshots(account)
        damaged = archive.manifest_damage(i.id for i in infos)
        sound = [i for i in infos if i.id not in damaged]
        decision = apply_policy(sound, policy, tz)
        readable_accounts = {i.account for i in sound}
        spared = [i for i in infos if i.id in damaged and i.account not in readable_accounts]
        doomed = [i for i in infos if i.id in damaged and i.account in readable_accounts]
        reasons = {**decision.reasons, **{i.id: ("damaged: the account's only snapshots",) for i in spared}}
        decision = PolicyDecision(keep=tuple(sorted((*decision.keep, *spared), key=_order)),
                                  forget=tuple(sorted((*decision.forget, *doomed), key=_order)),
                                  reasons=reasons)
        gone_unreadable, left = _unreadable_to_forget(archive, account, readable_accounts)
        result = ForgetResult(dry_run, decision, None, {i.id: damaged[i.id] for i in doomed},
                              gone_unreadable, left)
        return _carry_out(archive, result, prune, progress)


def _unreadable_to_forget(archive: Archive, account: str | None, readable_accounts: set[str]
                          ) -> tuple[dict[str, str], dict[str, str]]:
    """Split the unreadable records (of ``account``, or all) into those a keep policy forgets (damaged,
    and their account, as far as their bytes tell, still has a readable snapshot) and those left alone."""
    gone: dict[str, str] = {}
    left: dict[str, str] = {}
    for sid, why in archive.unreadable_of(account).items():
        try:
            load_snapshot(archive.backend, sid)
        except UnsupportedVersion:
            left[sid] = why
            continue
        except IntegrityError:
            pass
        claim = salvage_snapshot(archive.backend, sid)
        if claim is not None and claim.account not in readable_accounts:
            left[sid] = why
        elif claim is None and (account is not None or not readable_accounts):
            left[sid] = why  # whose it is cannot be told
        else:
            gone[sid] = why
    return gone, left


def forget_snapshots(archive: Archive, snapshot_ids: Sequence[str], *, dry_run: bool = False,
                     prune: bool = False, progress: Progress | None = None) -> ForgetResult:
    """Forget the given snapshots (each an id prefix of at least 4 hex digits naming exactly one record),
    readable or not: the way out when a damaged snapshot blocks prune.  Holds the exclusive lock; each
    record is removed durably, one after another, so an interrupted run leaves the others (run it again).
    UsageError when a prefix matches no record or several."""
    progress = progress or NullProgress()
    if not snapshot_ids:
        raise UsageError("no snapshot given", hint="`gmail-archiver snapshots ARCHIVE` lists them")
    with archive.exclusive_lock():
        all_ids = archive.snapshot_ids()
        infos = {i.id: i for i in archive.snapshots()}
        chosen: list[str] = []
        for given in snapshot_ids:
            spec = given.lower()
            if len(spec) < 4 or any(c not in "0123456789abcdef" for c in spec):
                raise UsageError(f"{given!r} is not a snapshot id prefix (4 or more hex digits)")
            hits = [sid for sid in all_ids if sid.startswith(spec)]
            if len(hits) != 1:
                what = "no snapshot" if not hits else f"{len(hits)} snapshots"
                raise UsageError(f"{what} of the archive match {spec!r}",
                                 hint="`gmail-archiver snapshots ARCHIVE` lists them")
            if hits[0] not in chosen:
                chosen.append(hits[0])
        unreadable = {sid: archive.unreadable_snapshots.get(sid, "unreadable") for sid in chosen
                      if sid not in infos}
        decision = PolicyDecision(keep=(), forget=tuple(sorted((infos[s] for s in chosen if s in infos),
                                                               key=_order)))
        damaged = archive.manifest_damage(s.id for s in decision.forget)
        result = ForgetResult(dry_run, decision, None, damaged, unreadable)
        return _carry_out(archive, result, prune, progress)


def _carry_out(archive: Archive, result: ForgetResult, prune: bool, progress: Progress) -> ForgetResult:
    """Delete the records ``result`` forgets (or, dry run, plan the prune that would follow); lock held."""
    doomed = [*(s.id for s in result.forgotten), *result.unreadable]
    if result.dry_run:
        planned = _prune_locked(archive, True, progress, frozenset(doomed)) if prune else None
        return replace(result, prune=planned)
    progress.start("forget", total=len(doomed), unit="snapshot")
    for sid in doomed:
        delete_snapshot(archive.layout, sid)
        progress.advance()
    progress.finish()
    log.info("forgot %d snapshots, kept %d", len(doomed), len(result.kept))
    return replace(result, prune=_prune_locked(archive, False, progress) if prune else None)
