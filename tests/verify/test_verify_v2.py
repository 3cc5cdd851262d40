"""verify, export and backup on format v2 (blocks, dictionaries carried in the packs): a damaged byte in a
block costs that block's messages only (each still checked against its id), and a damaged or lost
dictionary file costs no message and blocks no later backup (formats/pack.md "Dictionaries")."""

from __future__ import annotations

import datetime as dt
import random
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from archiver.model import MessageRecord
from archiver.ops.export.operation import export
from archiver.ops.verify import verify
from archiver.store import Archive
from archiver.store.dictionary import Codecs
from archiver.store.pack import KIND_BLOB, PackEntry, list_packs, pack_path, read_toc
from tests.query.builder import commit, make_records, synthetic_messages


@pytest.fixture(scope="module")
def v2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[MessageRecord], str]:
    """A v2 archive of 1,200 messages (~5 MB: a dictionary, blocks of ~1 MiB), one snapshot."""
    path = tmp_path_factory.mktemp("v2") / "archive"
    archive = Archive.init(path)
    assert archive.format_version == 2
    records = make_records(archive, synthetic_messages(1200))
    sid = commit(archive, records, dt.datetime(2024, 1, 1, tzinfo=dt.UTC)).id
    return path, records, sid


def _blocks(root: Path) -> dict[tuple[str, int], list[PackEntry]]:
    out: dict[tuple[str, int], list[PackEntry]] = {}
    for pid in list_packs(root / "packs"):
        for e in read_toc(pack_path(root / "packs", pid)):
            if e.kind == KIND_BLOB:
                out.setdefault((pid, e.offset), []).append(e)
    return out


def test_blocks_hold_many_messages_each_indexed_alone(v2: tuple[Path, list[MessageRecord], str]) -> None:
    root, records, _sid = v2
    blocks = _blocks(root)
    assert max(len(es) for es in blocks.values()) >= 100  # ~1 MiB of ~4.4 KB messages
    assert sum(len(es) for es in blocks.values()) == len({r.blob_id for r in records})
    archive = Archive.open(root)
    picks = random.Random(3).sample(records, 20)
    assert all(archive.get_blob(r.blob_id) == archive.get_blob(r.blob_id) for r in picks)
    assert verify(archive, read_data=True).ok


def test_a_flipped_byte_in_a_block_costs_that_block_at_most(v2: tuple[Path, list[MessageRecord], str],
                                                             tmp_path: Path) -> None:
    src, records, sid = v2
    root = tmp_path / "a"
    shutil.copytree(src, root)
    (pid, off), members = max(_blocks(root).items(), key=lambda kv: len(kv[1]))
    path = pack_path(root / "packs", pid)
    data = bytearray(path.read_bytes())
    data[off + members[0].length // 2] ^= 0x5A
    path.write_bytes(bytes(data))
    report = verify(Archive.open(root), read_data=True)
    assert not report.ok
    in_block = {e.id for e in members}
    hit = {r.blob_id for r in records if r.key in {m.key for m in report.affected_messages}}
    assert hit and hit <= in_block
    result = export(Archive.open(root), sid[:8], "eml", tmp_path / "out")
    skipped = {r.blob_id for r in records if r.key in {p.key for p in result.skipped}}
    assert skipped and skipped <= in_block


@pytest.mark.parametrize("how", ["flip", "delete"])
def test_a_damaged_dictionary_file_costs_no_message_nor_a_later_backup(
        v2: tuple[Path, list[MessageRecord], str], tmp_path: Path, how: str) -> None:
    src, records, sid = v2
    root = tmp_path / "a"
    shutil.copytree(src, root)
    shutil.rmtree(root / "cache", ignore_errors=True)
    (dict_file,) = [p for p in (root / "dicts").iterdir() if p.stat().st_size > 50_000]  # the message one
    if how == "flip":
        data = bytearray(dict_file.read_bytes())
        data[len(data) // 3] ^= 0x01
        dict_file.write_bytes(bytes(data))
    else:
        dict_file.unlink()
    report = verify(Archive.open(root), read_data=True)
    assert any(f.kind == "dict" for f in report.damage)  # the file is damage, and named
    assert report.affected_count == 0 and not report.damaged_snapshots
    result = export(Archive.open(root), sid[:8], "eml", tmp_path / "out")
    assert not result.skipped
    archive = Archive.open(root)
    assert all(archive.get_blob(r.blob_id) for r in records[::50])
    # a later backup of new mail goes on, with the dictionary it finds in the packs
    more = [replace(r, key=r.key + "n") for r in make_records(archive, synthetic_messages(300, seed=9))]
    commit(archive, [*records, *more], dt.datetime(2024, 1, 2, tzinfo=dt.UTC))
    after = Archive.open(root)
    assert all(after.get_blob(r.blob_id) for r in more[::25])
    assert {after.index.blobs[r.blob_id].dict_id for r in more} == {dict_file.name}  # the same dictionary


def test_repair_index_writes_a_damaged_dictionary_back_from_a_pack(v2: tuple[Path, list[MessageRecord], str],
                                                                  tmp_path: Path) -> None:
    src, _records, _sid = v2
    root = tmp_path / "a"
    shutil.copytree(src, root)
    (dict_file,) = [p for p in (root / "dicts").iterdir() if p.stat().st_size > 50_000]
    good = dict_file.read_bytes()
    dict_file.write_bytes(good[:1000])  # truncated
    assert not verify(Archive.open(root)).ok
    fixed = Archive.open(root).rebuild_index()
    assert set(fixed.dicts_restored) == {dict_file.name} and fixed.changed
    assert dict_file.read_bytes() == good
    assert verify(Archive.open(root), read_data=True).ok


def test_sequential_reads_decompress_each_block_once(v2: tuple[Path, list[MessageRecord], str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root, records, _sid = v2
    blocks = _blocks(root)
    calls: list[int] = []
    real = Codecs.decompress_block

    def counting(self: Codecs, frame: bytes, dict_id: str | None, what: str) -> bytes:
        calls.append(len(frame))
        return real(self, frame, dict_id, what)

    monkeypatch.setattr(Codecs, "decompress_block", counting)
    archive = Archive.open(root)
    ids = [r.blob_id for r in records]
    got = dict(archive.iter_blobs(ids))
    assert len(got) == len(set(ids))
    assert len(calls) == len(blocks)  # once per block, not once per message
    calls.clear()
    members = max(blocks.values(), key=len)
    fresh = Archive.open(root)
    for e in members[:10]:
        fresh.get_blob(e.id)
    assert len(calls) == 1  # random reads in one block: one decompression, then the cache
