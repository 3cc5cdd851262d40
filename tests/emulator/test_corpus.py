"""The shared corpus through the emulator: every message served back byte for byte (raw socket and
imapclient), Message-IDs read as the manifest lists them, APPEND de-duplication over real duplicates."""

from __future__ import annotations

import csv
import hashlib
import imaplib
import re
import socket
from pathlib import Path

import pytest
from imapclient import IMAPClient

from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, USER, Raw


def _load(corpus_dir: Path) -> list[tuple[dict[str, str], bytes]]:
    out = []
    with (corpus_dir / "manifest.tsv").open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            data = (corpus_dir / row["path"]).read_bytes()
            if "leading_from_line" in row["flags"].split(","):
                data = data.split(b"\n", 1)[1]
            out.append((row, data))
    return out


@pytest.fixture(scope="module")
def corpus(corpus_dir: Path) -> list[tuple[dict[str, str], bytes]]:
    return _load(corpus_dir)


def test_corpus_served_byte_exact(emu: GmailEmulator, corpus: list[tuple[dict[str, str], bytes]]) -> None:
    gids = [emu.seed(USER, data, labels=()) for _row, data in corpus]
    stored = {m.gm_msgid: m for m in emu.messages(USER)}
    for (row, _data), gid in zip(corpus, gids, strict=True):
        if row["n_message_id"] != "0":
            assert stored[gid].message_id == row["message_id"], row["path"]
        else:
            assert stored[gid].message_id is None, row["path"]
    raw = Raw(emu.port, timeout=30)
    raw.login()
    raw.cmd('EXAMINE "[Gmail]/All Mail"')
    lines = raw.cmd("UID FETCH 1:* (BODY.PEEK[])")
    assert lines[-1] == b"t3 OK Success\r\n"
    served = []
    for line in lines[:-1]:
        m = re.match(rb"\* \d+ FETCH \(UID \d+ BODY\[\] \{(\d+)\}\r\n", line)
        assert m is not None
        start = m.end()
        served.append(line[start:start + int(m.group(1))])
        assert line[start + int(m.group(1)):] == b")\r\n"
    assert [hashlib.sha256(s).digest() for s in served] == [hashlib.sha256(d).digest() for _r, d in corpus]
    raw.close()
    c = IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=30)
    c.login(USER, PASSWORD)
    c.select_folder("[Gmail]/All Mail", readonly=True)
    uids = c.search("ALL")
    got = {}
    for i in range(0, len(uids), 300):
        got.update(c.fetch(uids[i:i + 300], ["BODY.PEEK[]"]))
    assert [got[u][b"BODY[]"] for u in uids] == [d for _r, d in corpus]
    c.logout()


def _imaplib(port: int) -> imaplib.IMAP4:
    m = imaplib.IMAP4("127.0.0.1", port)
    m.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else each APPEND waits ~40 ms
    m.login(USER, PASSWORD)
    return m


def test_corpus_append_deduplicates_by_message_id(emu: GmailEmulator,
                                                  corpus: list[tuple[dict[str, str], bytes]]) -> None:
    m = _imaplib(emu.port)
    refused = 0
    for _row, data in corpus:
        try:
            typ, _ = m.append('"[Gmail]/All Mail"', "", None, data)
            assert typ == "OK"
        except imaplib.IMAP4.error:  # NUL byte: BAD, then the connection is closed
            assert b"\0" in data
            refused += 1
            m.shutdown()
            m = _imaplib(emu.port)
    m.logout()
    kept = [(row, data) for row, data in corpus if b"\0" not in data]
    assert refused == len(corpus) - len(kept) == 2
    ids = {row["message_id"] for row, _ in kept if row["n_message_id"] != "0"}
    no_id = sum(1 for row, _ in kept if row["n_message_id"] == "0")
    assert len(emu.messages(USER)) == len(ids) + no_id
