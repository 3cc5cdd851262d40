"""An archive kept in another backend than the local folder: every read and write of archive data goes
through the Backend (docs/contracts.md ``Archive.init_backend`` / ``open_backend``); only locks, journals,
temporary files and caches are local."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from archiver.model import FolderState
from archiver.ops.retention import RetentionPolicy, forget
from archiver.ops.verify import verify
from archiver.store import Archive
from archiver.store.backend import Backend
from tests.helpers.membackend import MemoryBackend
from tests.store.conftest import record

T0 = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.UTC)


def _local_data(local: Path) -> list[str]:
    """Archive data files that ended up in the local folder (there must be none)."""
    names = [p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()]
    return [n for n in names if n.split("/")[0] in ("packs", "index", "dicts", "snapshots")
            or n in ("archive.json", "damage.json")]


def test_archive_in_a_memory_backend_backs_up_reads_verifies_and_prunes(tmp_path: Path) -> None:
    backend = MemoryBackend(tmp_path / "state")
    assert isinstance(backend, Backend)
    archive = Archive.init_backend(backend)
    bodies = [f"Subject: m{i}\r\nFrom: a{i % 7}@example.org\r\n\r\n".encode()
              + b" ".join(b"w%d" % (i * j % 997) for j in range(2500))
              for i in range(400)]  # enough mail (> 4 MiB) to train the message dictionary
    folders = (FolderState("INBOX", 1, 401, None, None),)
    with archive.writer("me@example.org") as w:
        ids = [w.put_blob(b) for b in bodies]
        w.commit([record(f"k{i:04}", b) for i, b in enumerate(ids)], folders, source="imap://h", time=T0)
    with archive.writer("me@example.org") as w:  # a second snapshot keeping a tenth of the mail
        w.commit([record(f"k{i:04}", b) for i, b in enumerate(ids) if i % 10 == 0], folders,
                 source="imap://h", time=T0 + dt.timedelta(days=1))
    assert any(n.startswith("dicts/") for n in backend.files)
    assert backend.exists("archive.json")
    assert _local_data(tmp_path / "state") == []

    reopened = Archive.open_backend(backend)
    assert [reopened.get_blob(b) for b in ids] == bodies
    assert len(reopened.snapshots()) == 2
    report = verify(reopened, read_data=True)
    assert report.ok, report.damage

    result = forget(reopened, RetentionPolicy(last=1), prune=True)
    assert result.forgotten and result.prune is not None and result.prune.packs_deleted + \
        result.prune.packs_repacked > 0
    after = Archive.open_backend(backend)
    assert len(after.snapshots()) == 1
    kept = [b for i, b in enumerate(ids) if i % 10 == 0]
    assert [after.get_blob(b) for b in kept] == [bodies[i] for i in range(0, 400, 10)]
    assert verify(after, read_data=True).ok
    assert _local_data(tmp_path / "state") == []
