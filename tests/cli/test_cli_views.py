"""The read-only and maintenance commands end to end: snapshots, ls, diff, export, verify, forget, prune
(--json documents, exit codes, stdout vs stderr)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver.cli import app
from archiver.store import Archive
from tests.query.builder import commit, make_records, synthetic_messages

runner = CliRunner()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "archive"
    a = Archive.init(path)
    recs = make_records(a, synthetic_messages(30, size=600))
    commit(a, recs, dt.datetime(2024, 4, 1, tzinfo=dt.UTC))
    commit(a, [replace(r, labels=("Moved",)) if i < 3 else r for i, r in enumerate(recs[5:])],
           dt.datetime(2024, 4, 2, tzinfo=dt.UTC))
    return path


def run(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = runner.invoke(app, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_snapshots_ls_diff(archive: Path) -> None:
    code, doc = run("snapshots", str(archive))
    assert code == 0 and [s["message_count"] for s in doc["snapshots"]] == [30, 25]
    first, second = (s["id"] for s in doc["snapshots"])
    code, doc = run("ls", str(archive), first[:8])
    assert code == 0 and len(doc["messages"]) == 30 and doc["snapshot"]["id"] == first
    assert set(doc["messages"][0]) == {"key", "labels", "thread_id", "flags", "date", "size", "message_id",
                                       "blob_id", "from", "subject"}
    senders = {m["from"] for m in doc["messages"]}
    assert senders == {f"Sender {i % 17} <s{i % 17}@example.com>" for i in range(30)}
    assert all(m["subject"].split()[-1].isdigit() for m in doc["messages"])
    code, doc = run("ls", str(archive), "--label", "Moved")
    assert code == 0 and len(doc["messages"]) == 3
    code, doc = run("diff", str(archive), first[:8], second[:8])
    assert code == 0 and (len(doc["removed"]), len(doc["added"])) == (5, 0)
    assert all(c["after"] == ["Moved"] for c in doc["relabelled"]) and len(doc["relabelled"]) == 3
    plain = runner.invoke(app, ["ls", str(archive)])
    assert plain.exit_code == 0 and len(plain.stdout.splitlines()) == 25


def test_errors_map_to_exit_codes(archive: Path, tmp_path: Path) -> None:
    code, doc = run("ls", str(tmp_path / "missing"))
    assert code == 10 and doc["error"]["type"] == "ArchiveNotFound"
    code, doc = run("ls", str(archive), "ffff0000")
    assert code == 2 and doc["error"]["type"] == "UsageError"
    assert runner.invoke(app, ["verify", str(archive), "--subset", "4/3"]).exit_code == 2


def test_export_verify_forget_prune(archive: Path, tmp_path: Path) -> None:
    path = tmp_path / "a"
    shutil.copytree(archive, path)
    code, doc = run("export", str(path), "--format", "mbox", "--output", str(tmp_path / "x.mbox"))
    assert code == 0 and doc["messages"] == 25 and doc["skipped"] == []
    again = runner.invoke(app, ["export", str(path), "-f", "eml", "-o", str(tmp_path / "x.mbox")])
    assert again.exit_code == 2
    code, doc = run("verify", str(path), "--read-data")
    assert code == 0 and doc["ok"] and doc["bytes_read"] > 0
    code, doc = run("forget", str(path), "--keep-last", "1", "--dry-run", "--prune")
    assert code == 0 and len(doc["forget"]) == 1 and doc["prune"]["dry_run"]
    assert len(run("snapshots", str(path))[1]["snapshots"]) == 2
    code, doc = run("forget", str(path), "--keep-last", "1")
    assert code == 0 and doc["keep"][0]["reasons"] == ["last"]
    code, doc = run("prune", str(path))
    assert code == 0 and doc["bytes_after"] < doc["bytes_before"]
    assert run("verify", str(path), "--read-data")[0] == 0
    # damage: exit 13, the damaged message named; export still writes the rest and exits 3
    opened = Archive.open(path)
    victim = next(iter(opened.load(opened.resolve().id)))
    loc = opened.index.blobs[victim.blob_id]
    pack = next(p for p in (path / "packs").rglob(loc.pack))
    data = bytearray(pack.read_bytes())
    data[loc.offset + loc.length // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    code, doc = run("verify", str(path), "--read-data")
    assert code == 13 and not doc["ok"] and victim.key in {m["key"] for m in doc["affected_messages"]}
    text = runner.invoke(app, ["verify", str(path), "--read-data"])
    assert text.exit_code == 13 and "affected message" in text.stderr
    code, doc = run("export", str(path), "-f", "eml", "-o", str(tmp_path / "eml"))
    assert code == 3 and doc["skipped"] and doc["messages"] == 25 - len(doc["skipped"])


@pytest.mark.parametrize("command", ["ls", "export", "restore"])
def test_inverted_since_until_is_a_usage_error(archive: Path, tmp_path: Path, command: str) -> None:
    """Regression: ``--since`` after ``--until`` selected nothing and exited 0; now exit 2 before any work."""
    extra = {"ls": [], "export": ["-o", str(tmp_path / "x.mbox")],
             "restore": ["imap://alice@127.0.0.1:9"]}[command]
    args = [command, str(archive), *extra, "--since", "2024-05-01", "--until", "2024-04-01"]
    code, doc = run(*args)
    assert code == 2 and doc["error"]["type"] == "UsageError" and "--since" in doc["error"]["message"]
    plain = runner.invoke(app, args)
    assert plain.exit_code == 2 and "not before --until" in plain.stderr
    assert not (tmp_path / "x.mbox").exists()


def test_unknown_label_warns_listing_the_labels(archive: Path, tmp_path: Path) -> None:
    """Regression: an unknown ``--label`` selected nothing silently; now a warning names the labels that
    exist (stderr, or ``warnings`` under --json), and the exit code is unchanged."""
    code, doc = run("ls", str(archive), "--label", "Nope", "--label", "Moved")
    assert code == 0 and len(doc["messages"]) == 3
    assert len(doc["warnings"]) == 1 and "'Nope'" in doc["warnings"][0] and "Moved" in doc["warnings"][0]
    plain = runner.invoke(app, ["ls", str(archive), "--label", "Nope"])
    assert plain.exit_code == 0 and plain.stdout == ""
    assert "warning: --label 'Nope' matches no label" in plain.stderr and "Moved" in plain.stderr
    code, doc = run("export", str(archive), "--label", "nope", "-o", str(tmp_path / "x.mbox"))
    assert code == 0 and doc["messages"] == 0 and "'nope'" in doc["warnings"][0]
    code, doc = run("ls", str(archive), "--label", "Moved", "--since", "2020-01-01")
    assert code == 0 and doc["warnings"] == [] and len(doc["messages"]) == 3
