"""Export reads each manifest page once, even when pack order is not key order (``h:<blob>`` keys)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from archiver.model import FolderState, MessageRecord
from archiver.ops.export.operation import export
from archiver.store import Archive
from archiver.store.manifest import iter_page_ids


class CountingArchive(Archive):
    """The real archive, counting manifest page reads."""

    page_reads = 0

    def read_page(self, page_id: str) -> bytes:
        self.page_reads += 1
        return super().read_page(page_id)


def test_each_page_read_once_with_hash_keys(tmp_path: Path) -> None:
    n = 16000  # > 256 leaf pages (the snapshot's page cache) of ~50 records
    archive = Archive.init(tmp_path / "a")
    records = []
    with archive.writer("imap@example.com") as w:
        for i in range(n):
            data = f"Subject: {i}\r\nMessage-ID: <{i}@x>\r\n\r\nbody {i}\r\n".encode()
            blob = w.put_blob(data)
            records.append(MessageRecord(key=f"h:{blob}", blob_id=blob, size=len(data),
                                         internaldate=1_600_000_000 + i, tz_minutes=0, flags=(),
                                         labels=("INBOX",), thread_id=str(i), message_id=f"<{i}@x>"))
        info = w.commit(records, [FolderState("INBOX", 1, n + 1, 1, "")], source="imap://imap@example.com",
                        time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    archive.close()
    counting = CountingArchive(tmp_path / "a")  # what Archive.open builds, counting
    assert len(list(iter_page_ids(counting.load(info.id).root, counting.read_page))) > 300
    counting.page_reads = 0
    assert len(list(counting.load(info.id))) == n
    one_pass = counting.page_reads
    counting.page_reads = 0
    result = export(counting, "latest", "mbox", tmp_path / "out.mbox")
    counting.close()
    assert result.complete and result.messages == n
    assert counting.page_reads == one_pass  # the selection pass; none per written message
