"""One ``--label`` rule for ls, export and restore (``archiver.labels``)."""

from __future__ import annotations

from archiver.labels import label_filter, label_matches, takeout_name
from archiver.ops.restore.plan import select
from tests.store.conftest import record


def test_label_matches() -> None:
    for wanted in ("\\Inbox", "Inbox", "inbox", "\\inbox", "INBOX"):
        assert label_matches(wanted, "\\Inbox"), wanted
    assert label_matches("Sent", "\\Sent") and label_matches("Drafts", "\\Draft")
    assert label_matches("inbox", "INBOX") and not label_matches("\\Inbox", "INBOX")
    assert label_matches("Work", "Work") and not label_matches("work", "Work")  # user labels: exact
    assert not label_matches("Inbox", "\\Sent") and not label_matches("Sent", "Sent Items")
    assert takeout_name("\\Junk") == "Spam" and takeout_name("Work/Q1") == "Work/Q1"


def test_filter_and_restore_select_agree() -> None:
    recs = [record("a", "a", labels=("\\Inbox", "Work")), record("b", "b", labels=("\\Sent",)),
            record("c", "c", labels=("Home",))]
    for wanted, keys in ((["Inbox"], ["a"]), (["sent", "Home"], ["b", "c"]), (["work"], []),
                         (["\\inbox"], ["a"])):
        carries = label_filter(wanted)
        assert [r.key for r in recs if carries(r.labels)] == keys, wanted
        assert sorted(r.key for r in select(recs, labels=wanted)) == keys, wanted
