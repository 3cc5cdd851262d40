"""Every python example of docs/library.md runs, in order, against a small real archive."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path

from archiver.store import Archive
from tests.query.builder import commit, make_records, synthetic_messages

DOC = Path(__file__).resolve().parents[2] / "docs" / "library.md"


def test_library_examples_run(tmp_path: Path) -> None:
    archive = Archive.init(tmp_path / "archive")
    records = make_records(archive, synthetic_messages(40, size=800))
    commit(archive, records, dt.datetime(2024, 5, 1, tzinfo=dt.UTC))
    changed = [replace(r, labels=(*r.labels, "\\Inbox")) if i % 5 == 0 else r for i, r in enumerate(records)]
    commit(archive, changed[3:], dt.datetime(2024, 5, 2, tzinfo=dt.UTC))
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 5
    out = tmp_path / "out"
    out.mkdir()
    namespace: dict[str, object] = {"ARCHIVE": tmp_path / "archive", "OUT": out}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{DOC.name} block {i + 1}", "exec"), namespace)
    assert (out / "work.mbox").exists()
