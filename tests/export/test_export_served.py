"""Backup from the Gmail emulator (real sockets), then export: every exported body equals what the server
served for that message, and the labels in the export are the server's."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

from archiver import Credentials, backup, export, open_archive
from archiver.emulator import EmulatorConfig, GmailEmulator
from archiver.export_formats import labels_header_value
from tests.query.builder import corpus_messages

USER, PASSWORD = "me@gmail.com", "app-password-16c"
LABELS = [("\\Inbox",), ("\\Inbox", "Work"), ("Work", "Clients/2019"), (), ("\\Sent",),
          ("Réunions", "\\Starred"), ("\\Important", "Family")]


@pytest.fixture
def emu() -> Iterator[GmailEmulator]:
    with GmailEmulator(EmulatorConfig()) as server:
        server.add_account(USER, password=PASSWORD)
        yield server


def served(server: GmailEmulator) -> dict[int, bytes]:
    """X-GM-MSGID -> BODY.PEEK[] from All Mail, read with plain imapclient."""
    with IMAPClient("127.0.0.1", port=server.port, ssl=False) as c:
        c.login(USER, PASSWORD)
        c.select_folder(server.folder_name("all"), readonly=True)
        items = c.fetch(c.search("ALL"), ["X-GM-MSGID", "BODY.PEEK[]"]).values()
        return {item[b"X-GM-MSGID"]: item[b"BODY[]"] for item in items}


def test_exports_equal_what_the_server_served(emu: GmailEmulator, corpus_dir: Path, tmp_path: Path) -> None:
    msgs = corpus_messages(corpus_dir, step=6)
    for i, (_, raw, _) in enumerate(msgs):
        emu.seed(USER, raw, labels=LABELS[i % len(LABELS)], flags=("\\Seen",) if i % 2 else ())
    result = backup(tmp_path / "a", f"imap://me%40gmail.com@127.0.0.1:{emu.port}",
                    credentials=Credentials(password=PASSWORD), init=True)
    assert result.complete
    bodies = served(emu)
    assert len(bodies) == len(msgs)
    view = open_archive(tmp_path / "a")
    mailbox = view.snapshot()
    assert len(mailbox) == len(msgs)

    out = export(view.archive, "latest", "eml", tmp_path / "eml")
    assert out.complete and out.messages == len(msgs)
    for line in (tmp_path / "eml" / "index.jsonl").read_text().splitlines():
        entry = json.loads(line)
        assert (tmp_path / "eml" / entry["file"]).read_bytes() == bodies[entry["gm_msgid"]]
        server_labels = set(emu.message(USER, entry["gm_msgid"]).labels)
        assert set(entry["labels"]) == server_labels

    export(view.archive, "latest", "mbox", tmp_path / "m.mbox")
    text = (tmp_path / "m.mbox").read_bytes()
    want = {(str(m.gm_thrid), labels_header_value(m.labels)) for m in mailbox}
    got = [(t.decode(), lb.decode()) for t, lb in
           re.findall(rb"(?m)^X-GM-THRID: (\d+)\r?\nX-Gmail-Labels: ([^\r\n]*)", text)]
    assert set(got) <= want
    headless = sum(bodies[m.gm_msgid][:1] in (b" ", b"\t") for m in mailbox if m.gm_msgid is not None)
    assert len(got) == len(msgs) - headless
