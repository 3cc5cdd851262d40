"""diff_snapshots (a one-pass merge by key) against a dictionary-based reference, on random snapshot pairs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.model import MessageRecord, SnapshotInfo
from archiver.ops.query import diff_snapshots

INFO = SnapshotInfo(id="0" * 64, account="a@x", time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), message_count=0)


@dataclass
class Fake:
    """Just what diff_snapshots reads from a SnapshotView: iteration in key order and ``info``."""

    records: list[MessageRecord]
    info: SnapshotInfo = INFO

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self.records, key=lambda r: r.key))


def rec(key: int, labels: frozenset[str], flags: frozenset[str]) -> MessageRecord:
    return MessageRecord(key=f"gm:{key:03d}", blob_id="b", size=1, internaldate=0, tz_minutes=0,
                         flags=tuple(sorted(flags)), labels=tuple(sorted(labels)), thread_id="t",
                         message_id=None)


sides = st.dictionaries(st.integers(0, 40), st.tuples(st.frozensets(st.sampled_from("ABC")),
                                                       st.frozensets(st.sampled_from(["\\Seen", "F"]))))


@settings(max_examples=300, deadline=None)
@given(sides, sides)
def test_diff_matches_reference(a: dict, b: dict) -> None:  # type: ignore[type-arg]
    ra = {k: rec(k, *v) for k, v in a.items()}
    rb = {k: rec(k, *v) for k, v in b.items()}
    d = diff_snapshots(Fake(list(ra.values())), Fake(list(rb.values())))  # type: ignore[arg-type]
    assert {r.key for r in d.added} == {x.key for k, x in rb.items() if k not in ra}
    assert {r.key for r in d.removed} == {x.key for k, x in ra.items() if k not in rb}
    both = ra.keys() & rb.keys()
    assert {c.key for c in d.relabelled} == {ra[k].key for k in both if ra[k].labels != rb[k].labels}
    assert {c.key for c in d.reflagged} == {ra[k].key for k in both if ra[k].flags != rb[k].flags}
    assert all(c.before == ra[int(c.key[3:])] and c.after == rb[int(c.key[3:])] for c in d.relabelled)
    assert d.empty == (a == b)
