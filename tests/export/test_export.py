"""Export of the whole corpus to eml, mbox and Maildir, read back by Python and by real mail clients."""

from __future__ import annotations

import datetime as dt
import json
import mailbox
import os
import re
import subprocess
from pathlib import Path

import pytest

from archiver.errors import UsageError
from archiver.model import MessageRecord
from archiver.ops.export.formats import folder_parts, labels_header_value, maildir_flags, safe_name
from archiver.ops.export.operation import export
from archiver.store import Archive
from tests.conftest import require_tool
from tests.helpers.mbox import split_mboxrd
from tests.query.builder import build, corpus_messages

Built = tuple[Archive, list[MessageRecord], dict[str, bytes]]


@pytest.fixture(scope="module")
def corpus_archive(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Built:
    msgs = corpus_messages(corpus_dir)
    archive, records = build(tmp_path_factory.mktemp("export") / "archive", msgs)
    originals = {r.key: data for r, (_, data, _) in zip(records, msgs, strict=True)}
    return archive, records, originals


def test_eml_is_byte_identical_with_an_index(corpus_archive: Built, tmp_path: Path) -> None:
    archive, records, originals = corpus_archive
    result = export(archive, "latest", "eml", tmp_path / "eml")
    assert result.complete and result.messages == len(records) == 775
    for r in records:
        assert (tmp_path / "eml" / f"{safe_name(r.key)}.eml").read_bytes() == originals[r.key], r.key
    index = [json.loads(line) for line in (tmp_path / "eml" / "index.jsonl").read_text().splitlines()]
    by_key = {e["key"]: e for e in index}
    assert len(index) == len(by_key) == len(records)
    for r in records:
        e = by_key[r.key]
        assert (e["labels"], e["flags"], e["thread_id"], e["message_id"]) == \
            (list(r.labels), list(r.flags), r.thread_id, r.message_id)
        assert dt.datetime.fromisoformat(e["internaldate"]).timestamp() == r.internaldate
    # byte-identical copies (the corpus has some) are hard links of one file
    first: dict[str, int] = {}
    for r in records:
        ino = (tmp_path / "eml" / f"{safe_name(r.key)}.eml").stat().st_ino
        assert first.setdefault(r.blob_id, ino) == ino
    assert len(first) < len(records)


def test_mbox_byte_exact_without_extra_headers(corpus_archive: Built, tmp_path: Path) -> None:
    archive, records, originals = corpus_archive
    out = tmp_path / "all.mbox"
    export(archive, "latest", "mbox", out, extra_headers=False)
    got = list(split_mboxrd(out.read_bytes()))
    assert len(got) == len(records)
    expected = sorted(o if o.endswith(b"\n") else o + b"\n" for o in originals.values())
    assert sorted(body for _, body in got) == expected
    stamp = re.compile(rb"^From \S+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$")
    assert all(stamp.match(line) for line, _ in got)


def test_mbox_read_by_python_and_mailutils(corpus_archive: Built, tmp_path: Path) -> None:
    archive, records, originals = corpus_archive
    out = tmp_path / "all.mbox"
    result = export(archive, "latest", "mbox", out)
    assert result.messages == len(records)
    # a (malformed) message starting with white space would fold into a prepended header: left as is
    folded = [r for r in records if originals[r.key][:1] in (b" ", b"\t")]
    assert 0 < len(folded) < 10
    thrid_labels = sorted((str(r.gm_thrid), labels_header_value(r.labels)) for r in records
                          if r not in folded)
    mb = mailbox.mbox(out, create=False)
    try:
        assert len(mb) == len(records)
        texts = [mb.get_bytes(k) for k in mb.iterkeys()]
        plain = [t for t in texts if not t.startswith((b" ", b"\t"))]
        py = sorted((_header(t, "X-GM-THRID"), _header(t, "X-Gmail-Labels")) for t in plain)
    finally:
        mb.close()
    assert py == thrid_labels
    require_tool("frm", "mailutils")
    before = out.read_bytes()
    fields = {}
    for name in ("X-GM-THRID", "X-Gmail-Labels"):
        # frm's exit status reports new/unread mail, not success: judge by its output
        p = subprocess.run(["frm", "--no-config", "-n", "-f", name, str(out)], capture_output=True)
        assert not p.stderr
        fields[name] = [line.split(b":\t", 1)[1].decode() for line in p.stdout.splitlines()]
    assert len(fields["X-GM-THRID"]) == len(records)
    pairs = [(t, lb) for t, lb in zip(fields["X-GM-THRID"], fields["X-Gmail-Labels"], strict=True) if t]
    assert sorted(pairs) == thrid_labels
    assert out.read_bytes() == before


def _header(message: bytes, name: str) -> str:
    m = re.search(rb"(?m)^" + name.encode() + rb": ?(.*?)\r?$", message)
    assert m, name
    return m.group(1).decode("utf-8")


def _notmuch(root: Path, tmp: Path) -> tuple[dict[str, str], list[str]]:
    cfg = tmp / f"notmuch-{root.name}.cfg"
    cfg.write_text(f"[database]\npath={root}\n[new]\ntags=\n[maildir]\nsynchronize_flags=false\n")
    env = dict(os.environ, NOTMUCH_CONFIG=str(cfg))
    subprocess.run(["notmuch", "new", "--quiet"], env=env, check=True, capture_output=True)
    return env, subprocess.run(["notmuch", "search", "--output=files", "*"], env=env, check=True,
                               capture_output=True, text=True).stdout.splitlines()


@pytest.mark.slow
def test_maildir_folders_flags_links_and_notmuch(corpus_archive: Built, tmp_path: Path) -> None:
    require_tool("notmuch", "notmuch")
    archive, records, originals = corpus_archive
    out = tmp_path / "md"
    result = export(archive, "latest", "maildir", out)
    expected: dict[Path, MessageRecord] = {}
    for r in records:
        folders = [folder_parts(label) for label in r.labels] or [["Archive (no label)"]]
        for parts in folders:
            name = f"{r.internaldate}.{safe_name(r.key)}.gmail-archiver:2,{maildir_flags(r.flags)}"
            expected[out.joinpath(*parts, "cur", name)] = r
    written = {p for p in out.rglob("*") if p.is_file()}
    assert written == set(expected) and result.files == len(expected)
    inodes: dict[str, int] = {}
    for path, r in expected.items():
        assert path.read_bytes() == originals[r.key]
        assert inodes.setdefault(r.key, path.stat().st_ino) == path.stat().st_ino
    assert "Work" in os.listdir(out) and (out / "Work" / "Projects" / "cur").is_dir()
    assert any(p.name.endswith(":2,FS") for p in written)
    # notmuch indexes every file it can read as mail; a control Maildir of the original bytes tells
    # which corpus messages notmuch itself refuses ("non-mail"), whatever the export did
    control = tmp_path / "control"
    for sub in ("cur", "new", "tmp"):
        (control / sub).mkdir(parents=True)
    for r in records:
        (control / "cur" / f"{safe_name(r.key)}:2,").write_bytes(originals[r.key])
    _, control_files = _notmuch(control, tmp_path)
    readable = {Path(f).name.split(":")[0] for f in control_files}
    env, files = _notmuch(out, tmp_path)
    indexed = {Path(f) for f in files}
    assert indexed == {p for p, r in expected.items() if safe_name(r.key) in readable}
    assert len(readable) > 700
    for label in ("Work/Projects", "Ünïcode label", "\\Inbox"):
        folder = "/".join(folder_parts(label))
        hits = subprocess.run(["notmuch", "search", "--output=files", f'folder:"{folder}"'], env=env,
                              check=True, capture_output=True, text=True).stdout.splitlines()
        in_folder = {Path(h) for h in hits if Path(h).parent.parent == out / folder}
        assert in_folder == {p for p, r in expected.items()
                             if label in r.labels and p.parent.parent == out / folder and
                             safe_name(r.key) in readable}
        assert in_folder


def test_filters_and_output_rules(corpus_archive: Built, tmp_path: Path) -> None:
    archive, records, _ = corpus_archive
    since = dt.datetime.fromtimestamp(records[100].internaldate, dt.UTC)
    until = dt.datetime.fromtimestamp(records[400].internaldate, dt.UTC)
    result = export(archive, "latest", "eml", tmp_path / "f", labels=["Family", "Starred"], since=since,
                    until=until)  # "Starred": the Takeout name of \Starred
    want = {r.key for r in records[100:400] if {"Family", "\\Starred"} & set(r.labels)}
    got = {json.loads(line)["key"] for line in (tmp_path / "f" / "index.jsonl").read_text().splitlines()}
    assert got == want and result.selected == len(want) > 10
    with pytest.raises(UsageError):
        export(archive, "latest", "eml", tmp_path / "f")
    with pytest.raises(UsageError):
        export(archive, "latest", "pdf", tmp_path / "g")
    (tmp_path / "x.mbox").write_bytes(b"keep me")
    with pytest.raises(UsageError):
        export(archive, "latest", "mbox", tmp_path / "x.mbox")
    assert (tmp_path / "x.mbox").read_bytes() == b"keep me"
    again = export(archive, "latest", "eml", tmp_path / "f", labels=["Family"], overwrite=True)
    assert again.complete and again.messages == sum("Family" in r.labels for r in records)
