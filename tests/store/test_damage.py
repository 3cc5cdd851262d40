"""The cheap presence check and the damage record (store/damage.py); a writer never builds a snapshot on
manifest pages whose pack is gone: it writes them again."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

from archiver.model import MessageRecord
from archiver.ops.verify import verify
from archiver.store import Archive
from archiver.store.damage import read_damage, write_damage
from archiver.store.layout import Layout
from archiver.store.pack import KIND_PAGE, list_packs, pack_path, read_toc
from tests.query.builder import commit, make_records, synthetic_messages


def _lose_page_pack(path: Path, seed: int) -> tuple[list[MessageRecord], str, str]:
    """One snapshot, its page pack deleted, the same records committed again; returns (records, first
    snapshot id, lost pack id)."""
    archive = Archive.init(path)
    records = make_records(archive, synthetic_messages(60, seed=seed, size=2000))
    first = commit(archive, records, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    page_packs = [pid for pid in list_packs(path / "packs")
                  if all(e.kind == KIND_PAGE for e in read_toc(pack_path(path / "packs", pid)))]
    assert len(page_packs) == 1
    pack_path(path / "packs", page_packs[0]).unlink()
    return records, first.id, page_packs[0]


def test_pages_in_a_lost_pack_are_written_again(tmp_path: Path) -> None:
    """Snapshot A's page pack is lost; B (A's records and one more) writes the pages it shares with A again
    (into a new pack: the same page set would rebuild the very same pack).  B reads whole, in the Archive
    and in verify, even when the index's entry for a shared page is the lost copy; A's own pages stay lost."""
    for seed in range(40):  # want the lost pack's id sorting first: the index's entry is the lost copy
        path = tmp_path / f"a{seed}"
        records, first, lost = _lose_page_pack(path, seed)
        extra = replace(make_records(Archive.open(path), synthetic_messages(1, seed=99))[0], key="gm:9")
        second = commit(Archive.open(path), [*records, extra], dt.datetime(2024, 1, 2, tzinfo=dt.UTC))
        pages = [pid for pid in list_packs(path / "packs")
                 if all(e.kind == KIND_PAGE for e in read_toc(pack_path(path / "packs", pid)))]
        if lost < min(pages):
            break
    else:
        raise AssertionError("no seed put the lost pack first")
    reader = Archive.open(path)
    assert list(reader.load(second.id)) == sorted([*records, extra], key=lambda r: r.key)
    report = verify(Archive.open(path), read_data=True)
    assert report.damaged_snapshots == [first]  # B is whole; A lost its root and one leaf for good


def test_presence_check_finds_lost_truncated_and_recorded_copies(tmp_path: Path) -> None:
    path = tmp_path / "a"
    archive = Archive.init(path)
    first = make_records(archive, synthetic_messages(30, seed=4, size=2000))
    second = make_records(archive, synthetic_messages(30, seed=5, size=2000))
    ids = [r.blob_id for r in first + second]
    assert Archive.open(path).unusable_blobs(ids) == {}
    by_pack: dict[str, list[str]] = {}
    for pid in list_packs(path / "packs"):
        by_pack[pid] = [e.id for e in read_toc(pack_path(path / "packs", pid))]
    one, two = sorted(by_pack, key=lambda p: by_pack[p][0] in {r.blob_id for r in second})
    index = Archive.open(path).index
    for b in ids:  # the cheap spans agree with the index's locations
        loc = index.blobs[b]
        assert index.blobs.spans(b) == [(loc.pack, loc.offset + loc.length)]

    target = pack_path(path / "packs", two)
    target.chmod(0o600)
    with target.open("r+b") as f:  # cut the pack short: its trailer no longer reaches the frames
        f.truncate(target.stat().st_size // 2)
    bad = Archive.open(path).unusable_blobs(ids)
    assert set(bad) == set(by_pack[two]) and all("truncated" in why for why in bad.values())

    pack_path(path / "packs", one).unlink()
    write_damage(Layout(path), {(by_pack[two][0], two): "flipped"})
    bad = Archive.open(path).unusable_blobs([*ids, "ab" * 32])
    assert set(bad) == set(ids) | {"ab" * 32}
    assert {bad[b] for b in by_pack[one]} == {f"pack {one[:12]} is missing"}
    assert bad["ab" * 32] == f"blob {'ab' * 6} is not in the archive"
    assert read_damage(Layout(path)) == {(by_pack[two][0], two): "flipped"}
    assert write_damage(Layout(path), {}) and not (path / "damage.json").exists()


def test_healing_a_one_message_pack_puts_back_the_pack_it_rebuilds(tmp_path: Path) -> None:
    """Stored again, a lone message makes the very pack (same id) that was damaged: the damaged file is
    replaced and the damage record forgets it, so the next backup does not fetch it yet again."""
    path = tmp_path / "a"
    archive = Archive.init(path)
    (_name, body, _mid), = synthetic_messages(1, seed=9, size=3000)
    records = make_records(archive, [(_name, body, _mid)])
    commit(archive, records, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    (pid,) = [p for p in list_packs(path / "packs")
              if any(e.id == records[0].blob_id for e in read_toc(pack_path(path / "packs", p)))]
    target = pack_path(path / "packs", pid)
    entry = next(e for e in read_toc(target) if e.id == records[0].blob_id)
    data = bytearray(target.read_bytes())
    data[entry.offset + entry.length // 2] ^= 0xFF
    target.chmod(0o600)
    target.write_bytes(bytes(data))
    assert not verify(Archive.open(path), read_data=True).ok
    assert Archive.open(path).unusable_blobs([records[0].blob_id])

    healer = Archive.open(path)
    with healer.writer("alice@example.com") as w:
        w.renew(healer.unusable_blobs([records[0].blob_id]))
        assert w.put_blob(body) == records[0].blob_id
    assert list_packs(path / "packs").count(pid) == 1  # the same name, now with the bytes it promises
    assert read_damage(Layout(path)) == {}
    assert Archive.open(path).unusable_blobs([records[0].blob_id]) == {}
    assert verify(Archive.open(path), read_data=True).ok
