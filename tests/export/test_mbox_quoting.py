"""mboxrd quoting and the Takeout label header, as properties (hypothesis) and worked cases."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.labels import takeout_name
from archiver.model import MessageRecord
from archiver.ops.export.formats import MboxWriter, envelope_sender, labels_header_value
from tests.helpers.mbox import split_mboxrd

LINES = st.sampled_from([b"From ", b">From ", b">>From x", b"From: a@b", b"", b" From", b"x", b"\r", b">"])
MESSAGES = st.lists(st.lists(LINES, max_size=6).map(lambda ls: b"\n".join(ls)), min_size=1, max_size=5)


def record(i: int, labels: tuple[str, ...] = ()) -> MessageRecord:
    return MessageRecord(key=f"gm:{i}", blob_id="0" * 64, size=0, internaldate=1_000_000_000 + i,
                         tz_minutes=0, flags=(), labels=labels, thread_id=str(i), message_id=None,
                         gm_msgid=i, gm_thrid=i)


@settings(max_examples=200, deadline=None)
@given(MESSAGES)
def test_mboxrd_round_trip(messages: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "m.mbox"
        w = MboxWriter(out, add_headers=False)
        for i, m in enumerate(messages):
            w.write([record(i)], m)
        w.close(True)
        data = out.read_bytes()
    got = [body for _, body in split_mboxrd(data)]
    assert got == [m if m.endswith(b"\n") else m + b"\n" for m in messages]
    assert not re.search(rb"(?m)^From (?!\S+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$)", data)


def test_labels_header_and_sender() -> None:
    assert labels_header_value(("\\Inbox", "\\Important", "Work/Projects", "a,b", 'say "hi"')) == \
        'Inbox,Important,Work/Projects,"a,b","say \\"hi\\""'
    names = [takeout_name(x) for x in ("\\Draft", "\\Junk", "\\Muted", "Ünï")]
    assert names == ["Drafts", "Spam", "Muted", "Ünï"]
    assert envelope_sender(b"Subject: x\nFrom: Ann <ann@example.org>\n\nFrom: no@body") == "ann@example.org"
    assert envelope_sender(b"From: bob@example.org (Bob)\r\n\r\n") == "bob@example.org"
    assert envelope_sender(b"To: x@y\n\nFrom: not@header") == "MAILER-DAEMON"
