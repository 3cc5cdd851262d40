"""Journal records: typed and versioned, one encoding, byte-compatible with what earlier releases wrote."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest

from archiver.store import Archive
from archiver.store.journal_records import (
    VERSION,
    Confirmation,
    Dedup,
    JournalRecord,
    Refused,
    Sent,
    StoredBlob,
    UploadIntent,
    decode,
    decode_all,
    encode,
)

BLOB = "ab" * 32


def test_round_trip_through_a_journal(tmp_path: Path) -> None:
    records = [Confirmation("upload", "h:x", BLOB, 1700000000.5, 10, None, "INBOX", 7, 3),
               Confirmation("relabel", "gm:1", BLOB, 1700000001.0, gm_msgid=1),
               UploadIntent("h:x", BLOB, "Work", 8, 12, (10, 12))]
    stored = [StoredBlob("INBOX", 7, 1, BLOB, "<m@x>", ("<r@x>",), 5), StoredBlob("Sent", 2, 9, BLOB)]
    journal = Archive.init(tmp_path / "a").journal("j")
    journal.append(encode(records[:2]))
    journal.append(encode(records[2:]))
    journal.append(encode(stored))
    assert decode_all(journal) == ([*records, *stored], 0)
    assert all(r.version == VERSION for r in records + stored)  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        encode([records[0], stored[0]])


def test_restore_entries_are_byte_identical_to_the_untyped_ones() -> None:
    """The maps restore wrote before the records were typed, byte for byte (readers of either agree)."""
    old = {"v": 1, "op": "upload", "key": "h:x", "blob": BLOB, "t": 1.5, "bytes": 10, "folder": "INBOX",
           "uidvalidity": 7, "uid": 3}
    new = encode([Confirmation("upload", "h:x", BLOB, 1.5, 10, None, "INBOX", 7, 3)])
    assert msgpack.packb(new, use_bin_type=True) == msgpack.packb(old, use_bin_type=True)
    old_intent = {"v": 1, "op": "intent", "key": "h:x", "blob": BLOB, "folder": "INBOX", "uidvalidity": 7,
                  "uidnext": 4, "sizes": [10, 12]}
    new_intent = encode([UploadIntent("h:x", BLOB, "INBOX", 7, 4, (12, 10, 12))])
    assert msgpack.packb(new_intent, use_bin_type=True) == msgpack.packb(old_intent, use_bin_type=True)


def test_old_entries_still_read(tmp_path: Path) -> None:
    """A journal written the old way: backup's unversioned positional arrays, restore's batched maps (arrays
    come back from the store as tuples)."""
    journal = Archive.init(tmp_path / "a").journal("old")
    journal.append({"items": [["INBOX", 7, 1, BLOB, None, [], None],
                              ["All", 9, 4, BLOB, "<m@x>", ["<r>"], 12]]})
    journal.append({"batch": [{"v": 1, "op": "copy", "key": "h:x", "blob": BLOB, "t": 2, "bytes": 0,
                               "folder": "Work", "uidvalidity": 8, "uid": 1},
                              {"v": 1, "op": "intent", "key": "h:y", "blob": BLOB, "folder": "INBOX",
                               "uidvalidity": 7, "uidnext": 4, "sizes": [10]}]})
    records, skipped = decode_all(journal)
    assert skipped == 0
    assert records == [StoredBlob("INBOX", 7, 1, BLOB, version=0),
                       StoredBlob("All", 9, 4, BLOB, "<m@x>", ("<r>",), 12, version=0),
                       Confirmation("copy", "h:x", BLOB, 2.0, 0, None, "Work", 8, 1),
                       UploadIntent("h:y", BLOB, "INBOX", 7, 4, (10,))]


def test_unknown_versions_and_kinds_are_skipped_and_counted() -> None:
    newer = {"v": VERSION + 1, "op": "upload", "key": "h:x", "blob": BLOB, "t": 1, "bytes": 1}
    assert decode(newer) == ([], 1)
    item = ["INBOX", 7, 1, BLOB, None, [], None]
    assert decode({"v": VERSION + 1, "op": "stored", "items": [item]}) == ([], 1)
    assert decode({"v": 1, "op": "teleport", "key": "h:x", "blob": BLOB}) == ([], 1)
    ok = {"v": 1, "op": "untrash", "key": "gm:1", "blob": BLOB, "t": 1, "bytes": 0, "gm": 1}
    records, skipped = decode({"batch": [newer, ok, {"garbage": True}]})
    assert skipped == 2 and records == [Confirmation("untrash", "gm:1", BLOB, 1.0, gm_msgid=1)]
    # a malformed positional item is dropped, the rest of the entry still reads
    bad = ["INBOX", "x", 1, BLOB, None, [], None]
    good = ["INBOX", 7, 2, BLOB, None, [], None]
    assert decode({"items": [bad, good]}) == ([StoredBlob("INBOX", 7, 2, BLOB, version=0)], 0)


def test_late_append_records_round_trip_and_read_as_written_before_typing(tmp_path: Path) -> None:
    """``sent``, ``refused``, ``dedup`` and an intent's ``t``: typed records that encode to the maps restore
    wrote before they were typed (byte for byte), read back from a journal alone or in a batch."""
    records: list[JournalRecord] = [
        UploadIntent("h:x", BLOB, "INBOX", 7, 4, (10,), 1700000000.25),
        Sent("INBOX", 7, ("h:x", "h:y"), 1700000001.5),
        Refused("h:y", BLOB, "INBOX", 7, 1700000002.0),
        Dedup("h:x", BLOB, "INBOX", 7, 9, 1700000003.0)]
    untyped = [
        {"v": 1, "op": "intent", "key": "h:x", "blob": BLOB, "folder": "INBOX", "uidvalidity": 7,
         "uidnext": 4, "sizes": [10], "t": 1700000000.25},
        {"v": 1, "op": "sent", "folder": "INBOX", "uidvalidity": 7, "keys": ["h:x", "h:y"],
         "t": 1700000001.5},
        {"v": 1, "op": "refused", "key": "h:y", "blob": BLOB, "folder": "INBOX", "uidvalidity": 7,
         "t": 1700000002.0},
        {"v": 1, "op": "dedup", "key": "h:x", "blob": BLOB, "folder": "INBOX", "uidvalidity": 7, "uid": 9,
         "t": 1700000003.0}]
    for record, old in zip(records, untyped, strict=True):
        assert msgpack.packb(encode([record]), use_bin_type=True) == msgpack.packb(old, use_bin_type=True)
    journal = Archive.init(tmp_path / "a").journal("late")
    for old in untyped:
        journal.append(old)
    journal.append({"batch": untyped})
    journal.append(encode(records))
    assert decode_all(journal) == (records * 3, 0)


def test_late_append_records_malformed_parts_are_skipped() -> None:
    assert decode({"v": 1, "op": "sent", "folder": "INBOX", "keys": ["h:x"], "t": 1}) == ([], 1)  # no uv
    assert decode({"v": 1, "op": "dedup", "key": "h:x", "blob": BLOB, "folder": "INBOX",
                   "uidvalidity": 7}) == ([], 1)                                               # no uid
    assert decode({"v": 1, "op": "refused", "key": "h:x", "folder": "INBOX", "uidvalidity": 7}) == ([], 1)
    assert decode({"v": VERSION + 1, "op": "sent", "folder": "INBOX", "uidvalidity": 7,
                   "keys": []}) == ([], 1)
    # an intent written without a time reads as of unknown time (0) and encodes as it was written
    old = {"v": 1, "op": "intent", "key": "h:x", "blob": BLOB, "folder": "INBOX", "uidvalidity": 7,
           "uidnext": 4, "sizes": [10]}
    (intent,), skipped = decode(old)
    assert skipped == 0 and isinstance(intent, UploadIntent) and intent.time == 0.0
    assert encode([intent]) == old
