"""Pure conversions on canned wire data: labels, roles, response codes, UID sets, dates, headers, mUTF-7."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response

from archiver.imap import convert, mutf7


def test_meta_from_gmail_fetch_both_label_forms() -> None:
    raw = [(b'1 (X-GM-THRID 1278455344230334865 X-GM-MSGID 1278455344230334901 X-GM-LABELS ("\\\\Inbox" '
            b'\\Sent "Muy Importante" "R&AOk-unions" "a (b) [c]" 2019 [Mailbox]) UID 205 MODSEQ (8366001) '
            b'FLAGS (\\Seen \\Recent $NotJunk) INTERNALDATE "17-Jul-2019 09:40:08 -0230" RFC822.SIZE 2481 '
            b'BODY[HEADER.FIELDS (MESSAGE-ID)] {26}', b'Message-ID:\r\n\t<a@b.c> \r\n\r\n'), b')']
    item = parse_fetch_response(raw, False, True)[205]
    meta = convert.meta_from_fetch(205, item, gmail=True)
    assert meta is not None
    assert meta.gm_labels == ("2019", "Muy Importante", "Réunions", "[Mailbox]", "\\Inbox", "\\Sent",
                              "a (b) [c]")
    assert (meta.gm_msgid, meta.gm_thrid, meta.modseq) == (1278455344230334901, 1278455344230334865, 8366001)
    assert meta.flags == ("$NotJunk", "\\Seen")
    assert meta.tz_minutes == -150
    assert meta.internaldate == int(dt.datetime(2019, 7, 17, 12, 10, 8, tzinfo=dt.UTC).timestamp())
    assert meta.message_id == "<a@b.c>" and meta.size == 2481


def test_meta_needs_basic_items_and_empty_labels() -> None:
    item = parse_fetch_response([b"2 (UID 7 FLAGS (\\Seen))"], False, True)[7]
    assert convert.meta_from_fetch(7, item, gmail=True) is None  # an unsolicited flag update
    item = parse_fetch_response([b'3 (UID 8 X-GM-LABELS () INTERNALDATE "01-Jan-2020 00:00:00 +0000" '
                                 b"RFC822.SIZE 5 FLAGS ())"], False, True)[8]
    meta = convert.meta_from_fetch(8, item, gmail=True)
    assert meta is not None and meta.gm_labels == () and meta.message_id is None


def test_roles_from_special_use_and_xlist() -> None:
    assert convert.role_from_flags(["\\HasNoChildren", "\\All"]) == "\\All"
    assert convert.role_from_flags(["\\AllMail"]) == "\\All"
    assert convert.role_from_flags(["\\Spam"]) == "\\Junk"
    assert convert.role_from_flags(["\\Starred"]) == "\\Flagged"
    assert convert.role_from_flags(["\\HasChildren"]) is None
    assert not convert.is_selectable(["\\HasChildren", "\\Noselect"])


def test_response_codes_anywhere() -> None:
    assert convert.response_codes(b"OK Success [THROTTLED]") == {"THROTTLED": ""}
    assert convert.parse_appenduid(b"[APPENDUID 26 485] (Success)") == (26, 485)
    assert convert.parse_appenduid("OK (Success)") == (None, None)
    assert convert.parse_copyuid(b"[COPYUID 38505 304,319:320 3956:3958] Done") == {304: 3956, 319: 3957,
                                                                                   320: 3958}
    assert convert.parse_copyuid(b"[COPYUID 1 1:3 5] bad") == {}


@given(st.sets(st.integers(min_value=1, max_value=5000), max_size=300))
def test_uid_set_round_trips(uids: set[int]) -> None:
    assert convert.parse_uid_set(convert.uid_set(uids)) == sorted(uids)


def test_chunks_stay_under_limit() -> None:
    uids = list(range(1_000_000, 1_010_000, 2))
    chunks = list(convert.chunk_uids(uids, 8000))
    assert [u for c in chunks for u in c] == uids
    assert all(len(",".join(map(str, c))) <= 8000 for c in chunks)


def test_internaldate_keeps_offset() -> None:
    tz = dt.timezone(dt.timedelta(hours=-3, minutes=-30))
    assert convert.format_internaldate(dt.datetime(2001, 2, 3, 4, 5, 6, tzinfo=tz)) == \
        '"03-Feb-2001 04:05:06 -0330"'
    assert convert.format_internaldate(dt.datetime(2001, 2, 3, 4, 5, 6)) == '"03-Feb-2001 04:05:06 +0000"'


def test_header_value() -> None:
    assert convert.header_value(b"Message-Id: <x@y>\r\n\r\n") == "<x@y>"
    assert convert.header_value(b"\r\n") is None
    assert convert.header_value(None) is None


def test_mutf7_known_values() -> None:
    assert mutf7.encode("Réunions") == "R&AOk-unions"
    assert mutf7.encode("A&B") == "A&-B"
    assert mutf7.decode("&ZeVnLIqe-") == "日本語"
    assert mutf7.decode(b"[Gmail]/&BBIEQQRP- &BD8EPgRHBEIEMA-") == "[Gmail]/Вся почта"
    assert mutf7.decode("bad &!!- kept") == "bad &!!- kept"


@given(st.text(max_size=40))
def test_mutf7_round_trips(text: str) -> None:
    encoded = mutf7.encode(text)
    assert encoded.isascii()
    assert mutf7.decode(encoded) == text


@given(st.lists(st.integers(min_value=1, max_value=10**7), max_size=400, unique=True))
def test_chunked_uid_sets_cover_everything_within_limits(uids: list[int]) -> None:
    uids.sort()
    sets = list(convert.chunk_uid_sets(uids, max_chars=60, max_count=25))
    assert [u for s in sets for u in convert.parse_uid_set(s)] == uids
    assert all(len(s) <= 60 and len(convert.parse_uid_set(s)) <= 25 for s in sets)


def test_flags_to_send_are_atoms_without_recent_or_deleted() -> None:
    flags = ["\\Seen", "\\Recent", "\\Deleted", "$NotJunk", "bad keyword", "(x)", 'q"', "NotJunk",
             "\\Flagged"]
    assert convert.clean_flags(flags, for_append=True) == ("$NotJunk", "NotJunk", "\\Flagged", "\\Seen")
    assert convert.clean_flags(flags) == tuple(sorted(set(flags) - {"\\Recent"}))


def test_body_batches_by_size_and_by_count() -> None:
    sizes = {1: 600, 2: 600, 3: 100, 4: 5000, 5: 10}
    assert list(convert.body_batches([5, 4, 3, 2, 1, 1], sizes, 1000)) == [[1], [2, 3], [4], [5]]
    assert list(convert.body_batches(range(1, 8), None, 1000, count=3)) == [[1, 2, 3], [4, 5, 6], [7]]
