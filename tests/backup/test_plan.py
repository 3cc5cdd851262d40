"""Pure planning: folder diffs, record assembly (Gmail and generic keys), threads, counts."""

from __future__ import annotations

from archiver.model import FolderState
from archiver.ops.backup.keys import GenericKeys
from archiver.ops.backup.plan import (
    Entry,
    PreviousState,
    assemble_generic,
    assemble_gmail,
    diff_counts,
    generic_key,
    plan_folder,
)
from archiver.threads import ThreadIndex, root_key


def _e(uid: int, blob: str | None = None, **kw: object) -> Entry:
    base: dict[str, object] = dict(uid=uid, size=10, internaldate=1000 + uid, tz_minutes=0, flags=())
    base.update(kw)
    e = Entry(**base)  # type: ignore[arg-type]
    e.blob_id = blob
    return e


def test_plan_first_run_and_uidvalidity_change() -> None:
    p = plan_folder("INBOX", None, [], 7, 100, [3, 1, 2])
    assert p.remap and p.new_uids == (1, 2, 3) and p.kept_uids == () and p.gone_uids == ()
    prev = FolderState("INBOX", 7, 4, 100)
    p = plan_folder("INBOX", prev, [1, 2, 3], 8, 100, [1, 2])
    assert p.remap and p.new_uids == (1, 2) and p.gone_uids == (1, 2, 3)


def test_plan_incremental() -> None:
    prev = FolderState("INBOX", 7, 10, 100)
    p = plan_folder("INBOX", prev, [1, 2, 3, 5], 7, 100, [1, 3, 5, 10, 11])
    assert (p.new_uids, p.kept_uids, p.gone_uids) == ((10, 11), (1, 3, 5), (2,))
    assert p.changedsince is None and not p.refresh_all  # same HIGHESTMODSEQ: nothing changed
    p = plan_folder("INBOX", prev, [1, 2], 7, 140, [1, 2])
    assert p.changedsince == 100 and not p.refresh_all
    p = plan_folder("INBOX", FolderState("INBOX", 7, 3, None), [1, 2], 7, None, [1, 2])
    assert p.changedsince is None and p.refresh_all  # no CONDSTORE: re-read every flag
    # a checkpoint that holds part of the folder: the rest is new even below UIDNEXT
    p = plan_folder("INBOX", FolderState("INBOX", 7, 500, 100), [1, 2], 7, 100, [1, 2, 3, 4])
    assert p.new_uids == (3, 4)


def test_gmail_records_merge_copies_and_role_labels() -> None:
    allm = [_e(1, "b1", gm_msgid=11, gm_thrid=11, gm_labels=("\\Inbox", "work"), flags=("\\Seen",)),
            _e(2, None, gm_msgid=12, gm_thrid=11)]
    trash = [_e(5, "b3", gm_msgid=13, gm_thrid=13, gm_labels=("old",), flags=("\\Recent", "\\Seen"))]
    recs = assemble_gmail({"[Gmail]/All Mail": ("\\All", allm), "[Gmail]/Trash": ("\\Trash", trash)})
    assert [r.key for r in recs] == ["gm:11", "gm:13"]  # gm:12 has no body yet: left out
    r11, r13 = recs
    assert r11.labels == ("\\Inbox", "work") and r11.thread_id == "11" and r11.gm_msgid == 11
    assert r11.uids == (("[Gmail]/All Mail", 1),)
    assert r13.labels == ("\\Trash", "old") and r13.flags == ("\\Seen",)


def test_previous_entry_takes_the_role_label_back_off() -> None:
    recs = assemble_gmail({"T": ("\\Trash", [_e(5, "b", gm_msgid=1, gm_thrid=1, gm_labels=("x",))])})
    prev = PreviousState.build([FolderState("T", 1, 6, 9, "\\Trash")], recs)
    e = prev.entry("T", 5, "\\Trash")
    assert e.gm_labels == ("x",) and e.blob_id == "b"
    assert assemble_gmail({"T": ("\\Trash", [e])}) == recs


def test_generic_keys_labels_and_identical_copies() -> None:
    folders = {
        "INBOX": [_e(1, "aa", message_id="<m1@x>"), _e(2, "aa", message_id="<m1@x>"), _e(3, "bb")],
        "Work": [_e(7, "aa", message_id="<m1@x>", flags=("\\Flagged",))],
    }
    recs = {r.key: r for r in assemble_generic(folders, ThreadIndex(), {})}
    assert set(recs) == {generic_key("aa", 1), generic_key("aa", 2), generic_key("bb", 1)}
    assert recs["h:aa"].labels == ("INBOX", "Work") and recs["h:aa"].flags == ("\\Flagged",)
    assert recs["h:aa"].uids == (("INBOX", 1), ("Work", 7))
    assert recs["h:aa#2"].labels == ("INBOX",) and recs["h:aa#2"].uids == (("INBOX", 2),)
    assert recs["h:bb"].thread_id.startswith("x:")  # no ids at all: a thread of its own


def test_generic_threads_from_references_in_any_order() -> None:
    folders = {"INBOX": [
        _e(1, "c1", message_id="<child@x>", internaldate=1),   # arrives first
        _e(2, "p1", message_id="<root@x>", internaldate=2),
        _e(3, "o1", message_id="<other@x>", internaldate=3),
    ]}
    refs = {"c1": ("<root@x>", "<mid@x>"), "p1": (), "o1": ()}
    recs = {r.blob_id: r for r in assemble_generic(folders, ThreadIndex(), refs)}
    assert recs["c1"].thread_id == recs["p1"].thread_id == root_key("<root@x>")
    assert recs["o1"].thread_id != recs["p1"].thread_id
    # next run: a late reply to <mid@x> joins the same thread through the seeded index
    seeded = ThreadIndex((r.message_id, r.thread_id) for r in recs.values())
    later = assemble_generic({"INBOX": [_e(9, "l1", message_id="<late@x>")]}, seeded,
                             {"l1": ("<root@x>",)})
    assert later[0].thread_id == recs["p1"].thread_id


