"""ArchiveWriter under several threads: every blob stored once, readable, and committed checkpoints mid-run
only ever reference stored blobs."""

from __future__ import annotations

import threading

import pytest

from archiver.store import Archive, codec, dictionary, writer
from archiver.store.index import load_index, rebuild_from_packs
from tests.store.conftest import record


def test_threads_share_one_writer(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "PACK_TARGET", 16 * 1024)
    monkeypatch.setattr(dictionary, "TRAIN_BYTES", 64 * 1024)
    monkeypatch.setattr(dictionary, "DICT_SIZE", 4096)
    monkeypatch.setattr(dictionary, "MIN_SAMPLES", 16)
    bodies = [(f"Subject: {i % 97}\r\n\r\n" + f"line {i}\r\n" * (i % 50 + 1)).encode() for i in range(600)]
    errors: list[BaseException] = []
    checkpoints = []
    with archive.writer("acct") as w:
        def work(part: list[bytes]) -> None:
            try:
                for b in part:
                    assert w.put_blob(b) == codec.sha256_hex(b)
            except BaseException as exc:
                errors.append(exc)

        # four threads over overlapping slices: every body is put by two threads at once
        threads = [threading.Thread(target=work, args=(bodies[i * 150: i * 150 + 300],)) for i in range(4)]
        for t in threads:
            t.start()
        for _ in range(3):  # checkpoints while the threads run: only what put_blob returned for
            done = [b for b in bodies[:150] if w.has_blob(codec.sha256_hex(b))]
            checkpoints.append(w.commit([record(f"k{i:03}", codec.sha256_hex(b)) for i, b in enumerate(done)],
                                        [], source="s", partial=True))
        for t in threads:
            t.join()
        assert errors == []
        ids = [codec.sha256_hex(b) for b in bodies]
        final = w.commit([record(f"k{i:03}", b) for i, b in enumerate(ids)], [], source="s")
    fresh = Archive.open(archive.path)
    assert dict(fresh.iter_blobs(ids)) == dict(zip(ids, bodies, strict=True))
    assert fresh.stats().blobs == len(set(ids)) and fresh.stats().dictionaries
    rebuilt = rebuild_from_packs(archive.layout.packs)
    assert rebuilt.as_mapping() == load_index(archive.layout.index).as_mapping()
    assert sum(rebuilt.packs.values()) == len(rebuilt.blobs) + len(rebuilt.pages)  # each stored once
    for info in [*checkpoints, final]:
        for r in fresh.load(info.id):
            assert fresh.get_blob(r.blob_id)
