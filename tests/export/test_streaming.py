"""Export streams: the selected records are taken from the manifest a chunk at a time and each chunk's bodies
are written before the next chunk is read, so memory does not grow with the snapshot (asserted on the order
of manifest reads and body reads; the memory figures are in benchmarks/bench_memory.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from archiver.model import FolderState, MessageRecord
from archiver.ops.export import operation
from archiver.ops.export.operation import export
from archiver.store import Archive

N = 3000


class LoggingArchive(Archive):
    """The real archive, logging manifest page reads ("page") and body reads ("bodies", how many)."""

    events: list[tuple[str, int]]

    def read_page(self, page_id: str) -> bytes:
        self.events.append(("page", 0))
        return super().read_page(page_id)

    def iter_blobs(self, blob_ids: Iterable[str], damaged: dict[str, str] | None = None
                   ) -> Iterator[tuple[str, bytes]]:
        ids = list(blob_ids)
        self.events.append(("bodies", len(ids)))
        return super().iter_blobs(ids, damaged)


@pytest.fixture(scope="module")
def archive_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export-stream") / "a"
    archive = Archive.init(path)
    records = []
    with archive.writer("gmail@example.com") as w:
        for i in range(N):
            data = f"Subject: {i}\r\nMessage-ID: <{i}@x>\r\n\r\nbody {i}\r\n".encode()
            blob = w.put_blob(data)
            records.append(MessageRecord(key=f"gm:{1_000_000 + i}", blob_id=blob, size=len(data),
                                         internaldate=1_600_000_000 + i, tz_minutes=0, flags=(),
                                         labels=("\\Inbox", f"L{i % 3}"), thread_id=str(i),
                                         message_id=f"<{i}@x>"))
        w.commit(records, [FolderState("INBOX", 1, N + 1, 1, "")], source="imaps://gmail@example.com",
                 time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    archive.close()
    return path


@pytest.mark.parametrize("fmt", ["mbox", "maildir"])
def test_bodies_of_a_chunk_are_written_before_the_next_chunk_is_read(
        archive_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    monkeypatch.setattr(operation, "CHUNK", 500)
    archive = LoggingArchive(archive_path)
    archive.events = []
    result = export(archive, "latest", fmt, tmp_path / "out")
    archive.close()
    assert result.complete and result.messages == result.selected == N
    reads = [n for kind, n in archive.events if kind == "bodies"]
    assert reads == [500] * (N // 500)
    first_bodies = archive.events.index(("bodies", 500))
    assert ("page", 0) in archive.events[first_bodies:]  # the manifest is still being read after it


def test_chunked_mbox_is_the_same_file(archive_path: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    whole = export(Archive.open(archive_path), "latest", "mbox", tmp_path / "whole.mbox")
    monkeypatch.setattr(operation, "CHUNK", 7)
    chunked = export(Archive.open(archive_path), "latest", "mbox", tmp_path / "chunked.mbox")
    assert whole.messages == chunked.messages == N
    assert (tmp_path / "whole.mbox").read_bytes() == (tmp_path / "chunked.mbox").read_bytes()
