"""Property tests: blobs survive packing and index rebuilds; manifest trees round-trip and share pages."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.errors import UsageError
from archiver.model import MessageRecord
from archiver.store import Archive, writer
from archiver.store.index import load_index, rebuild_from_packs
from archiver.store.manifest import Page, build_tree, decode_page, iter_records, lookup
from tests.store.conftest import record

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(st.lists(st.binary(min_size=0, max_size=3000), max_size=40))
def test_any_blobs_round_trip_and_index_rebuilds(monkeypatch: pytest.MonkeyPatch,
                                                  bodies: list[bytes]) -> None:
    monkeypatch.setattr(writer, "PACK_TARGET", 4096)  # many small packs
    with tempfile.TemporaryDirectory() as tmp:
        archive = Archive.init(Path(tmp) / "a")
        with archive.writer("acct") as w:
            ids = [w.put_blob(b) for b in bodies]
        segments = load_index(archive.layout.index)
        rebuilt = rebuild_from_packs(archive.layout.packs)
        assert rebuilt.as_mapping() == segments.as_mapping()
        assert set(segments.blobs) == set(ids)
        assert sum(segments.packs.values()) == len(set(ids))  # each blob stored once
        fresh = Archive.open(archive.path)
        for bid, body in zip(ids, bodies, strict=True):
            assert fresh.get_blob(bid) == body
        assert dict(fresh.iter_blobs(ids)) == dict(zip(ids, bodies, strict=True))


def _tree(records: list[MessageRecord]) -> tuple[str | None, dict[str, bytes]]:
    pages: dict[str, bytes] = {}
    root = build_tree(sorted(records, key=lambda r: r.key), pages.__setitem__)
    return root, pages


def _height(root: str | None, pages: dict[str, bytes]) -> int:
    return 0 if root is None else decode_page(pages[root], root).level + 1


keys = st.lists(st.integers(min_value=0, max_value=10**7), min_size=0, max_size=3000, unique=True)


@SETTINGS
@given(keys, st.data())
def test_manifest_round_trip_and_page_sharing(numbers: list[int], data: st.DataObject) -> None:
    records = [record(f"gm:{n}", f"{n:064x}", n % 1000) for n in numbers]
    root, pages = _tree(records)
    ordered = sorted(records, key=lambda r: r.key)
    assert list(iter_records(root, pages.__getitem__)) == ordered

    def read_decoded(pid: str) -> Page:
        return decode_page(pages[pid], pid)

    for r in ordered[:: max(1, len(ordered) // 20)]:
        assert lookup(root, r.key, read_decoded) == r
    assert lookup(root, "gm:x", read_decoded) is None
    height = _height(root, pages)
    # relabel k records: at most k leaves and their ancestors are new
    k = data.draw(st.integers(min_value=0, max_value=min(10, len(records))))
    indices = st.lists(st.sampled_from(range(len(records))), min_size=k, max_size=k, unique=True)
    picked = set(data.draw(indices) if records else [])
    changed = [record(r.key, r.blob_id, r.size, labels=("Changed",)) if i in picked else r
               for i, r in enumerate(records)]
    _, pages2 = _tree(changed)
    assert len(set(pages2) - set(pages)) <= len(picked) * height
    # add k new keys: each may split one page per level
    extra = [record(f"gm:{10**7 + i}", "e" * 64) for i in range(k)]
    root3, pages3 = _tree(records + extra)
    assert len(set(pages3) - set(pages)) <= (2 * k + 1) * max(height, _height(root3, pages3)) if k else \
        root3 == root


ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
entries = st.lists(st.dictionaries(st.text(max_size=8), st.one_of(ints, st.text(max_size=20),
                                                                  st.binary(max_size=20)), max_size=4),
                   min_size=1, max_size=12)


@SETTINGS
@given(entries, st.data())
def test_journal_keeps_every_whole_entry_whatever_the_cut(items: list[dict[str, object]],
                                                          data: st.DataObject) -> None:
    from archiver.store.journal import Journal
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.journal"
        j = Journal(path)
        ends = []
        for item in items:
            j.append(item)
            ends.append(path.stat().st_size)
        cut = data.draw(st.integers(min_value=0, max_value=ends[-1]))
        with open(path, "r+b") as f:  # a crash tore the file at an arbitrary byte
            f.truncate(cut)
        whole = sum(1 for e in ends if e <= cut)
        assert list(Journal(path)) == items[:whole]
        Journal(path).append({"after": 1})  # the torn tail is cut off before appending
        assert list(Journal(path)) == [*items[:whole], {"after": 1}]
        with pytest.raises(UsageError):
            Journal(path).append({"too big": 2**64})


@SETTINGS
@given(st.lists(st.integers(min_value=0, max_value=10**6), unique=True, max_size=50))
def test_decoded_records_are_true_message_records(numbers: list[int]) -> None:
    """Pages decode through a faster constructor: records must be indistinguishable from real ones."""
    import dataclasses

    from archiver.store.manifest import make_record, record_row
    for n in numbers:
        plain = record(f"gm:{n}", f"{n:064x}", n, labels=(f"L{n % 3}",))
        made = make_record(*record_row(plain))
        assert type(made) is MessageRecord and made == plain and hash(made) == hash(plain)
        assert repr(made) == repr(plain) and made.date == plain.date
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.size = 0  # type: ignore[misc]
