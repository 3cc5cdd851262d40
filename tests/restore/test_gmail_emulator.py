"""Restore into the Gmail emulator: silent de-duplication, Trash, labels, conflicts, faults, idempotency."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from archiver import restore
from archiver.emulator import Fault, GmailEmulator
from archiver.imap import Credentials, RetryPolicy
from tests.helpers.emulator import PASSWORD, USER
from tests.restore.helpers import BASE, Msg, Notes, build_archive, message, state, url

CRED = Credentials(password=PASSWORD)


MSGS = [
    Msg(message(1), labels=("\\Inbox", "\\Important"), flags=("\\Seen",), date=BASE + 50, tz=120),
    Msg(message(2), labels=("Clients/2019/Q1", "\\Sent"), flags=("\\Seen",), date=BASE + 10, tz=-300),
    Msg(message(3), labels=("\\Inbox", "\\Starred"), flags=("\\Flagged",), date=BASE + 40),
    Msg(message(4, mid=None), labels=("Réunions",), flags=("\\Answered", "\\Deleted"), date=BASE + 30),
    Msg(message(5), labels=("\\Trash",), flags=("\\Seen",), date=BASE + 20),
    Msg(message(6), labels=(), flags=(), date=BASE + 60),
]


def test_empty_target_exactly_once(tmp_path: Path, emu: GmailEmulator) -> None:
    records = build_archive(tmp_path / "a", MSGS)
    result = restore(tmp_path / "a", url(emu), credentials=CRED)
    assert (result.uploaded, result.failed, result.altered, result.conflicts) == (6, [], [], [])
    got = {m.data: m for m in emu.messages(USER)}
    assert len(emu.messages(USER)) == 6 and set(got) == {m.data for m in MSGS}
    for m, r in zip(MSGS, records, strict=True):
        e = got[m.data]
        assert e.labels == frozenset(x for x in m.labels if x != "\\Trash"), m.labels
        assert e.trashed == ("\\Trash" in m.labels)
        assert e.flags == frozenset(f for f in m.flags if f != "\\Deleted")
        assert e.internaldate == r.date and e.internaldate.utcoffset() == r.date.utcoffset()
    # uploaded oldest first: X-GM-MSGIDs grow with INTERNALDATE
    by_id = [m.data for m in emu.messages(USER)]
    assert by_id == [m.data for m in sorted(MSGS, key=lambda m: m.date)]

    assert emu.uids(USER, "Clients") == {} and emu.uids(USER, "Clients/2019") == {}   # parents created
    again = restore(tmp_path / "a", url(emu), credentials=CRED)
    assert (again.uploaded, again.already_present) == (0, 6)
    assert len(emu.messages(USER)) == 6


def test_target_holding_part_of_the_mail(tmp_path: Path, emu: GmailEmulator) -> None:
    build_archive(tmp_path / "a", MSGS)
    emu.seed(USER, MSGS[0].data, labels=("\\Inbox",), flags=("\\Seen",))            # fewer labels
    gone = emu.seed(USER, MSGS[2].data, labels=("\\Inbox",), flags=("\\Flagged",))   # in Trash
    emu.trash(USER, gone)
    edited = message(2, body="An edited copy with the same Message-ID.")
    emu.seed(USER, edited, labels=("\\Inbox",))
    emu.seed(USER, MSGS[3].data, labels=("Réunions",), flags=("\\Answered",))         # no Message-ID
    result = restore(tmp_path / "a", url(emu), credentials=CRED)
    assert (result.uploaded, result.relabelled, result.untrashed, result.already_present) == (3, 1, 1, 1)
    assert result.failed == [] and len(result.conflicts) == 1
    (c,) = result.conflicts
    assert c.message_id == "<2.restore@test>" and "<restored." in c.reason
    msgs = emu.messages(USER)
    assert len(msgs) == 7                                          # 4 seeded + 2 missing + 1 rewritten
    by_data = {m.data: m for m in msgs}
    assert by_data[MSGS[0].data].labels == {"\\Inbox", "\\Important"}
    assert not by_data[MSGS[2].data].trashed and "\\Inbox" in by_data[MSGS[2].data].labels
    assert by_data[edited].labels == {"\\Inbox"}                   # the target's own message untouched
    rewritten = [m for m in msgs if m.message_id and m.message_id.startswith("<restored.")]
    assert len(rewritten) == 1 and b"X-Archiver-Original-Message-ID: <2.restore@test>" in rewritten[0].data
    assert rewritten[0].labels == {"Clients/2019/Q1", "\\Sent"}
    assert restore(tmp_path / "a", url(emu), credentials=CRED).uploaded == 0
    assert len(emu.messages(USER)) == 7


def test_unknown_label_is_a_warning_naming_the_labels(tmp_path: Path, emu: GmailEmulator) -> None:
    """Regression: an unknown --label restored nothing without a word; the result now says so (``warnings``
    in the --json document), and a known one given by its Takeout name still selects."""
    build_archive(tmp_path / "a", MSGS)
    dry = restore(tmp_path / "a", url(emu), credentials=CRED, labels=["Nope", "inbox"], dry_run=True)
    assert dry.selected == 2 and len(dry.warnings) == 1 and dry.to_json()["warnings"] == dry.warnings
    assert "'Nope'" in dry.warnings[0] and "Clients/2019/Q1" in dry.warnings[0]
    assert restore(tmp_path / "a", url(emu), credentials=CRED, dry_run=True).warnings == []


@pytest.mark.parametrize("policy", ["skip", "force"])
def test_conflict_policies(tmp_path: Path, emu: GmailEmulator, policy: str) -> None:
    build_archive(tmp_path / "a", [MSGS[1]])
    emu.seed(USER, message(2, body="edited"))
    result = restore(tmp_path / "a", url(emu), credentials=CRED, policy=policy)
    assert len(result.conflicts) == 1 and result.uploaded == 0 and not result.ok
    assert len(emu.messages(USER)) == 1                            # Gmail kept its own copy
    if policy == "force":
        (f,) = result.failed
        assert "silent de-duplication" in f.reason


def test_cannot_restore_is_listed(tmp_path: Path, emu: GmailEmulator) -> None:
    nul = message(7, body="a NUL \0 byte")
    huge = message(8, size=35651584)                                   # over Gmail's APPENDLIMIT
    build_archive(tmp_path / "a", [Msg(nul), MSGS[0], Msg(huge)])
    dry = restore(tmp_path / "a", url(emu), credentials=CRED, dry_run=True)
    assert sorted(a.kind for a in dry.planned) == ["cannot", "cannot", "upload"] and emu.messages(USER) == []
    result = restore(tmp_path / "a", url(emu), credentials=CRED)
    assert result.uploaded == 1 and not result.ok
    reasons = {p.message_id: p.reason for p in result.failed}
    assert "NUL" in reasons["<7.restore@test>"] and "APPENDLIMIT of 35651584" in reasons["<8.restore@test>"]


def test_faults_then_rerun_equals_one_clean_restore(tmp_path: Path, emu: GmailEmulator,
                                                     make_emu: Callable[..., GmailEmulator]) -> None:
    build_archive(tmp_path / "a", MSGS)
    extra = emu.seed(USER, message(99))                 # something to FETCH in the survey
    armed = {Fault.NO_APPENDUID: 2, Fault.BYE_ON_APPEND: 2, Fault.OVERQUOTA: 1, Fault.THROTTLED: 3}
    for fault, times in armed.items():                  # OVERQUOTA: NO on FETCH; THROTTLED: OK [THROTTLED]
        emu.inject(fault, times=times)
    progress = Notes()
    retry = RetryPolicy(base_delay=0.01, throttled_base=0.01, throttle_pause=0.01, jitter=0)
    result = restore(tmp_path / "a", url(emu), credentials=CRED, progress=progress, retry=retry)
    assert emu.faults.fired == armed                    # every armed fault really hit this restore
    assert result.reconnects >= 3 and result.failed == [] and result.uploaded == 6
    assert any("throttling" in n for n in progress.notes)
    again = restore(tmp_path / "a", url(emu), credentials=CRED, retry=retry)
    assert (again.uploaded, again.already_present, again.failed, again.conflicts) == (0, 6, [], [])
    assert emu.faults.fired == armed                    # the re-run met no fault
    emu.delete_forever(USER, extra)
    clean = make_emu()
    assert restore(tmp_path / "a", url(clean), credentials=CRED).uploaded == 6
    assert len({m.data for m in emu.messages(USER)}) == len(emu.messages(USER)) == 6   # each once
    assert state(emu) == state(clean)              # same bytes, labels, flags, INTERNALDATE (and zone)


def test_daily_budget_stops_cleanly(tmp_path: Path, emu: GmailEmulator) -> None:
    build_archive(tmp_path / "a", MSGS)
    budget = sum(len(m.data) for m in sorted(MSGS, key=lambda m: m.date)[:2])
    first = restore(tmp_path / "a", url(emu), credentials=CRED, max_upload_bytes_per_day=budget)
    assert (first.uploaded, first.left) == (2, 4) and not first.ok
    second = restore(tmp_path / "a", url(emu), credentials=CRED, max_upload_bytes_per_day=budget)
    assert (second.uploaded, second.left) == (0, 4)                 # the journal remembers today's bytes
    rest = restore(tmp_path / "a", url(emu), credentials=CRED)
    assert rest.uploaded == 4 and len(emu.messages(USER)) == 6
