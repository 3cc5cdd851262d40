"""Backup from the Gmail emulator (real sockets), then export: every exported body equals what the server
served for that message, and the labels in the export are the server's."""

from __future__ import annotations

import json
import re
from pathlib import Path

from imapclient import IMAPClient

from archiver import Credentials, backup, export, open_archive
from archiver.emulator import GmailEmulator
from archiver.ops.export.formats import labels_header_value
from tests.helpers.emulator import PASSWORD, USER
from tests.query.builder import corpus_messages

LABELS = [("\\Inbox",), ("\\Inbox", "Work"), ("Work", "Clients/2019"), (), ("\\Sent",),
          ("Réunions", "\\Starred"), ("\\Important", "Family")]


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


def test_generic_server_folders_become_maildir_folders(dovecot: object, corpus_dir: Path,
                                                       tmp_path: Path) -> None:
    from tests.servers.dovecot import DovecotServer

    assert isinstance(dovecot, DovecotServer)
    msgs = [raw for _, raw, _ in corpus_messages(corpus_dir, limit=60, step=11)]
    dovecot.write_maildir("alice", "INBOX", msgs[:40])
    dovecot.write_maildir("alice", "Work", msgs[30:60], flags="F")
    result = backup(tmp_path / "a", f"imap://alice@127.0.0.1:{dovecot.port}",
                    credentials=Credentials(password="secret"), init=True)
    assert result.complete
    view = open_archive(tmp_path / "a")
    records = list(view.snapshot())
    assert {label for r in records for label in r.labels} == {"INBOX", "Work"}
    out = export(view.archive, "latest", "maildir", tmp_path / "md")
    assert out.complete
    inbox = {p.name.split(".")[1] for p in (tmp_path / "md" / "cur").iterdir()}
    work = {p.name for p in (tmp_path / "md" / "Work" / "cur").iterdir()}
    assert len(inbox) == sum("INBOX" in r.labels for r in records) == 40
    # flags are the message's (the union over its folder copies): every Work copy is flagged
    assert len(work) == 30 and all("F" in name.rsplit(":2,", 1)[1] for name in work)
