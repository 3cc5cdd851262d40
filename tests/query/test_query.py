"""The read-only views: lookups, labels, threads, raw bytes and snapshot diffs on a real archive."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from archiver import open_archive
from archiver.errors import ArchiveNotFound, UsageError
from archiver.model import MessageRecord
from archiver.store import Archive
from tests.query.builder import commit, corpus_messages, make_records

Setup = tuple[Path, list[MessageRecord], list[MessageRecord], dict[str, bytes]]


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Setup:
    """s1: 120 corpus messages; s2: 10 removed, 5 added, every 4th relabelled, every 6th reflagged."""
    path = tmp_path_factory.mktemp("query") / "archive"
    archive = Archive.init(path)
    msgs = corpus_messages(corpus_dir, limit=125, step=5)
    recs = make_records(archive, msgs)
    s1 = recs[:120]
    commit(archive, s1, dt.datetime(2024, 2, 1, tzinfo=dt.UTC))
    s2 = []
    for i, r in enumerate(s1[10:], start=10):
        if i % 4 == 0:
            r = replace(r, labels=tuple(sorted({*r.labels, "New label"})))
        if i % 6 == 0:
            r = replace(r, flags=tuple(sorted({*r.flags} ^ {"\\Seen"})))
        s2.append(r)
    s2 += recs[120:]
    commit(archive, s2, dt.datetime(2024, 2, 2, tzinfo=dt.UTC))
    originals = {r.key: data for r, (_, data, _) in zip(recs, msgs, strict=True)}
    return path, s1, s2, originals


def test_snapshot_lookups(two: Setup) -> None:
    path, _, s2, originals = two
    view = open_archive(path)
    assert [i.message_count for i in view.snapshots()] == [120, 115]
    latest = view.snapshot()
    assert latest.info.id == view.snapshot("2024-02-03").info.id == view.snapshot(latest.info.id[:6]).info.id
    assert view.snapshot("2024-02-01T12:00:00+00:00").info.message_count == 120
    assert list(latest) == sorted(s2, key=lambda r: r.key) and len(latest) == 115
    for r in s2[::7]:
        assert latest.get(r.key) == r
        assert latest.labels_of(r.key) == r.labels
        assert latest.raw(r) == originals[r.key]
    assert latest.get("gm:0") is None
    with pytest.raises(KeyError):
        latest.raw("gm:0")
    assert dict((m.key, d) for m, d in latest.iter_raw()) == {r.key: originals[r.key] for r in s2}
    with pytest.raises(UsageError):
        view.snapshot("2023-01-01")
    with pytest.raises(ArchiveNotFound):
        open_archive(path / "nope")


def test_labels_and_threads(two: Setup) -> None:
    path, _, s2, _ = two
    mailbox = open_archive(path).snapshot()
    assert set(mailbox.labels()) == {label for r in s2 for label in r.labels}
    for label in ("\\Inbox", "Work/Projects", "New label"):
        assert {m.key for m in mailbox.by_label(label)} == {r.key for r in s2 if label in r.labels}
    for r in s2[::9]:
        thread = mailbox.thread_of(r)
        assert {m.key for m in thread} == {x.key for x in s2 if x.thread_id == r.thread_id}
        assert [m.internaldate for m in thread] == sorted(m.internaldate for m in thread)


def test_by_label_matches_as_ls_label_does(two: Setup) -> None:
    """Regression: ``by_label("Inbox")`` found 0 messages where ``ls --label Inbox`` found them; library and
    the CLI now share one rule (``labels.label_filter``)."""
    path, _, s2, _ = two
    mailbox = open_archive(path).snapshot()
    inbox = {r.key for r in s2 if "\\Inbox" in r.labels}
    assert inbox
    for spelling in ("Inbox", "inbox", "INBOX", "\\inbox"):
        assert {m.key for m in mailbox.by_label(spelling)} == inbox, spelling
    assert {m.key for m in mailbox.by_label("Drafts")} == {r.key for r in s2 if "\\Draft" in r.labels}
    assert mailbox.by_label("work/projects") == []  # user labels match exactly


def test_diff(two: Setup) -> None:
    path, s1, s2, _ = two
    view = open_archive(path)
    a, b = view.snapshots()
    d = view.diff(a.id, b.id)
    assert {m.key for m in d.removed} == {r.key for r in s1[:10]}
    assert {m.key for m in d.added} == {r.key for r in s2[110:]}
    before = {r.key: r for r in s1}
    assert {c.key for c in d.relabelled} == {r.key for r in s2[:110] if r.labels != before[r.key].labels}
    assert {c.key for c in d.reflagged} == {r.key for r in s2[:110] if r.flags != before[r.key].flags}
    assert len(d.relabelled) > 20 and len(d.reflagged) > 10
    assert all(c.after.labels == view.snapshot(b.id[:8]).get(c.key).labels for c in d.relabelled)  # type: ignore[union-attr]
    same = view.diff(b.id, b.id)
    assert same.empty
