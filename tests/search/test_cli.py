"""search, show and extract as a user runs them (a real process, real files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from email import message_from_bytes
from pathlib import Path

import pytest

from archiver import extract_attachments
from archiver.store import Archive
from tests.query.builder import build, corpus_messages

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "archiver", *args], capture_output=True, env=env,
                          timeout=120)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Archive, list]:
    return build(tmp_path_factory.mktemp("cli") / "a", corpus_messages(CORPUS, limit=150, step=5))


def test_search_json_document(archive) -> None:
    arch, records = archive
    out = cli("search", str(arch.path), "in:anywhere", "--json", "--limit", "5")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["total"] == len(records) and len(doc["messages"]) == 5
    by_key = {r.key: r for r in records}
    for m in doc["messages"]:
        assert {"key", "message_id", "date", "from", "subject", "labels", "thread"} <= set(m)
        rec = by_key[m["key"]]
        assert m["labels"] == list(rec.labels) and m["thread"] == rec.thread_id
        assert m["message_id"] == rec.message_id
    dates = [m["date"] for m in doc["messages"]]
    assert [r.key for r in sorted(records, key=lambda r: (r.internaldate, r.key), reverse=True)[:5]] == [
        m["key"] for m in doc["messages"]]
    assert dates


def test_bad_query_is_a_usage_error(archive) -> None:
    arch, _ = archive
    for query in ("(unclosed", "is:purple", "larger:lots", "after:yesterday"):
        out = cli("search", str(arch.path), query)
        assert out.returncode == 2, (query, out.stderr)
        assert b"error:" in out.stderr and b"Traceback" not in out.stderr


def test_show_raw_is_byte_exact(archive) -> None:
    arch, records = archive
    for rec in records[::37]:
        out = cli("show", str(arch.path), rec.key, "--raw")
        assert out.returncode == 0 and out.stdout == arch.get_blob(rec.blob_id)


def test_show_by_message_id_decodes(archive) -> None:
    arch, records = archive
    rec = next(r for r in records if r.message_id and b"=?" in arch.get_blob(r.blob_id).split(b"\n\n")[0])
    out = cli("show", str(arch.path), rec.message_id.strip("<>"), "--headers")
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert f"Key: {rec.key}" in text and "=?" not in text.split("Subject:")[-1].splitlines()[0]


def test_extract_attachments_byte_exact(archive, tmp_path: Path) -> None:
    arch, records = archive
    checked = 0
    for rec in records:
        raw = arch.get_blob(rec.blob_id)
        msg = message_from_bytes(raw)
        parts = [p for p in msg.walk() if not p.is_multipart()
                 and (p.get("Content-Disposition") or "").lower().startswith("attachment")]
        if not parts:
            continue
        folder = tmp_path / rec.key.replace(":", "_")
        out = cli("extract", str(arch.path), rec.key, "--attachments", str(folder), "--json")
        assert out.returncode == 0, out.stderr
        files = json.loads(out.stdout)["files"]
        payloads = sorted(p.get_payload(decode=True) for p in parts)
        written = sorted((folder / f["name"]).read_bytes() for f in files)
        assert written[: len(payloads)] == payloads[: len(written)] and len(written) >= len(payloads)
        assert all((os.stat(folder / f["name"]).st_mode & 0o777) == 0o600 for f in files)
        again = cli("extract", str(arch.path), rec.key, "--attachments", str(folder))
        assert again.returncode == 2 and b"already exist" in again.stderr  # nothing replaced
        checked += 1
        if checked == 3:
            break
    assert checked == 3


def test_extract_never_writes_outside(tmp_path: Path) -> None:
    """A hostile attachment name (``../../x``) stays inside the folder."""
    raw = (b"From: a@example.com\nSubject: evil\nMessage-ID: <evil@x>\nMIME-Version: 1.0\n"
           b"Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nhi\n"
           b"--B\nContent-Type: application/octet-stream\nContent-Disposition: attachment; "
           b"filename=\"../../escaped.txt\"\n\nPAYLOAD\n--B--\n")
    arch, records = build(tmp_path / "a", [("evil", raw, "<evil@x>")])
    folder = tmp_path / "deep" / "out"
    result = extract_attachments(arch, records[0].key, folder)
    assert [name for name, _ in result.written] == ["escaped.txt"]
    assert (folder / "escaped.txt").read_bytes() == b"PAYLOAD"
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "deep" / "escaped.txt").exists()


def test_export_query_exports_what_search_finds(archive, tmp_path: Path) -> None:
    """`export --query` writes exactly the messages `search` lists (eml: one file per message, byte-exact)."""
    arch, records = archive
    query = "has:attachment OR subject:test"
    found = json.loads(cli("search", str(arch.path), query, "--json").stdout)["messages"]
    assert 0 < len(found) < len(records)
    out = tmp_path / "eml"
    res = cli("export", str(arch.path), "--format", "eml", "-o", str(out), "--query", query, "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["selected"] == doc["messages"] == len(found)
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert {e["key"] for e in index} == {m["key"] for m in found}
    by_key = {r.key: r for r in records}
    for e in index[:10]:
        assert (out / e["file"]).read_bytes() == arch.get_blob(by_key[e["key"]].blob_id)
