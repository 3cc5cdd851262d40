"""archiver.mail on hand-made headers and on every corpus message (never raises, finds what is there)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from archiver import mail

MSG = (b"From: a@example.org\r\nMessage-ID:\r\n  <abc@x.example>\r\nReferences: <r1@x> <r2@x>\r\n"
       b"\t<r3@x>\r\nIn-Reply-To: <r3@x> (comment)\r\nDate: Tue, 1 Nov 2022 10:00:00 +0100\r\n"
       b"Subject: hi\r\n\r\nbody\r\nMessage-ID: <not-a-header@x>\r\n")


def test_header_values_unfolded() -> None:
    assert mail.message_id(MSG) == "<abc@x.example>"
    assert mail.references(MSG) == ["<r1@x>", "<r2@x>", "<r3@x>"]
    assert mail.parent_id(MSG) == "<r3@x>"
    assert mail.subject(MSG) == "hi"
    assert mail.date(MSG) == dt.datetime(2022, 11, 1, 9, 0, tzinfo=dt.UTC)


def test_in_reply_to_only_and_missing_headers() -> None:
    raw = b"Subject: x\nIn-Reply-To: <p@x>\n\nMessage-ID: <body@x>\n"
    assert mail.message_id(raw) is None
    assert mail.references(raw) == ["<p@x>"]
    assert mail.parent_id(raw) == "<p@x>"
    assert mail.date(raw) is None
    assert mail.date(b"Date: not a date\n\n") is None


def test_odd_shapes() -> None:
    assert mail.message_id(b"") is None
    assert mail.message_id(b"\r\nMessage-ID: <x@y>\r\n") is None  # starts with the body
    # no header/body separator: the first non-header line ends the headers
    assert mail.message_id(b"Message-ID: <a@b>\nthis is body text\nMessage-ID: <c@d>\n") == "<a@b>"
    assert mail.message_id(b"message-id:   <a@b>   \n\n") == "<a@b>"
    assert mail.message_id(b"Message-Id: <a\xe9@b>\n\n") == "<a\xe9@b>"
    assert mail.normalize_id("  junk <a@b> <c@d>") == "<a@b>"
    assert mail.msgid_list("<a@b><a@b> <> <c@d>") == ["<a@b>", "<c@d>"]


def _corpus(corpus_dir: Path) -> list[tuple[bytes, str]]:
    out = []
    with (corpus_dir / "manifest.tsv").open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        raw = (corpus_dir / row["path"]).read_bytes()
        if "leading_from_line" in row["flags"]:
            raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
        out.append((raw, row["message_id"]))
    return out


def test_corpus_message_ids_match_manifest(corpus_dir: Path) -> None:
    """On all 775 real messages: no exception, and the Message-ID found is the one the manifest lists."""
    wrong = []
    for raw, expected in _corpus(corpus_dir):
        got = mail.message_id(raw)
        assert mail.ids(raw) == (got, mail.references(raw))
        mail.date(raw)
        if expected and mail.normalize_id(got) != mail.normalize_id(expected):
            wrong.append((expected, got))
    assert wrong == []
