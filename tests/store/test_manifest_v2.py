"""Manifest pages version 2 (formats/manifest.md): any record round-trips through both page versions, pages
say their version, leaves are cut by bytes, and new keys at the end of the tree touch only its last pages."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.errors import IntegrityError, UnsupportedVersion
from archiver.model import MessageRecord
from archiver.store import codec, manifest
from archiver.store.manifest import Page, build_tree, decode_page, iter_records, leaf_weight, lookup
from archiver.threads import root_key

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
small = st.integers(min_value=-(2**40), max_value=2**40)
u64 = st.one_of(st.none(), st.integers(min_value=0, max_value=2**64 - 1))


@st.composite
def records(draw: st.DrawFn) -> list[MessageRecord]:
    keys = draw(st.lists(st.one_of(text, st.integers(0, 2**70).map(lambda n: f"n:{n:010d}"),
                                   st.integers(0, 2**64).map(lambda n: f"gm:{n}")), unique=True, max_size=60))
    out = []
    threads: list[str] = []
    for key in sorted(keys):
        gm = draw(u64)
        if key.startswith("gm:") and draw(st.booleans()):
            gm = int(key[3:]) if int(key[3:]) < 2**64 else gm
        thr = draw(st.one_of(u64, st.just(gm)))
        mid = draw(st.one_of(st.none(), text, st.integers(0, 99).map(lambda i: f"<{i}@x>")))
        choices = [text, st.sampled_from(["r:" + "0123456789abcdef", "r:0123", "r:" + "A" * 16])]
        if thr is not None:
            choices.append(st.just(str(thr)))
        if threads:
            choices.append(st.sampled_from(threads))
        if mid:
            choices.append(st.just(root_key(mid.strip("<>"))))
        thread = draw(st.one_of(*choices))
        threads.append(thread)
        blob = draw(st.one_of(st.integers(0, 2**256 - 1).map(lambda n: f"{n:064x}"), text))
        folders = draw(st.lists(st.tuples(st.sampled_from(["INBOX", "Work", "ü"]),
                                          st.integers(0, 2**32 - 1)), max_size=3, unique=True))
        out.append(MessageRecord(
            key=key, blob_id=blob, size=draw(st.integers(0, 2**40)), internaldate=draw(small),
            tz_minutes=draw(st.integers(-1440, 1440)),
            flags=tuple(sorted(draw(st.sets(st.sampled_from(["\\Seen", "\\Flagged", "$x", "ä"]))))),
            labels=tuple(sorted(draw(st.sets(text, max_size=3)))), thread_id=thread, message_id=mid,
            uids=tuple(sorted(folders)), gm_msgid=gm, gm_thrid=thr))
    return out


@settings(max_examples=200, deadline=None)
@given(records(), st.sampled_from([1, 2]))
def test_any_records_round_trip_in_both_versions(recs: list[MessageRecord], version: int) -> None:
    pages: dict[str, bytes] = {}
    root = build_tree(recs, pages.__setitem__, version=version)
    assert list(iter_records(root, pages.__getitem__)) == recs
    for pid, raw in pages.items():
        assert codec.sha256_hex(raw) == pid and decode_page(raw, pid).version == version

    def read(pid: str) -> Page:
        return decode_page(pages[pid], pid)

    for r in recs:
        assert lookup(root, r.key, read) == r


def _rec(i: int, labels: tuple[str, ...] = ("INBOX",)) -> MessageRecord:
    blob = hashlib.sha256(str(i).encode()).hexdigest()
    mid = f"<{i}.{blob[:10]}@example.org>"
    return MessageRecord(f"n:{i:010d}", blob, 1000 + i, 1_600_000_000 + 60 * i, 60, ("\\Seen",), labels,
                         root_key(mid.strip("<>")), mid, (("INBOX", i + 1),))


def test_leaves_are_cut_by_bytes() -> None:
    recs = [_rec(i) for i in range(3000)]
    pages: dict[str, bytes] = {}
    build_tree(recs, pages.__setitem__)
    leaves = [decode_page(raw, pid).records for pid, raw in pages.items() if decode_page(raw, pid).level == 0]
    weights = sorted(sum(leaf_weight(r) for r in leaf) for leaf in leaves)
    assert len(leaves) > 10
    assert all(w >= manifest.LEAF_MIN_BYTES for w in weights[1:])  # all but the last leaf
    assert weights[-1] < manifest.MAX_BYTES


def test_appended_keys_touch_only_the_last_pages_and_a_relabel_one_leaf() -> None:
    recs = [_rec(i) for i in range(10_000)]
    before: dict[str, bytes] = {}
    root = build_tree(recs, before.__setitem__)
    height = decode_page(before[root], root).level + 1  # type: ignore[index]
    after: dict[str, bytes] = {}
    build_tree(recs + [_rec(i) for i in range(10_000, 10_100)], after.__setitem__)
    new = set(after) - set(before)
    leaves = sum(1 for p in new if decode_page(after[p], p).level == 0)
    assert leaves <= 4 and len(new) <= leaves + height  # 100 new records: a leaf or two, and the spine
    relabelled = list(recs)
    relabelled[5000] = _rec(5000, ("INBOX", "Work"))
    again: dict[str, bytes] = {}
    build_tree(relabelled, again.__setitem__)
    assert len(set(again) - set(before)) == height


def test_page_versions_are_told_apart() -> None:
    recs = [_rec(i) for i in range(50)]
    for version in (1, 2):
        pid, raw = manifest.encode_leaf(recs, version)
        assert decode_page(raw, pid).version == version and decode_page(raw, pid).records == tuple(recs)
    raw = codec.pack((3, 0, []))
    with pytest.raises(UnsupportedVersion, match="version 3"):
        decode_page(raw, codec.sha256_hex(raw))
    raw = codec.pack((2, 0, [[], [], [None, 0, ["k"]], b"\0" * 31, [1], [1], [0], [0], [0], [None], [None],
                             [[]], [None], [None]]))
    with pytest.raises(IntegrityError, match="malformed"):
        decode_page(raw, codec.sha256_hex(raw))


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.binary(max_size=40),
                    st.text(max_size=5))
junk = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 13), junk, st.sampled_from([0, 1]))
def test_a_malformed_column_is_an_integrity_error_naming_the_page(col: int, value: object,
                                                                  level: int) -> None:
    recs = [_rec(i, ("INBOX", "Work") if i % 3 else ("INBOX",)) for i in range(5)]
    recs[2] = MessageRecord(recs[2].key, recs[2].blob_id, 1, 2, 3, (), ("X",), "loose", None,
                            (("INBOX", 1), ("Work", 2)), 7, 8)
    if level == 0:
        columns = list(manifest.manifest_v2.encode_leaf(recs))
    else:
        columns = list(manifest.manifest_v2.encode_inner(["a", "b"], ["00" * 32, "11" * 32], [3, 4]))
    columns[col % len(columns)] = value
    raw = codec.pack((2, level, columns))
    pid = codec.sha256_hex(raw)
    try:
        decode_page(raw, pid)
    except IntegrityError as exc:
        assert pid[:12] in str(exc)
