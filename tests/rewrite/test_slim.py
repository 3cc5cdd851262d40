"""slim-attachments: big attachments replaced by a note; the archive gives them back byte for byte through
the command the note names; the emulator's quota shows the bytes freed."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from imapclient import IMAPClient

from archiver import Credentials, backup
from archiver.emulator import GmailEmulator
from archiver.ops.rewrite import entity
from archiver.ops.rewrite.slim import slim_attachments
from archiver.ops.rewrite.transform import Rewritten, Unchanged
from tests.helpers.emulator import PASSWORD, USER, emu_url

REPO = Path(__file__).resolve().parents[2]
PDF = random.Random(7).randbytes(300_000)
SMALL = b"tiny attachment\r\n" * 10
PHOTO = random.Random(8).randbytes(40_000)


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def message(n: int = 1) -> bytes:
    return (f"From: Ana <ana@example.org>\r\nTo: bo@example.org\r\nSubject: report {n}\r\n"
            f"Date: Tue, 2 Jan 2018 10:00:00 +0100\r\nMessage-ID: <slim-{n}@example.org>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
            "preamble\r\n--outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
            "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"{'Die Zahlen, bitte prüfen. ' * 3000}\r\n"
            "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Die Zahlen</p>\r\n--alt--\r\n"
            "--outer\r\nContent-Type: application/pdf; name=\"Bericht März.pdf\"\r\n"
            "Content-Disposition: attachment; filename*=utf-8''Bericht%20M%C3%A4rz.pdf\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + b64(PDF) + (
            b"--outer\r\nContent-Type: text/plain; name=\"notes.txt\"\r\nContent-Disposition: attachment; "
            b"filename=\"notes.txt\"\r\n\r\n" + SMALL + b"\r\n--outer\r\nContent-Type: image/jpeg\r\n"
            b"Content-Disposition: inline; filename=\"photo.jpg\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n"
            + b64(PHOTO) + b"--outer--\r\nepilogue\r\n")


def test_big_attachments_replaced_the_rest_untouched() -> None:
    data = message()
    blob = hashlib.sha256(data).hexdigest()
    out = slim_attachments(30_000, "/backups/my mail")(data, blob_id=blob)
    assert isinstance(out, Rewritten), out
    assert out.freed == len(data) - len(out.data) and out.freed > 400_000
    assert "Bericht März.pdf (300000 bytes)" in out.note and "photo.jpg (40000 bytes)" in out.note
    assert "notes.txt" not in out.note  # under the limit
    root = entity.parse(out.data)
    leaves = list(root.leaves())
    assert [x.ctype for x in leaves] == ["text/plain", "text/html", "text/plain", "text/plain", "text/plain"]
    text, _html, pdf_note, notes, photo_note = leaves
    assert text.raw == entity.parse(data).children[0].children[0].raw  # the big text body is the body: kept
    assert notes.body == SMALL
    for note, name, size in ((pdf_note, "Bericht März.pdf", 300_000), (photo_note, "photo.jpg", 40_000)):
        said = entity.decoded(note).decode()
        assert name in said and f"{size} bytes" in said and blob in said and "/backups/my mail" in said
        assert f"gmail-archiver extract '/backups/my mail' {blob} --attachments DIR" in said
    assert out.data.startswith(data[:data.index(b"--outer")])
    assert out.data.endswith(b"--outer--\r\nepilogue\r\n")
    again = slim_attachments(30_000, "/backups/my mail")(out.data, blob_id="0" * 64)
    assert isinstance(again, Unchanged)


def test_nothing_over_the_limit_is_unchanged() -> None:
    assert isinstance(slim_attachments(500_000, "a")(message(), blob_id="0" * 64), Unchanged)
    single = b"Subject: big text\r\n\r\n" + b"words " * 100_000
    assert isinstance(slim_attachments(10, "a")(single, blob_id="0" * 64), Unchanged)
    # over the limit but smaller than the note that would replace it: left alone
    out = slim_attachments(2, "a")(message(), blob_id="0" * 64)
    assert isinstance(out, Rewritten) and "notes.txt" not in out.note


def test_corpus_never_crashes(corpus_dir: Path) -> None:
    slim = slim_attachments(1_000, "a")
    changed = 0
    for path in sorted(corpus_dir.rglob("*.eml")):
        data = path.read_bytes()
        out = slim(data, blob_id="0" * 64)
        if isinstance(out, Rewritten):
            changed += 1
            assert out.freed == len(data) - len(out.data) and out.freed > 0, path
    assert changed > 10


@pytest.mark.slow
def test_extract_brings_back_what_slim_removed_and_the_quota_shows_it(emu: GmailEmulator,
                                                                      tmp_path: Path) -> None:
    data = message()
    gid = emu.seed(USER, data, labels=("\\Inbox", "Reports"), flags=("\\Seen",))
    archive = tmp_path / "archive"
    result = backup(archive, emu_url(emu), credentials=Credentials(password=PASSWORD), init=True)
    assert not result.problems
    blob = hashlib.sha256(data).hexdigest()
    out = slim_attachments(30_000, str(archive))(data, blob_id=blob)
    assert isinstance(out, Rewritten)
    # the server side a rewrite does: the original deleted forever, the slim version appended
    with IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=10) as c:
        c.login(USER, PASSWORD)
        before = c.get_quota_root("INBOX")[1][0].usage
        c.select_folder("[Gmail]/All Mail")
        c.move(c.search(["X-GM-MSGID", gid]), "[Gmail]/Trash")
        c.select_folder("[Gmail]/Trash")
        c.delete_messages(c.search("ALL"))
        c.append("INBOX", out.data, flags=["\\Seen"])
        after = c.get_quota_root("INBOX")[1][0].usage
    assert emu.storage_used(USER) == len(out.data)
    assert before - after in (out.freed // 1024, out.freed // 1024 + 1)
    # a new backup: the latest snapshot holds only the slim version; the note's command still finds it
    backup(archive, emu_url(emu), credentials=Credentials(password=PASSWORD))
    said = entity.decoded(list(entity.parse(out.data).leaves())[2]).decode()
    command = next(line.strip() for line in said.splitlines() if line.strip().startswith("gmail-archiver "))
    argv = [tmp_path / "out" if a == "DIR" else a for a in shlex.split(command)[1:]]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "archiver", *map(str, argv)], capture_output=True, env=env,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "Bericht März.pdf").read_bytes() == PDF
    assert (tmp_path / "out" / "photo.jpg").read_bytes() == PHOTO
    assert (tmp_path / "out" / "notes.txt").read_bytes() == SMALL
