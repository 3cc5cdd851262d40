"""``ls`` (plain and ``--json``) streams: the JSON text is the one document ``emit_json`` would print, written
element by element, and the records are read from the snapshot one batch at a time (asserted on the order
of reads and writes, not on memory figures, which live in benchmarks/bench_memory.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from archiver import Summary, with_summaries
from archiver.cli import app, render
from archiver.model import MessageRecord
from tests.query.builder import build, synthetic_messages

DOCS: list[dict[str, Any]] = [
    {"snapshot": {"id": "abc", "stats": {"new": 1}}, "warnings": ["w"]},
    {},
    {"zeta": [1, {"b": None}], "alpha": "x\ny"},
]
ITEMS: list[list[Any]] = [[], [{"k": 1, "l": [1, {"x": "é"}]}, {"k": 2}], ["s", 3, None]]


@pytest.mark.parametrize("doc", DOCS)
@pytest.mark.parametrize("items", ITEMS)
def test_streamed_document_is_the_whole_document(monkeypatch: pytest.MonkeyPatch, doc: dict[str, Any],
                                                 items: list[Any]) -> None:
    whole, streamed = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdout", whole)
    render.emit_json({**doc, "messages": items})
    monkeypatch.setattr("sys.stdout", streamed)
    assert render.emit_json_stream(doc, "messages", iter(items)) == len(items)
    assert streamed.getvalue() == whole.getvalue()
    assert json.loads(streamed.getvalue())["messages"] == items


def test_each_element_is_written_before_the_next_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)

    def items() -> Iterator[dict[str, int]]:
        for i in range(5):
            if i:
                assert f'"n": {i - 1}' in out.getvalue()  # the previous one is out already
            yield {"n": i}

    render.emit_json_stream({"head": 1}, "messages", items())
    assert [m["n"] for m in json.loads(out.getvalue())["messages"]] == list(range(5))


@pytest.fixture(scope="module")
def archive_and_records(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[MessageRecord]]:
    path = tmp_path_factory.mktemp("stream") / "a"
    archive, records = build(path, synthetic_messages(30, size=300))
    archive.close()
    return path, records


def test_summaries_come_a_batch_at_a_time(archive_and_records: tuple[Path, list[MessageRecord]]) -> None:
    path, records = archive_and_records
    snapshot = CliRunner().invoke(app, ["snapshots", str(path), "--json"])
    sid = json.loads(snapshot.output)["snapshots"][-1]["id"]
    ordered = sorted(records, key=lambda r: r.key)
    list(with_summaries(path, sid, lambda: iter(ordered)))  # the index now covers the snapshot
    read: list[str] = []

    def source() -> Iterator[MessageRecord]:
        for r in ordered:
            read.append(r.key)
            yield r

    rows = with_summaries(path, sid, source, batch=4)
    first = next(rows)
    assert len(read) == 4 and first[0].key == ordered[0].key  # one batch read, not the snapshot
    rest = list(rows)
    assert [r.key for r, _s in [first, *rest]] == [r.key for r in ordered]
    assert all(isinstance(s, Summary) and s.subject for _r, s in [first, *rest])


def test_ls_json_lists_every_message_in_key_order(archive_and_records: tuple[Path, list[MessageRecord]]
                                                  ) -> None:
    path, records = archive_and_records
    result = CliRunner().invoke(app, ["ls", str(path), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [m["key"] for m in doc["messages"]] == sorted(r.key for r in records)
    assert all(m["subject"] and m["from"] for m in doc["messages"])
    assert sorted(doc) == ["messages", "snapshot", "warnings"]
