"""Damage to what can be rebuilt heals instead of misleading: a damaged ``cache/index`` is detected (never
trusted), reported by verify and rewritten; a damaged pack TOC costs no message and is rewritten by
``verify --repair-index`` (crash-safe); a damaged or lost ``archive.json`` gives a clear error and a way
back."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver.cli import app
from archiver.errors import ArchiveNotFound, FormatError
from archiver.ops.export.operation import export
from archiver.ops.retention import prune
from archiver.ops.verify import verify
from archiver.store import Archive, codec, fsutil
from archiver.store.fsutil import write_named
from archiver.store.index import CACHE_AFTER, encode_segment, list_segments, load_index, rebuild_from_packs
from archiver.store.manifest import iter_page_ids
from archiver.store.pack import KIND_BLOB, KIND_PAGE, PackBuilder, list_packs, pack_path, read_toc
from tests.helpers.crash import rebuild_index_in_child
from tests.query.builder import ACCOUNT, commit, make_records, synthetic_messages

RUNS = CACHE_AFTER + 2


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """One snapshot of 200 messages stored by RUNS writer sessions (one index segment each, so readers
    write ``cache/index``); returns the path and blob id -> bytes.  A v1 archive: the tests below copy and
    damage single-message frames (test_verify_v2.py covers the blast radius of v2 blocks)."""
    path = tmp_path_factory.mktemp("heal") / "archive"
    archive = Archive.init(path, version=1)
    msgs = synthetic_messages(200, seed=5, size=1500)
    per = len(msgs) // RUNS
    for i in range(RUNS):
        with archive.writer(ACCOUNT) as w:
            for _p, data, _m in msgs[i * per:(i + 1) * per]:
                w.put_blob(data)
    records = make_records(archive, msgs)
    commit(archive, records, dt.datetime(2024, 5, 1, tzinfo=dt.UTC))
    assert len(list_segments(path / "index")) > CACHE_AFTER
    _ = Archive.open(path).index  # a reader merges the segments into the cache
    assert (path / "cache" / "index").is_file()
    blobs = {r.blob_id: data for r, (_p, data, _m) in zip(records, msgs, strict=True)}
    return path, blobs


def _copy(template: tuple[Path, dict[str, bytes]], dest: Path) -> Path:
    shutil.copytree(template[0], dest)
    return dest


def _reads_everything(path: Path, blobs: dict[str, bytes]) -> None:
    archive = Archive.open(path)
    damaged: dict[str, str] = {}
    got = dict(archive.iter_blobs(blobs, damaged))
    assert damaged == {} and got == blobs
    out = path.parent / f"export-{random.randrange(1 << 30)}.mbox"
    result = export(archive, "latest", "mbox", out)
    assert result.messages == len(blobs) and result.complete


# -- item 5: cache/index ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_damaged_cache_is_reported_never_trusted_and_rebuilt(template: tuple[Path, dict[str, bytes]],
                                                              tmp_path: Path) -> None:
    """40 single-byte flips anywhere in cache/index: verify names it each time (exit 13, kind "cache"),
    every message still reads and exports, and the first reader rewrites a sound cache."""
    rng = random.Random(9)
    size = (template[0] / "cache" / "index").stat().st_size
    for trial in range(40):
        path = _copy(template, tmp_path / f"t{trial}")
        cache = path / "cache" / "index"
        data = bytearray(cache.read_bytes())
        offset = rng.randrange(size) if trial else 0
        data[offset] ^= rng.randrange(1, 256)
        cache.write_bytes(bytes(data))
        report = verify(Archive.open(path))
        assert [f.kind for f in report.damage] == ["cache"], (trial, offset, report.damage)
        assert "--repair-index" in report.damage[0].detail and report.affected_count == 0
        _reads_everything(path, template[1])
        assert cache.read_bytes() != bytes(data)  # rewritten by the reader
        assert verify(Archive.open(path)).ok, trial
        assert load_index(path / "index", cache).as_mapping() == \
            rebuild_from_packs(path / "packs").as_mapping()
        shutil.rmtree(path)


def test_repair_index_rewrites_a_damaged_cache(template: tuple[Path, dict[str, bytes]],
                                               tmp_path: Path) -> None:
    path = _copy(template, tmp_path / "a")
    cache = path / "cache" / "index"
    data = bytearray(cache.read_bytes())
    data[len(data) // 2] ^= 0x55
    cache.write_bytes(bytes(data))
    runner = CliRunner()
    res = runner.invoke(app, ["verify", str(path)])
    assert res.exit_code == 13 and "cache/index" in res.output
    res = runner.invoke(app, ["verify", "--repair-index", str(path)])
    assert res.exit_code == 0, res.output
    assert "cache: cache/index is damaged" in res.output and "nothing to repair" not in res.output
    assert cache.read_bytes() != bytes(data)
    res = runner.invoke(app, ["verify", "--repair-index", "--json", str(path)])
    doc = json.loads(res.stdout)
    assert res.exit_code == 0 and doc["ok"] and doc["index_repair"]["damaged_cache"] is None


def test_an_entry_stored_twice_reads_from_its_sound_copy_also_through_the_cache(
        template: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    """A blob in two packs whose copy in the smaller pack id (the one the index points at) is damaged: it
    still reads, with the cache in use, and verify --read-data costs it no message."""
    path = _copy(template, tmp_path / "a")
    archive = Archive.open(path)
    blob = sorted(template[1])[0]
    loc = archive.index.blobs[blob]
    frame = pack_path(path / "packs", loc.pack).read_bytes()[loc.offset:loc.offset + loc.length]
    builder = PackBuilder()  # a second copy, written as a writer writes: pack, then its index segment
    builder.add(KIND_BLOB, blob, frame, loc.raw_length, loc.dict_id)
    data = builder.finish()
    write_named(path / "packs", codec.sha256_hex(data), data, path / "tmp", fanout=True)
    segment = encode_segment({codec.sha256_hex(data): builder.entries})
    write_named(path / "index", codec.sha256_hex(segment), segment, path / "tmp")
    first = min(loc.pack, codec.sha256_hex(data))
    offset = loc.offset if first == loc.pack else builder.entries[0].offset
    f = pack_path(path / "packs", first)
    damaged = bytearray(f.read_bytes())
    damaged[offset + 5] ^= 0x10
    f.write_bytes(bytes(damaged))
    (path / "cache" / "index").unlink()
    assert Archive.open(path).get_blob(blob) == template[1][blob]  # rewrites the cache (9+ segments)
    cached = Archive.open(path)
    assert cached.index.blobs[blob].pack == first and cached.index.blobs.others(blob)
    assert cached.get_blob(blob) == template[1][blob]
    _reads_everything(path, template[1])
    report = verify(Archive.open(path), read_data=True)
    assert report.affected_count == 0 and {f.kind for f in report.damage} <= {"pack", "blob"}


# -- item 9: a damaged pack TOC -----------------------------------------------------------------------------

def _damage_toc(path: Path, blobs: dict[str, bytes]) -> str:
    """Flip a byte inside the TOC of the data pack holding the most messages; return its id."""
    pid = max(list_packs(path / "packs"),
              key=lambda p: sum(e.kind == KIND_BLOB for e in read_toc(pack_path(path / "packs", p))))
    f = pack_path(path / "packs", pid)
    entries = read_toc(f)
    frames_end = max(e.offset + e.length for e in entries)
    data = bytearray(f.read_bytes())
    data[frames_end + 3] ^= 0x20
    f.write_bytes(bytes(data))
    return pid


def test_a_damaged_toc_costs_no_message_and_repair_rewrites_the_pack(
        template: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    path = _copy(template, tmp_path / "a")
    pid = _damage_toc(path, template[1])
    for read_data in (False, True):
        report = verify(Archive.open(path), read_data=read_data)
        assert not report.ok and {f.id for f in report.damage} == {pid}
        assert report.affected_count == 0 and report.damaged_snapshots == []
        assert any("no message is lost" in f.detail for f in report.damage)
    _reads_everything(path, template[1])
    result = Archive.open(path).rebuild_index()
    assert list(result.tocs_rewritten) == [pid] and result.frames_lost == 0 and result.changed
    for p in list_packs(path / "packs"):  # the pack was written again (here: under its own name)
        read_toc(pack_path(path / "packs", p))
    report = verify(Archive.open(path), read_data=True)
    assert report.ok, report.damage
    _reads_everything(path, template[1])
    assert not Archive.open(path).rebuild_index().changed


@pytest.mark.slow
def test_toc_repair_survives_a_crash_at_every_step(template: tuple[Path, dict[str, bytes]],
                                                   tmp_path: Path) -> None:
    probe = _copy(template, tmp_path / "probe")
    _damage_toc(probe, template[1])
    fsutil.arm_crash(0)
    Archive.open(probe).rebuild_index()
    steps = fsutil.steps_taken()
    assert steps >= 6
    for n in range(1, steps + 1):
        path = _copy(template, tmp_path / f"c{n}")
        _damage_toc(path, template[1])
        assert rebuild_index_in_child(path, n) == -9, n
        _reads_everything(path, template[1])  # the killed repair left a readable archive
        Archive.open(path).rebuild_index()  # and the next one finishes
        assert verify(Archive.open(path), read_data=True).ok, n
        shutil.rmtree(path)


# -- item 9: archive.json ------------------------------------------------------------------------------------

def test_a_non_utf8_config_is_a_clear_format_error(template: tuple[Path, dict[str, bytes]],
                                                   tmp_path: Path) -> None:
    path = _copy(template, tmp_path / "a")
    config = path / "archive.json"
    config.write_bytes(config.read_bytes().replace(b"gmail", b"gm\xe9il"))
    with pytest.raises(FormatError, match=r"archive\.json"):
        Archive.open(path)
    runner = CliRunner()
    for argv in (["snapshots", str(path)], ["verify", str(path)], ["ls", str(path)]):
        res = runner.invoke(app, argv)
        assert res.exit_code == FormatError.exit_code, (argv, res.output)
        assert res.exception is None or isinstance(res.exception, SystemExit)
        assert "archive.json" in res.output and "not UTF-8" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["verify", "--repair-index", str(path)])
    assert res.exit_code == 0 and "archive.json: missing or damaged, written again" in res.output
    _reads_everything(path, template[1])


def test_a_lost_config_is_written_again_by_repair_index(template: tuple[Path, dict[str, bytes]],
                                                        tmp_path: Path) -> None:
    path = _copy(template, tmp_path / "a")
    (path / "archive.json").unlink()
    runner = CliRunner()
    res = runner.invoke(app, ["snapshots", str(path)])
    assert res.exit_code == ArchiveNotFound.exit_code and "verify --repair-index" in res.output
    res = runner.invoke(app, ["verify", "--repair-index", "--json", str(path)])
    assert res.exit_code == 0 and json.loads(res.stdout)["index_repair"]["config_rewritten"] is True
    _reads_everything(path, template[1])
    # a folder that is not an archive is never given a config
    other = tmp_path / "not-an-archive"
    (other / "packs").mkdir(parents=True)
    res = runner.invoke(app, ["verify", "--repair-index", str(other)])
    assert res.exit_code == ArchiveNotFound.exit_code and not (other / "archive.json").exists()


# -- a page stored twice, one copy damaged: prune keeps the sound one ---------------------------------------

@pytest.mark.parametrize("copy_first", [True, False], ids=["copy-in-smaller-pack", "copy-in-larger-pack"])
@pytest.mark.parametrize("damaged", ["original", "copy"])
def test_prune_keeps_the_sound_copy_of_a_page_stored_twice(template: tuple[Path, dict[str, bytes]],
                                                           tmp_path: Path, copy_first: bool,
                                                           damaged: str) -> None:
    """A manifest page written again into a new pack (as a backup does after finding it damaged),
    one of the two copies then damaged, with no damage record naming it: prune keeps the copy that reads
    (whichever pack id is smaller) and removes the other, so the archive verifies whole and nothing is
    left to call healed."""
    path = _copy(template, tmp_path / "a")
    archive = Archive.open(path)
    root = archive.load(archive.resolve("latest").id).root
    pages = [pid for pid, _level in iter_page_ids(root, archive.read_page)]
    # a snapshot of a few big pages: the page's copy may share its pack with a copy of a blob too
    blobs = sorted(archive.index.blobs)[:20]
    ordered = [(pid, other) for pid in pages for other in (None, *pages, *blobs) if other != pid]
    for page, other in ordered:  # a pack of the page (and maybe one more) whose id sorts as wanted
        loc = archive.index.pages[page]
        builder = PackBuilder()
        for pid in (page, other) if other else (page,):
            kind = KIND_PAGE if pid in archive.index.pages else KIND_BLOB
            at = archive.index.pages[pid] if kind == KIND_PAGE else archive.index.blobs[pid]
            frame = pack_path(path / "packs", at.pack).read_bytes()[at.offset:at.offset + at.length]
            builder.add(kind, pid, frame, at.raw_length, at.dict_id)
        data = builder.finish()
        if (codec.sha256_hex(data) < loc.pack) == copy_first:
            break
    else:
        pytest.fail("no pack of copied pages sorts as wanted")
    copy_id = codec.sha256_hex(data)
    write_named(path / "packs", copy_id, data, path / "tmp", fanout=True)
    segment = encode_segment({copy_id: builder.entries})
    write_named(path / "index", codec.sha256_hex(segment), segment, path / "tmp")
    bad_pack, offset = ((loc.pack, loc.offset) if damaged == "original"
                        else (copy_id, builder.entries[0].offset))
    f = pack_path(path / "packs", bad_pack)
    raw = bytearray(f.read_bytes())
    raw[offset + loc.length // 2] ^= 0x10
    f.write_bytes(bytes(raw))
    assert not (path / "damage.json").exists()
    prune(Archive.open(path))
    report = verify(Archive.open(path), read_data=True)
    assert report.ok and report.healed == [], (report.damage, report.healed)
    _reads_everything(path, template[1])
