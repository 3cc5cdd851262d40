"""Fixtures of the IMAP-layer tests: logged-in sessions on the private Dovecot, corpus samples."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver.imap import Credentials, Session, connect, parse_url
from tests.servers.dovecot import DovecotServer


def open_session(server: DovecotServer, password: str = "secret") -> Session:
    return connect(parse_url(f"imap://alice@127.0.0.1:{server.port}"), Credentials(password=password),
                   timeout=20)


@pytest.fixture
def session(dovecot: DovecotServer) -> Iterator[Session]:
    s = open_session(dovecot)
    yield s
    s.logout()


@pytest.fixture
def gsession(dovecot_sdbox: DovecotServer) -> Iterator[Session]:
    """A session on the Gmail-like Dovecot (LITERAL-, no QRESYNC, sdbox)."""
    s = open_session(dovecot_sdbox)
    yield s
    s.logout()


def corpus_rows(corpus_dir: Path) -> list[dict[str, str]]:
    with (corpus_dir / "manifest.tsv").open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def corpus_message(corpus_dir: Path, row: dict[str, str]) -> bytes:
    """The message as a server would hold it (an mbox ``From `` line stripped)."""
    data = (corpus_dir / row["path"]).read_bytes()
    if "leading_from_line" in row["flags"].split(","):
        data = data.split(b"\n", 1)[1]
    return data


def corpus_sample(corpus_dir: Path, n: int = 50) -> list[tuple[str, bytes]]:
    """~n varied messages: every edge-case flag represented (no NUL, no empty), both > 1 MiB ones."""
    rows = corpus_rows(corpus_dir)
    picked: dict[str, dict[str, str]] = {}
    wanted_flags = ["over_1MiB", "crlf_line_endings", "mixed_line_endings", "invalid_utf8_bytes",
                    "8bit_headers",
                    "line_over_998", "leading_from_line", "no_header_body_separator", "non_utf8_charset",
                    "no_message_id", "shared_message_id", "pgp_mime", "smime", "message_partial",
                    "unescaped_From_line_in_body", "uuencode", "dsn_multipart_report", "encoded_word_header"]
    for flag in wanted_flags:
        for row in [r for r in rows if flag in r["flags"].split(",")][:3]:
            picked.setdefault(row["path"], row)
    for row in rows[:: max(1, len(rows) // n)]:
        if len(picked) >= n:
            break
        picked.setdefault(row["path"], row)
    out = []
    for path, row in sorted(picked.items()):
        flags = row["flags"].split(",")
        if "nul_bytes" in flags or "empty_file" in flags:
            continue
        out.append((path, corpus_message(corpus_dir, row)))
    return out
