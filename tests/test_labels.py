"""One ``--label`` rule for ls, export and restore (``archiver.labels``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from archiver.errors import UsageError
from archiver.filters import MessageFilter
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
        assert sorted(r.key for r in select(recs, MessageFilter(labels=tuple(wanted)))) == keys, wanted


def test_message_filter() -> None:
    """One filter for ls, export, restore and the library: labels by the one rule, since inclusive, until
    exclusive, naive times UTC, an empty or inverted range refused, unknown labels named."""
    utc = dt.UTC
    recs = [replace(record("a", "a", labels=("\\Inbox",)), internaldate=100),
            replace(record("b", "b", labels=("Work",)), internaldate=200)]
    assert [r.key for r in MessageFilter().apply(recs)] == ["a", "b"]
    since = dt.datetime.fromtimestamp(200, tz=utc).replace(tzinfo=None)  # naive: UTC
    assert [r.key for r in MessageFilter(since=since).apply(recs)] == ["b"]
    until = dt.datetime.fromtimestamp(200, tz=utc)
    assert [r.key for r in MessageFilter(labels=("inbox", "Work"), until=until).apply(recs)] == ["a"]
    for lo, hi in ((until, until), (until, until - dt.timedelta(seconds=1))):
        with pytest.raises(UsageError):
            MessageFilter(since=lo, until=hi)
    seen: set[str] = set()
    assert list(MessageFilter(labels=("Nope",)).apply(recs, seen)) == [] and seen == {"\\Inbox", "Work"}
    where = MessageFilter.of(["Nope", "INBOX", "work"])
    assert where.unknown_labels(seen) == ["Nope", "work"]
    assert where.warnings(seen)[0] == ("--label 'Nope' matches no label of this snapshot; "
                                       "its labels: Work, \\Inbox")
