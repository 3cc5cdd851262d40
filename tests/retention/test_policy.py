"""Retention rules against a plain reference implementation (hypothesis), plus a few worked cases."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.errors import UsageError
from archiver.model import SnapshotInfo
from archiver.ops.retention import RULES, RetentionPolicy, apply_policy

T0 = dt.datetime(2023, 12, 25, tzinfo=dt.UTC)


def snap(i: int, minutes: int, account: str = "a@x", partial: bool = False) -> SnapshotInfo:
    return SnapshotInfo(id=f"{i:064x}", account=account, time=T0 + dt.timedelta(minutes=minutes),
                        message_count=0, partial=partial)


def ref_bucket(rule: str, s: SnapshotInfo, nr: int) -> object:
    t = s.time
    return {
        "last": lambda: nr,
        "hourly": lambda: t.strftime("%Y%m%d%H"),
        "daily": lambda: t.strftime("%Y%m%d"),
        "weekly": lambda: t.strftime("%G-%V"),
        "monthly": lambda: t.strftime("%Y%m"),
        "yearly": lambda: t.strftime("%Y"),
    }[rule]()


def reference(snaps: list[SnapshotInfo], policy: RetentionPolicy) -> set[str]:
    """Written differently on purpose: list buckets, take the newest of the first n, plus the oldest rule."""
    kept: set[str] = set()
    for account in {s.account for s in snaps}:
        mine = [s for s in snaps if s.account == account]
        complete = sorted((s for s in mine if not s.partial), key=lambda s: (s.time, s.id), reverse=True)
        for rule in RULES:
            n = getattr(policy, rule)
            if n == 0 or not complete:
                continue
            buckets: dict[object, SnapshotInfo] = {}
            for nr, s in enumerate(complete):
                buckets.setdefault(ref_bucket(rule, s, nr), s)
            firsts = list(buckets.values())
            kept.update(s.id for s in (firsts if n == -1 else firsts[:n]))
            before_oldest = {ref_bucket(rule, s, nr) for nr, s in enumerate(complete[:-1])}
            if n == -1 or len(before_oldest) < n:
                kept.add(complete[-1].id)
        newest = max((s.time for s in complete), default=None)
        kept.update(s.id for s in mine if s.partial and (newest is None or s.time >= newest))
    return kept


counts = st.integers(min_value=-1, max_value=4)
policies = st.builds(RetentionPolicy, last=counts, hourly=counts, daily=counts, weekly=counts,
                     monthly=counts, yearly=counts).filter(lambda p: not p.empty)
snapshot_lists = st.lists(
    st.tuples(st.integers(0, 3 * 366 * 24 * 60), st.sampled_from(["a@x", "b@y"]), st.booleans()),
    max_size=25,
).map(lambda xs: [snap(i, m, a, p) for i, (m, a, p) in enumerate(xs)])


@settings(max_examples=300, deadline=None)
@given(snapshot_lists, policies)
def test_policy_matches_reference(snaps: list[SnapshotInfo], policy: RetentionPolicy) -> None:
    decision = apply_policy(snaps, policy)
    assert {s.id for s in decision.keep} == reference(snaps, policy)
    assert {s.id for s in decision.keep} | {s.id for s in decision.forget} == {s.id for s in snaps}
    assert not {s.id for s in decision.keep} & {s.id for s in decision.forget}
    assert set(decision.reasons) == {s.id for s in decision.keep}


@settings(max_examples=100, deadline=None)
@given(snapshot_lists, st.integers(1, 5))
def test_keep_last_keeps_exactly_the_newest_complete(snaps: list[SnapshotInfo], n: int) -> None:
    only_complete = [s for s in snaps if not s.partial]
    kept = {s.id for s in apply_policy(only_complete, RetentionPolicy(last=n)).keep}
    for account in {s.account for s in only_complete}:
        mine = sorted((s for s in only_complete if s.account == account), key=lambda s: (s.time, s.id))
        assert {s.id for s in mine[-n:]} <= kept
        assert len(kept & {s.id for s in mine}) == min(n, len(mine))


def test_daily_keeps_newest_of_each_day_and_oldest_when_counts_remain() -> None:
    snaps = [snap(0, 60), snap(1, 120), snap(2, 24 * 60 + 5), snap(3, 24 * 60 + 50)]
    d = apply_policy(snaps, RetentionPolicy(daily=2))
    assert [s.id[-1] for s in d.keep] == ["1", "3"]
    d = apply_policy(snaps, RetentionPolicy(daily=3))
    assert [s.id[-1] for s in d.keep] == ["0", "1", "3"]  # only 2 days exist: the oldest is kept too


def test_checkpoint_forgotten_only_after_a_later_complete_snapshot() -> None:
    snaps = [snap(0, 0), snap(1, 10, partial=True), snap(2, 20), snap(3, 30, partial=True)]
    d = apply_policy(snaps, RetentionPolicy(last=5))
    assert [s.id[-1] for s in d.forget] == ["1"]
    assert d.reasons[snap(3, 30).id] == ("checkpoint",)


def test_empty_policy_refused() -> None:
    with pytest.raises(UsageError):
        apply_policy([snap(0, 0)], RetentionPolicy())
    with pytest.raises(UsageError):
        RetentionPolicy(daily=-2)
