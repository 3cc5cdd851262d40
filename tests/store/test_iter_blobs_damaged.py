"""``Archive.iter_blobs(damaged=...)``: one damaged or missing blob is recorded and the others still come."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.errors import IntegrityError
from archiver.store import Archive
from archiver.store.pack import pack_path


@pytest.mark.parametrize("version", [1, 2])
def test_damaged_and_missing_blobs_are_recorded_not_raised(tmp_path: Path, version: int) -> None:
    archive = Archive.init(tmp_path / "a", version=version)
    bodies = [f"Subject: {i}\r\n\r\nbody {i}\r\n".encode() * (50 + i) for i in range(6)]
    with archive.writer("me@example.org") as w:
        ids = [w.put_blob(b) for b in bodies]
    victim = sorted(ids)[2]
    loc = Archive.open(archive.path).index.blobs[victim]
    path = pack_path(archive.layout.packs, loc.pack)
    data = bytearray(path.read_bytes())
    data[loc.offset + loc.length // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    absent = "0" * 64

    again = Archive.open(archive.path)
    with pytest.raises(IntegrityError):
        dict(again.iter_blobs(ids))
    damaged: dict[str, str] = {}
    got = dict(again.iter_blobs([*ids, absent], damaged))
    assert "not in the archive" in damaged[absent]
    if version == 1:  # one frame per message: the flipped byte costs that message alone
        assert got == {b: body for b, body in zip(ids, bodies, strict=True) if b != victim}
        assert set(damaged) == {victim, absent}
        assert victim[:12] in damaged[victim]
    else:  # one block: the messages whose bytes the flip reached are recorded, every other one still comes
        by_id = dict(zip(ids, bodies, strict=True))
        assert got and all(by_id[b] == body for b, body in got.items())
        assert set(got) | set(damaged) == {*ids, absent} and len(damaged) >= 2
        assert all(b[:12] in damaged[b] for b in damaged if b != absent)
