"""Restore edge cases seen in real runs: a label no server takes as a name, a read-only archive, a message
the server changes at the same size."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archiver import restore
from archiver.emulator import GmailEmulator
from archiver.imap import Credentials
from tests.helpers.emulator import PASSWORD, USER
from tests.restore.helpers import BASE, Msg, build_archive, client, folder_contents, message
from tests.servers.dovecot import DovecotServer

REPO = Path(__file__).resolve().parents[2]
ODD = [Msg(message(1), labels=("/Projects",), date=BASE + 1),
       Msg(message(2), labels=("Work//2020", "Kept"), date=BASE + 2),
       Msg(message(3), labels=("Kept",), date=BASE + 3)]
RENAMED = {"/Projects": "Restored/Projects", "Work//2020": "Restored/Work/2020"}


def test_a_label_with_an_empty_level_is_renamed_on_gmail(tmp_path: Path, emu: GmailEmulator) -> None:
    build_archive(tmp_path / "a", ODD)
    result = restore(tmp_path / "a", f"imap://{USER}@127.0.0.1:{emu.port}",
                     credentials=Credentials(password=PASSWORD))
    assert result.ok and result.uploaded == 3 and result.renamed == RENAMED
    labels = {m.data: m.labels for m in emu.messages(USER)}
    assert "Restored/Projects" in labels[ODD[0].data]
    assert {"Restored/Work/2020", "Kept"} <= labels[ODD[1].data] and "Kept" in labels[ODD[2].data]


def test_a_label_with_an_empty_level_is_renamed_on_dovecot(tmp_path: Path,
                                                                     dovecot: DovecotServer) -> None:
    build_archive(tmp_path / "a", ODD)
    p = subprocess.run([sys.executable, "-m", "archiver", "restore", str(tmp_path / "a"),
                        f"imap://alice@127.0.0.1:{dovecot.port}", "--json"], cwd=REPO, capture_output=True,
                       timeout=120, env={**os.environ, "GMAIL_ARCHIVER_PASSWORD": "secret"})
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["uploaded"] == 3 and doc["renamed_labels"] == RENAMED
    with client(dovecot.port) as c:
        assert [row[0] for row in folder_contents(c, "Restored/Projects")] == [ODD[0].data]
        assert [row[0] for row in folder_contents(c, "Restored/Work/2020")] == [ODD[1].data]
        assert sorted(row[0] for row in folder_contents(c, "Kept")) == [ODD[1].data, ODD[2].data]


def read_only_cli(archive: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``gmail-archiver restore ARCHIVE ARGS`` with ``archive`` read-only: by its modes, or, for root (who
    writes through modes), by a read-only bind mount in a private mount namespace."""
    cmd = [sys.executable, "-m", "archiver", "restore", str(archive), *args]
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("running as root without unshare: cannot make the archive read-only")
        cmd = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && '
               'exec "$@"', str(archive), *cmd]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, timeout=120,
                          env={**os.environ, "GMAIL_ARCHIVER_PASSWORD": PASSWORD})


def test_a_read_only_archive_fails_before_uploading_anything(tmp_path: Path, emu: GmailEmulator) -> None:
    build_archive(tmp_path / "a", [Msg(message(i), date=BASE + i) for i in range(60)])
    for path in [*(tmp_path / "a").rglob("*"), tmp_path / "a"]:
        os.chmod(path, 0o500 if path.is_dir() else 0o400)
    try:
        p = read_only_cli(tmp_path / "a", f"imap://{USER}@127.0.0.1:{emu.port}", "--no-progress")
        errs = p.stderr.decode()
        if os.geteuid() == 0 and "mount" in errs and "cannot write" not in errs:
            pytest.skip(f"no read-only bind mount here: {errs.strip()}")
        assert p.returncode == 1, errs
        assert "cannot write the restore journal" in errs and "nothing was uploaded" in errs
        assert emu.messages(USER) == []
        dry = read_only_cli(tmp_path / "a", f"imap://{USER}@127.0.0.1:{emu.port}", "--dry-run")
        assert dry.returncode == 0, dry.stderr                  # a dry run needs no journal
    finally:
        for path in [tmp_path / "a", *(tmp_path / "a").rglob("*")]:
            os.chmod(path, 0o700)


def test_nul_turned_into_0x80_at_the_same_size_is_listed_as_altered(tmp_path: Path,
                                                                    dovecot: DovecotServer) -> None:
    nul = message(1, body="a NUL \0 byte")
    build_archive(tmp_path / "a", [Msg(nul, labels=("INBOX",)), Msg(message(2), labels=("INBOX",))],
                  gmail=False)
    result = restore(tmp_path / "a", f"imap://alice@127.0.0.1:{dovecot.port}",
                     credentials=Credentials(password="secret"))
    with client(dovecot.port) as c:
        held = [row[0] for row in folder_contents(c, "INBOX")]
    assert nul.replace(b"\0", b"\x80") in held                     # what Dovecot did, at the same size
    assert result.uploaded == 2
    assert [(p.message_id, "0x80" in p.reason) for p in result.altered] == [("<1.restore@test>", True)]
