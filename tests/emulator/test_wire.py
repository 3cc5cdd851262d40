"""Properties of the emulator's wire helpers: modified UTF-7 and quoting round-trip through its parser."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.emulator import utf7
from archiver.emulator.wire import Atom, astring, compress_set, parse, parse_seqset, quote


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=40))
def test_utf7_round_trip(name: str) -> None:
    encoded = utf7.encode(name)
    assert encoded.isascii() and utf7.decode(encoded) == name


def test_utf7_known_values() -> None:
    assert utf7.encode("Réunions") == "R&AOk-unions"
    assert utf7.encode("A&B") == "A&-B"
    assert utf7.decode("&ZeVnLIqe-") == "日本語"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_quote_and_astring_parse_back(value: str) -> None:
    (q,) = parse(quote(value))
    assert q == value.encode("utf-8")
    encoded = utf7.encode(value)
    (a,) = parse(astring(encoded))
    assert (a.encode() if isinstance(a, Atom) else a) == encoded.encode()


def test_parse_sections_lists_literals() -> None:
    args = parse(b'1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]<0.10> X-GM-LABELS) (CHANGEDSINCE 5) '
                 b'{3}\r\nabc "a\\"b"')
    assert args == [Atom("1:*"), [Atom("UID"), Atom("BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]<0.10>"),
                                  Atom("X-GM-LABELS")], [Atom("CHANGEDSINCE"), Atom("5")], b"abc", b'a"b']


@given(st.sets(st.integers(1, 500), min_size=1, max_size=60))
def test_compress_set_round_trip(values: set[int]) -> None:
    ranges = parse_seqset(compress_set(sorted(values)), 500)
    assert {v for lo, hi in ranges for v in range(lo, hi + 1)} == values