def test_remap_match_needs_one_unambiguous_body() -> None:
    recs = assemble_generic({"F": [_e(1, "aa", message_id="<a@x>"), _e(2, "bb", message_id="<b@x>"),
                                   _e(3, "cc", message_id="<b@x>"), _e(4, "dd"), _e(5, "ee"),
                                   _e(6, "ff", size=12)]},
                            ThreadIndex(), {})
    prev = PreviousState.build([FolderState("F", 1, 6, None)], recs)
    # Message-ID and size name one body: matched, whatever INTERNALDATE this folder's copy has
    found = prev.match_remapped("F", _e(40, None, message_id="<a@x>", internaldate=5))
    assert found is not None and found.blob_id == "aa"
    assert prev.match_remapped("F", _e(41, None, message_id="<a@x>", size=11)) is None
    # two bodies share Message-ID and size: download, even when a date would fit one of them
    assert prev.match_remapped("F", _e(42, None, message_id="<b@x>", internaldate=1003)) is None
    # no Message-ID: one body of that size, and the same INTERNALDATE
    found = prev.match_remapped("F", _e(44, None, size=12, internaldate=1006))
    assert found is not None and found.blob_id == "ff"
    assert prev.match_remapped("F", _e(45, None, size=12, internaldate=9)) is None
    assert prev.match_remapped("F", _e(46, None, internaldate=1004)) is None  # "dd" and "ee" look alike


def test_diff_counts() -> None:
    old = {r.key: r for r in assemble_generic({"F": [_e(1, "a"), _e(2, "b")]}, ThreadIndex(), {})}
    new = assemble_generic({"F": [_e(1, "a", flags=("\\Seen",))], "G": [_e(3, "c")]}, ThreadIndex(), {})
    c = diff_counts(old, new)
    assert (c.new, c.changed, c.deleted) == (1, 1, 1)


def test_folder_choice() -> None:
    from archiver.imap import Folder
    from archiver.ops.backup.scan import choose_folders

    class Listing:
        def __init__(self, *folders: Folder) -> None:
            self._folders = list(folders)

        def folders(self) -> list[Folder]:
            return self._folders

    def f(name: str, role: str | None = None, selectable: bool = True) -> Folder:
        return Folder(name, "/", (), role, selectable)

    server = Listing(f("INBOX"), f("Work"), f("[Gmail]", selectable=False), f("[Gmail]/All Mail", "\\All"),
                     f("[Gmail]/Bin", "\\Trash"), f("[Gmail]/Spam", "\\Junk"), f("[Gmail]/Sent", "\\Sent"))
    assert choose_folders(server, gmail=True, include_spam=False) == [  # type: ignore[arg-type]
        ("[Gmail]/All Mail", "\\All"), ("[Gmail]/Bin", "\\Trash")]
    assert choose_folders(server, gmail=True, include_spam=True)[-1] == ("[Gmail]/Spam", "\\Junk")  # type: ignore[arg-type]
    generic = choose_folders(server, gmail=False, include_spam=False)  # type: ignore[arg-type]
    assert [n for n, _r in generic] == ["INBOX", "Work", "[Gmail]/Bin", "[Gmail]/Sent", "[Gmail]/Spam"]


def test_numbered_keys_are_kept_given_in_order_and_never_reused() -> None:
    folders = {"INBOX": [_e(1, "aa"), _e(2, "bb"), _e(3, "aa")], "Work": [_e(7, "aa")]}
    keys = GenericKeys({})
    first = {r.key: r for r in assemble_generic(folders, ThreadIndex(), {}, keys)}
    assert sorted(first) == ["n:0000000000", "n:0000000001", "n:0000000002"]
    assert first["n:0000000000"].labels == ("INBOX", "Work") and first["n:0000000001"].uids == (("INBOX", 2),)
    assert first["n:0000000002"].uids == (("INBOX", 3),)  # the second copy of aa in INBOX
    assert keys.next_seq == 3
    # next run: bb deleted, aa moved out of Work, cc new: old keys kept, the number of bb never given again
    again = GenericKeys({k: r for k, r in first.items() if r.blob_id != "bb"}, key_seq=keys.next_seq)
    recs = {r.key: r for r in assemble_generic({"INBOX": [_e(1, "aa"), _e(3, "aa"), _e(9, "cc")]},
                                               ThreadIndex(), {}, again)}
    assert sorted(recs) == ["n:0000000000", "n:0000000002", "n:0000000003"]
    assert recs["n:0000000003"].blob_id == "cc" and recs["n:0000000000"].labels == ("INBOX",)


def test_v1_hash_keys_are_kept_and_new_mail_numbered_after_them() -> None:
    blob_a, blob_b = "a" * 64, "b" * 64
    v1 = {r.key: r for r in assemble_generic({"INBOX": [_e(1, blob_a), _e(2, blob_a)]}, ThreadIndex(), {})}
    assert sorted(v1) == [f"h:{blob_a}", f"h:{blob_a}#2"]
    keys = GenericKeys(v1)
    recs = assemble_generic({"INBOX": [_e(1, blob_a), _e(2, blob_a), _e(3, blob_a), _e(4, blob_b)]},
                            ThreadIndex(), {}, keys)
    assert [r.key for r in recs] == [f"h:{blob_a}", f"h:{blob_a}#2", "n:0000000000", "n:0000000001"]
    assert [r.uids for r in recs] == [(("INBOX", 1),), (("INBOX", 2),), (("INBOX", 3),), (("INBOX", 4),)]
