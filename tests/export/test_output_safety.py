"""Export writes only regular files and folders it creates: never a device, FIFO or socket, never through a
symbolic link (at the output or planted inside it), private modes whatever the umask; ``-o -`` streams an
mbox; a label too long for a folder name is shortened instead of aborting the Maildir export."""

from __future__ import annotations

import datetime as dt
import json
import mailbox
import os
import socket
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver.cli import app
from archiver.errors import UsageError
from archiver.model import MessageRecord
from archiver.ops.export.formats import folder_parts, maildir_flags, safe_name
from archiver.ops.export.operation import export
from archiver.store import Archive
from tests.query.builder import commit, make_records, synthetic_messages

PRECIOUS = b"not yours to overwrite\n"
LONG = "Projects/" + "Überlange Beschriftung " * 14  # one part of 323 UTF-8 bytes
LONG_TOO = LONG + "!"  # same first 245 bytes: the hash suffix tells the two folders apart

NAME_MAX = 255  # bytes in a file name (Linux, macOS)
runner = CliRunner()
Built = tuple[Path, list[MessageRecord]]


def _build(path: Path, long_labels: bool) -> Built:
    archive = Archive.init(path)
    records = make_records(archive, synthetic_messages(12, size=500))
    records[0] = replace(records[0], labels=(LONG, "Work") if long_labels else ("Work", "\\Inbox"))
    if long_labels:
        records[1] = replace(records[1], labels=(LONG_TOO,))
    records[2] = replace(records[2], labels=())
    commit(archive, records, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    return path, records


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(tmp_path_factory.mktemp("safety") / "archive", long_labels=False)


@pytest.fixture(scope="module")
def long_built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(tmp_path_factory.mktemp("long") / "archive", long_labels=True)


@pytest.fixture
def archive(built: Built) -> Archive:
    return Archive.open(built[0])


@pytest.fixture
def precious(tmp_path: Path) -> Path:
    target = tmp_path / "precious"
    target.write_bytes(PRECIOUS)
    return target


def _walk(root: Path) -> Iterator[Path]:
    yield root
    for entry in root.iterdir():
        yield from _walk(entry) if entry.is_dir() and not entry.is_symlink() else [entry]


def test_fifo_and_socket_are_refused_even_with_overwrite(archive: Archive, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        for fmt in ("mbox", "maildir", "eml"):
            for overwrite in (False, True):
                with pytest.raises(UsageError, match="is a FIFO"):
                    export(archive, "latest", fmt, fifo, overwrite=overwrite)
                with pytest.raises(UsageError, match="is a socket"):
                    export(archive, "latest", fmt, sock_path, overwrite=overwrite)
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and stat.S_ISSOCK(os.lstat(sock_path).st_mode)
    finally:
        sock.close()
    res = runner.invoke(app, ["export", str(archive.path), "-o", str(fifo), "--overwrite"])
    assert res.exit_code == 2 and "FIFO" in res.stderr and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "sock"]  # no temporary file left


def test_device_nodes_are_refused(archive: Archive, tmp_path: Path) -> None:
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root (CAP_MKNOD)")
    for overwrite in (False, True):
        with pytest.raises(UsageError, match="is a device"):
            export(archive, "latest", "mbox", node, overwrite=overwrite)
    st = os.lstat(node)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    # the same refusal, proven above on our own node, keeps the real /dev/null as it is
    before = os.lstat("/dev/null")
    res = runner.invoke(app, ["export", str(archive.path), "-o", "/dev/null", "--overwrite"])
    after = os.lstat("/dev/null")
    assert res.exit_code == 2 and "is a device" in res.stderr
    assert (stat.S_ISCHR(after.st_mode), after.st_rdev, after.st_ino) == (True, before.st_rdev, before.st_ino)


def test_a_symlink_output_is_neither_followed_nor_replaced(archive: Archive, tmp_path: Path,
                                                           precious: Path) -> None:
    link = tmp_path / "out.mbox"
    link.symlink_to(precious)
    for overwrite in (False, True):
        with pytest.raises(UsageError, match="is a symbolic link") as info:
            export(archive, "latest", "mbox", link, overwrite=overwrite)
        assert str(precious) in str(info.value.hint)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    dir_link = tmp_path / "md"
    dir_link.symlink_to(folder)
    with pytest.raises(UsageError, match="is a symbolic link"):
        export(archive, "latest", "maildir", dir_link, overwrite=True)
    assert link.is_symlink() and precious.read_bytes() == PRECIOUS and list(folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "md", "out.mbox", "precious"]


def test_mbox_never_writes_through_a_planted_partial(archive: Archive, built: Built, tmp_path: Path,
                                                    precious: Path) -> None:
    out = tmp_path / "out.mbox"
    (tmp_path / "out.mbox.partial").symlink_to(precious)
    result = export(archive, "latest", "mbox", out)
    assert result.complete and result.messages == len(built[1])
    assert precious.read_bytes() == PRECIOUS and (tmp_path / "out.mbox.partial").is_symlink()
    box = mailbox.mbox(out, create=False)
    try:
        assert stat.S_ISREG(os.lstat(out).st_mode) and len(box) == len(built[1])
    finally:
        box.close()


def test_maildir_overwrite_refuses_planted_folder_links(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "md"
    export(archive, "latest", "maildir", out)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # a planted folder link (cur, new, tmp or a label folder) is refused before any message is written
    for planted in (out / "Work" / "cur", out / "tmp", out / "Work"):
        moved = planted.with_name(planted.name + ".real")
        planted.rename(moved)
        planted.symlink_to(elsewhere, target_is_directory=True)
        with pytest.raises(UsageError, match="is a symbolic link where export needs a folder") as info:
            export(archive, "latest", "maildir", out, overwrite=True)
        assert str(planted) in str(info.value) and list(elsewhere.iterdir()) == []
        planted.unlink()
        moved.rename(planted)


def test_maildir_overwrite_replaces_planted_file_links_as_names(archive: Archive, built: Built,
                                                               tmp_path: Path, precious: Path) -> None:
    out = tmp_path / "md"
    export(archive, "latest", "maildir", out)
    r = next(r for r in built[1] if "Work" in r.labels)
    name = f"{r.internaldate}.{safe_name(r.key)}.gmail-archiver:2,{maildir_flags(r.flags)}"
    # links planted as message files (in cur/ and in tmp/) are replaced as names, never written through
    (out / "Work" / "cur" / name).unlink()
    (out / "Work" / "cur" / name).symlink_to(precious)
    for label in r.labels:
        (out.joinpath(*folder_parts(label), "tmp") / name).unlink(missing_ok=True)
        (out.joinpath(*folder_parts(label), "tmp") / name).symlink_to(precious)
    result = export(archive, "latest", "maildir", out, overwrite=True)
    assert result.complete and precious.read_bytes() == PRECIOUS
    assert stat.S_ISREG(os.lstat(out / "Work" / "cur" / name).st_mode)
    assert (out / "Work" / "cur" / name).read_bytes() == Archive.open(built[0]).get_blob(r.blob_id)
    assert not any(p.is_symlink() for p in _walk(out) if p.parent.name == "cur")


def test_eml_never_writes_through_planted_partials(archive: Archive, built: Built, tmp_path: Path,
                                                  precious: Path) -> None:
    out = tmp_path / "eml"
    out.mkdir()
    (out / "index.jsonl.partial").symlink_to(precious)
    for r in built[1]:
        (out / f"{safe_name(r.key)}.eml.partial").symlink_to(precious)
    result = export(archive, "latest", "eml", out, overwrite=True)
    assert result.complete and precious.read_bytes() == PRECIOUS
    assert len((out / "index.jsonl").read_text().splitlines()) == len(built[1])
    assert all(stat.S_ISREG(os.lstat(out / f"{safe_name(r.key)}.eml").st_mode) for r in built[1])


def test_exports_are_private_under_umask_000(archive: Archive, tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        export(archive, "latest", "mbox", tmp_path / "all.mbox")
        export(archive, "latest", "maildir", tmp_path / "new" / "md")
        export(archive, "latest", "eml", tmp_path / "eml")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.lstat(tmp_path / "all.mbox").st_mode) == 0o600
    made = [*_walk(tmp_path / "new"), *_walk(tmp_path / "eml")]
    modes = {(p.is_dir(), stat.S_IMODE(os.lstat(p).st_mode)) for p in made}
    assert modes == {(True, 0o700), (False, 0o600)} and len(made) > 40


def test_stdout_streams_mbox_and_only_mbox(archive: Archive, built: Built, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["export", str(archive.path), "-o", "-", "--no-extra-headers"])
    assert res.exit_code == 0, res.output
    export(archive, "latest", "mbox", tmp_path / "file.mbox", extra_headers=False)
    assert res.stdout_bytes == (tmp_path / "file.mbox").read_bytes()
    n = len(built[1])
    assert f"1 mbox file of {n} messages" in res.stderr and "standard output" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.mbox"]  # no file named "-"
    for args in (["-f", "maildir"], ["-f", "eml"]):
        bad = runner.invoke(app, ["export", str(archive.path), "-o", "-", *args])
        assert bad.exit_code == 2 and bad.stdout == "" and "is for mbox" in bad.stderr, (args, bad.output)
    bad = runner.invoke(app, ["export", str(archive.path), "-o", "-", "--json"])
    assert bad.exit_code == 2 and json.loads(bad.stdout)["error"]["type"] == "UsageError"
    text = runner.invoke(app, ["export", str(archive.path), "-o", str(tmp_path / "x.mbox")])
    assert text.exit_code == 0 and f"1 mbox file of {n} messages" in text.stdout
    assert "files)" not in text.stdout


def test_a_label_too_long_for_a_folder_name_is_shortened(long_built: Built, tmp_path: Path) -> None:
    archive = Archive.open(long_built[0])
    records = long_built[1]
    result = export(archive, "latest", "maildir", tmp_path / "md")
    assert result.complete and result.messages == len(records)
    folders = {label: folder_parts(label) for label in (LONG, LONG_TOO)}
    for label, parts in folders.items():
        leaf = parts[-1]
        assert parts[0] == "Projects" and len(leaf.encode()) == NAME_MAX
        assert LONG.split("/")[1].startswith(leaf.rsplit("~", 1)[0]) and leaf == folder_parts(label)[-1]
        assert result.shortened_folders[label] == "/".join(parts)
    assert folders[LONG] != folders[LONG_TOO]
    assert set(result.shortened_folders) == {LONG, LONG_TOO}
    for r, label in ((records[0], LONG), (records[1], LONG_TOO)):
        name = f"{r.internaldate}.{safe_name(r.key)}.gmail-archiver:2,{maildir_flags(r.flags)}"
        assert (tmp_path / "md" / Path(*folders[label]) / "cur" / name).is_file()
    assert (tmp_path / "md" / "Work" / "cur").is_dir()
    # the full label stays in the eml index and the mbox headers; the CLI names the shortened folders
    export(archive, "latest", "eml", tmp_path / "eml")
    index = [json.loads(line) for line in (tmp_path / "eml" / "index.jsonl").read_text().splitlines()]
    assert {tuple(e["labels"]) for e in index if e["key"] == records[0].key} == {(LONG, "Work")}
    res = runner.invoke(app, ["export", str(archive.path), "-f", "maildir", "-o", str(tmp_path / "md2"),
                              "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["shortened_folders"] == result.shortened_folders
    res = runner.invoke(app, ["export", str(archive.path), "-f", "maildir", "-o", str(tmp_path / "md3")])
    assert res.exit_code == 0 and res.stderr.count("too long for a folder name") == 2
