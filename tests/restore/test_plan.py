"""The pure restore planner and the byte-level rewrite: every case of gmail-imap.md 4.4, no server."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib

from archiver.filters import MessageFilter
from archiver.model import MessageRecord
from archiver.ops.restore.plan import (
    ALL,
    FOLDER,
    TRASH,
    Evidence,
    JournalHit,
    Plan,
    TargetCopy,
    TargetIndex,
    content_questions,
    plan_generic,
    plan_gmail,
    rewritten_message_id,
    select,
)
from archiver.ops.restore.rewrite import (
    ORIGINAL_HEADER,
    generic_folders_for,
    gmail_label,
    gmail_labels_for,
    label_parents,
    rewrite_message_id,
)


def rec(key: str, body: bytes, *, mid: str | None = "<a@x>", labels: tuple[str, ...] = ("\\Inbox",),
        flags: tuple[str, ...] = ("\\Seen",),
        date: int = 1_000, gm: bool = True) -> MessageRecord:
    return MessageRecord(key=key, blob_id=hashlib.sha256(body).hexdigest(), size=len(body),
                         internaldate=date, tz_minutes=0, flags=tuple(flags), labels=tuple(labels),
                         thread_id="1", message_id=mid, gm_msgid=1 if gm else None)


def gm_plan(records: list[MessageRecord], copies: list[TargetCopy],
            digests: dict[tuple[str, int], str] | None = None,
            journal: dict[str, list[JournalHit]] | None = None, policy: str = "rewrite-message-id") -> Plan:
    index = TargetIndex(copies)
    ev = Evidence(digests=digests or {}, journal=journal or {})
    wanted = {r.key: r.labels for r in records}
    return plan_gmail(records, index, ev, wanted_labels=wanted, policy=policy)


def test_select_filters_and_orders_oldest_first() -> None:
    a = rec("a", b"a", labels=("Work",), date=300)
    b = rec("b", b"b", labels=("\\Inbox",), date=100)
    c = rec("c", b"c", labels=("Home",), date=200)
    assert [r.key for r in select([a, b, c])] == ["b", "c", "a"]
    assert [r.key for r in select([a, b, c], MessageFilter(labels=("work", "\\inbox")))] == ["b"]  # exact
    at = functools.partial(dt.datetime.fromtimestamp, tz=dt.UTC)
    assert [r.key for r in select([a, b, c], MessageFilter(since=at(200), until=at(300)))] == ["c"]


def test_empty_target_uploads_everything() -> None:
    r1, r2 = rec("a", b"one", mid="<1@x>"), rec("b", b"two", mid=None)
    plan = gm_plan([r1, r2], [])
    assert [a.kind for a in plan.actions] == ["upload", "upload"]
    assert plan.actions[0].add_labels == ("\\Inbox",)


def test_same_content_already_there_is_relabelled_not_uploaded() -> None:
    body = b"Message-ID: <1@x>\r\n\r\nhi\r\n"
    r = rec("a", body, mid="<1@x>", labels=("\\Inbox", "Work"), flags=("\\Seen", "\\Flagged"))
    copy = TargetCopy("[Gmail]/All Mail", ALL, 7, len(body), "<1@x>", flags=("\\Seen",), labels=("Work",),
                      gm_msgid=99)
    index = TargetIndex([copy])
    assert content_questions([r], index) == [(r, copy)]
    plan = gm_plan([r], [copy], digests={("[Gmail]/All Mail", 7): r.blob_id})
    (a,) = plan.actions
    assert (a.kind, a.add_labels, a.add_flags, a.copy) == ("relabel", ("\\Inbox",), ("\\Flagged",), copy)


def test_fully_present_is_present() -> None:
    r = rec("a", b"x", labels=("Work",))
    copy = TargetCopy("AM", ALL, 1, 1, "<a@x>", flags=("\\Seen",), labels=("Work",), gm_msgid=5)
    assert gm_plan([r], [copy], digests={("AM", 1): r.blob_id}).actions[0].kind == "present"


def test_trashed_copy_is_brought_back() -> None:
    r = rec("a", b"x")
    copy = TargetCopy("Trash", TRASH, 3, 1, "<a@x>", gm_msgid=5)
    (a,) = gm_plan([r], [copy], digests={("Trash", 3): r.blob_id}).actions
    assert a.kind == "untrash" and a.add_labels == ("\\Inbox",)


def test_trashed_in_snapshot_and_on_target_stays_present() -> None:
    r = rec("a", b"x", labels=("\\Trash",))
    copy = TargetCopy("Trash", TRASH, 3, 1, "<a@x>", flags=("\\Seen",), gm_msgid=5)
    assert gm_plan([r], [copy], digests={("Trash", 3): r.blob_id}).actions[0].kind == "present"


def test_edited_copy_follows_the_policy() -> None:
    r = rec("a", b"edited", mid="<a@x>")
    other = TargetCopy("AM", ALL, 1, 8, "<a@x>", gm_msgid=5)
    (rw,) = gm_plan([r], [other]).actions
    assert rw.kind == "upload" and rw.rewrite_id == rewritten_message_id(r) and rw.conflict_with == other
    (sk,) = gm_plan([r], [other], policy="skip").actions
    assert sk.kind == "conflict"
    (fo,) = gm_plan([r], [other], policy="force").actions
    assert fo.kind == "upload" and fo.rewrite_id is None and fo.conflict_with == other


def test_same_size_different_bytes_is_a_conflict() -> None:
    r = rec("a", b"AAAA")
    other = TargetCopy("AM", ALL, 1, 4, "<a@x>", gm_msgid=5)
    (a,) = gm_plan([r], [other], digests={("AM", 1): "f" * 64}).actions
    assert a.kind == "upload" and a.rewrite_id is not None


def test_previous_rewritten_upload_is_found() -> None:
    r = rec("a", b"edited")
    other = TargetCopy("AM", ALL, 1, 8, "<a@x>", gm_msgid=5)
    mine = TargetCopy("AM", ALL, 2, 99, rewritten_message_id(r), labels=("\\Inbox",), flags=("\\Seen",),
                      gm_msgid=6)
    index = TargetIndex([other, mine])
    assert (r, mine) in content_questions([r], index, rewrite=True)
    ev = {("AM", 2): "rewritten-digest"}
    index = TargetIndex([other, mine])
    plan = plan_gmail([r], index, Evidence(digests=ev, alt_ids={r.blob_id: frozenset({"rewritten-digest"})}),
                      wanted_labels={"a": ("\\Inbox",)}, policy="rewrite-message-id")
    assert plan.actions[0].kind == "present"


def test_two_snapshot_messages_sharing_a_message_id() -> None:
    r1, r2 = rec("a", b"first", date=1), rec("b", b"second", date=2)
    kinds = [(a.kind, a.rewrite_id is not None) for a in gm_plan([r1, r2], []).actions]
    assert kinds == [("upload", False), ("upload", True)]
    assert [a.kind for a in gm_plan([r1, r2], [], policy="skip").actions] == ["upload", "conflict"]


def test_byte_identical_duplicates_merge_labels_into_one_upload() -> None:
    r1, r2 = rec("a", b"same", labels=("A",)), rec("b", b"same", labels=("B",))
    plan = gm_plan([r1, r2], [])
    assert [a.kind for a in plan.actions] == ["upload", "present"]
    assert plan.actions[0].add_labels == ("A", "B")


def test_no_message_id_uses_the_journal() -> None:
    r = rec("a", b"x", mid=None)
    copy = TargetCopy("AM", ALL, 4, 1, None, labels=("\\Inbox",), flags=("\\Seen",), gm_msgid=77)
    hit = JournalHit(key="a", blob_id=r.blob_id, gm_msgid=77)
    assert gm_plan([r], [copy], journal={"a": [hit]}).actions[0].kind == "present"
    # the journal's message is gone from the target: upload again
    assert gm_plan([r], [], journal={"a": [hit]}).actions[0].kind == "upload"


def test_a_target_copy_satisfies_one_record_only() -> None:
    r1, r2 = rec("a", b"x", mid=None, gm=False), rec("b", b"x", mid=None, gm=False)
    copy = TargetCopy("INBOX", FOLDER, 1, 1, None, flags=("\\Seen",))
    index = TargetIndex([copy])
    ev = Evidence(digests={("INBOX", 1): r1.blob_id})
    plan = plan_generic([r1, r2], index, ev, wanted_folders={"a": ("INBOX",), "b": ("INBOX",)})
    assert [a.kind for a in plan.actions] == ["present", "upload"]


def test_generic_copies_into_missing_folders() -> None:
    r = rec("a", b"x", labels=("A", "B"), gm=False)
    copy = TargetCopy("A", FOLDER, 9, 1, "<a@x>", flags=("\\Seen",))
    plan = plan_generic([r], TargetIndex([copy]), Evidence(digests={("A", 9): r.blob_id}),
                        wanted_folders={"a": ("A", "B")})
    (a,) = plan.actions
    assert (a.kind, a.missing, a.copy) == ("relabel", ("B",), copy)
    hit = JournalHit(key="a", blob_id=r.blob_id, folder="B", uidvalidity=1, uid=3)
    both = [copy, TargetCopy("B", FOLDER, 3, 1, "<a@x>")]          # B lacks \\Seen: add it, nothing else
    plan = plan_generic([r], TargetIndex(both), Evidence(digests={("A", 9): r.blob_id}, journal={"a": [hit]}),
                        wanted_folders={"a": ("A", "B")})
    (a,) = plan.actions
    assert (a.kind, a.missing, a.fix_flags) == ("relabel", (), (("B", 3, ("\\Seen",)),))


def test_rewrite_message_id_changes_only_that_field() -> None:
    raw = b"From: a@x\r\nMessage-Id:\r\n <1@x>\r\nSubject: s\r\n\r\nMessage-ID: <body@x>\r\n"
    out = rewrite_message_id(raw, "<restored.ab.1@x>")
    assert out == (b"From: a@x\r\nMessage-ID: <restored.ab.1@x>\r\n" + ORIGINAL_HEADER
                   + b":\r\n <1@x>\r\nSubject: s\r\n\r\nMessage-ID: <body@x>\r\n")
    lf = rewrite_message_id(b"Message-ID: <1@x>\nX: y\n\nbody\n", "<n@x>")
    assert lf == b"Message-ID: <n@x>\n" + ORIGINAL_HEADER + b": <1@x>\nX: y\n\nbody\n"


def test_rewritten_id_is_deterministic() -> None:
    r = rec("a", b"x", mid="<abc@host>")
    assert rewritten_message_id(r) == f"<restored.{r.blob_id[:16]}.abc@host>"


def test_label_mapping() -> None:
    assert gmail_label("\\Drafts") == "\\Draft"
    assert gmail_label("Spam") == "Restored/Spam"
    assert gmail_label("[Gmail]/Foo") == "Restored/[Gmail]/Foo"
    assert gmail_label("  Two  words ") == "Two words"
    generic = rec("a", b"x", labels=("INBOX", "Sent Items", "All", "Work"), flags=("\\Flagged",), gm=False)
    roles = {"Sent Items": "\\Sent", "All": "\\All"}
    assert gmail_labels_for(generic, roles) == ("\\Inbox", "\\Sent", "Work", "\\Starred")
    assert label_parents(["A/B/C", "\\Inbox", "D"]) == ["A", "A/B", "A/B/C", "D"]


def test_generic_folder_mapping() -> None:
    gm = rec("a", b"x", labels=("\\Inbox", "\\Sent", "\\Starred", "A/B"))
    assert generic_folders_for(gm, source_roles={}, target_roles={"\\Sent": "Sent Mail"}, delimiter=".",
                               default_folder="INBOX") == ("INBOX", "Sent Mail", "A.B")
    none = rec("b", b"x", labels=(), gm=True)
    assert generic_folders_for(none, source_roles={}, target_roles={}, delimiter="/",
                               default_folder="Archive") == ("Archive",)
