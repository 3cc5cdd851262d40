"""The rewrite journal's records: every type survives encode -> journal -> decode; unknown ones are
skipped."""

from __future__ import annotations

from pathlib import Path

from archiver.store import Journal
from archiver.store.rewrite_records import (
    Appended,
    Begin,
    Done,
    Finish,
    Intent,
    Place,
    Refused,
    Removed,
    Start,
    decode,
    decode_all,
    encode,
)


def test_round_trip_through_a_journal(tmp_path: Path) -> None:
    gm = Place("[Gmail]/All Mail", 7, 42, 1234567890123)
    records = [
        Start("r1", "rewrite", "fix-headers", "((), None)", 1.5),
        Begin("r1", "gm:1", "ab" * 32, "rewrite", (gm, Place("INBOX", 3, 9)), ("\\Inbox", "Work"),
              ("\\Seen",), 1_600_000_000, -300, False, 321, "cd" * 32, message_id="<1@x>",
              transform="fix-headers", note="stamped", freed=10, time=2.0),
        Intent("r1", "gm:1", "[Gmail]/All Mail", 7, 43, 2.5),
        Refused("r1", "gm:1", "[Gmail]/All Mail"),
        Removed("r1", "gm:1"),
        Appended("r1", "gm:1", Place("[Gmail]/All Mail", 7, 43, 99)),
        Done("r1", "gm:1", (Place("[Gmail]/All Mail", 7, 43, 99),), 98, 3.0),
        Finish("r1", 4.0),
    ]
    j = Journal(tmp_path / "j.journal")
    for r in records:
        j.append(encode(r))
    assert decode_all(j) == (records, 0)


def test_unknown_op_newer_version_and_malformed_are_skipped() -> None:
    assert decode({"op": "later", "v": 1, "run": "r", "key": "k"}) is None
    assert decode({**encode(Removed("r", "k")), "v": 2}) is None
    assert decode({"op": "appended", "v": 1, "run": "r", "key": "k", "place": ["x", 1]}) is None
    assert decode({"op": "removed", "v": 1, "run": "r"}) is None
    assert decode(encode(Removed("r", "k"))) == Removed("r", "k")
