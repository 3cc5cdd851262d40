"""fix-headers: each broken or missing field repaired, the original kept, every other byte untouched."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

from archiver import mail
from archiver.ops.rewrite.headers import fix_headers
from archiver.ops.rewrite.transform import Failed, Rewritten, Unchanged
from tests.conftest import CORPUS

BLOB = "0f" * 32
SOUND = (b"Received: from a.example by b.example; Tue, 2 Jan 2018 10:00:07 +0100\r\n"
         b"Received: from c.example by a.example; Tue, 2 Jan 2018 10:00:03 +0100\r\n"
         b"From: Ana <ana@example.org>\r\n"
         b"Date: Tue, 2 Jan 2018 10:00:00 +0100\r\n"
         b"Message-ID: <m1@example.org>\r\n"
         b"Subject: =?utf-8?q?Caf=C3=A9?=\r\n\r\nbody\r\n")


def without(data: bytes, name: bytes) -> bytes:
    return b"".join(line for line in data.splitlines(keepends=True) if not line.startswith(name + b":"))


def replaced(data: bytes, name: bytes, value: bytes) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" if line.startswith(name + b":") else line
                    for line in data.splitlines(keepends=True))


def run(data: bytes, **kw: object) -> Rewritten:
    out = fix_headers()(data, blob_id=BLOB, **kw)  # type: ignore[call-arg]
    assert isinstance(out, Rewritten), out
    again = fix_headers()(out.data, blob_id="1" * 64, **kw)  # type: ignore[call-arg]
    assert isinstance(again, Unchanged), again  # a second run changes nothing
    return out


def test_sound_messages_are_unchanged() -> None:
    assert fix_headers()(SOUND, blob_id=BLOB) == Unchanged("Date, Message-ID and From are sound")
    assert isinstance(fix_headers()(SOUND.replace(b"\r\n", b"\n"), blob_id=BLOB), Unchanged)


def test_missing_date_from_the_oldest_received() -> None:
    out = run(without(SOUND, b"Date"))
    assert mail.get(out.data, "Date") == "Tue, 02 Jan 2018 10:00:03 +0100"
    assert "Received" in out.note and mail.get(out.data, "X-Archiver-Original-Date") is None
    assert out.data.endswith(without(SOUND, b"Date"))  # the new field in front, nothing else moved


def test_broken_date_kept_as_original() -> None:
    broken = replaced(SOUND, b"Date", b"Tue, 32 Foo 20xx 99:99")
    out = run(broken)
    assert b"X-Archiver-Original-Date: Tue, 32 Foo 20xx 99:99\r\nDate: Tue, 02 Jan 2018 10:00:03 +0100\r\n" \
        in out.data
    assert out.data.replace(b"X-Archiver-Original-Date: Tue, 32 Foo 20xx 99:99\r\n", b"") == replaced(
        broken, b"Date", b"Tue, 02 Jan 2018 10:00:03 +0100")


def test_date_from_internaldate_when_no_received() -> None:
    bare = without(without(SOUND, b"Received"), b"Date")
    assert isinstance(fix_headers()(bare, blob_id=BLOB), Failed)
    when = datetime(2019, 5, 6, 7, 8, 9, tzinfo=UTC)
    out = run(bare, internaldate=when)
    assert email.utils.parsedate_to_datetime(mail.get(out.data, "Date") or "") == when
    assert "INTERNALDATE" in out.note
    # or looked up by blob id, for an operation that calls every transform alike
    by_blob = fix_headers({BLOB: when}.get)(bare, blob_id=BLOB)
    assert isinstance(by_blob, Rewritten) and by_blob.data == out.data


def test_message_id_missing_broken_or_bare() -> None:
    out = run(without(SOUND, b"Message-ID"))
    assert mail.message_id(out.data) == f"<{BLOB}@gmail-archiver.invalid>"
    out = run(replaced(SOUND, b"Message-ID", b"m1@example.org"))  # brackets lost: the same id, threads kept
    assert mail.message_id(out.data) == "<m1@example.org>"
    assert mail.get(out.data, "X-Archiver-Original-Message-ID") == "m1@example.org"
    out = run(replaced(SOUND, b"Message-ID", b""))
    assert mail.message_id(out.data) == f"<{BLOB}@gmail-archiver.invalid>"
    assert b"X-Archiver-Original-Message-ID: \r\n" in out.data


def test_from_missing_or_broken() -> None:
    broken = replaced(SOUND, b"From", b"Ana (no address)")
    out = run(broken.replace(b"Subject:", b"Sender: ana@example.org\r\nSubject:"))
    assert mail.get(out.data, "From") == "ana@example.org"
    assert mail.get(out.data, "X-Archiver-Original-From") == "Ana (no address)"
    out = run(without(SOUND, b"From").replace(b"Subject:", b"Return-Path: <bounce@example.org>\r\nSubject:"))
    assert mail.get(out.data, "From") == "<bounce@example.org>"
    out = run(without(SOUND, b"From"))
    assert mail.get(out.data, "From") == "Unknown sender <unknown@unknown.invalid>"


def test_all_three_at_once_and_8bit_headers() -> None:
    data = ("Subject: Grüße\r\nX-Note: ünïcode\r\n\r\nbody ü\r\n").encode()
    out = run(data, internaldate=datetime(2020, 1, 2, tzinfo=UTC))
    assert out.data.endswith(data)
    assert len(mail.headers(out.data)) == 5 and out.note.count(";") == 2


def test_last_field_replaced_keeps_the_separator() -> None:
    data = b"From: a@b.example\nMessage-ID: <x@y>\nDate: never"  # no body, no separator
    out = run(data, internaldate=datetime(2021, 3, 4, tzinfo=UTC))
    assert out.data == (b"From: a@b.example\nMessage-ID: <x@y>\nX-Archiver-Original-Date: never\n"
                        b"Date: Thu, 04 Mar 2021 00:00:00 +0000")


def test_corpus_never_crashes() -> None:
    counts = {"Rewritten": 0, "Unchanged": 0, "Failed": 0}
    for path in sorted(CORPUS.rglob("*.eml")):
        data = path.read_bytes()
        out = fix_headers()(data, blob_id=BLOB)
        counts[type(out).__name__] += 1
        if isinstance(out, Rewritten):
            assert len(out.data) > len(data)
            assert isinstance(fix_headers()(out.data, blob_id=BLOB), Unchanged | Failed), path
    assert counts["Rewritten"] > 50 and counts["Unchanged"] > 300
