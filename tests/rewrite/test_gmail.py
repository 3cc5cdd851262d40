"""Rewrite in place on the Gmail emulator (duplicate dropping on): labels, flags, dates, Message-IDs, Trash
and threads kept, one copy each; a second run changes nothing; ``--undo`` puts the originals back byte for
byte."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest

from archiver import Credentials, EmulatorConfig, GmailEmulator, Throttled, backup, rewrite
from archiver.emulator.faults import Fault
from archiver.emulator.store import EmuMessage
from archiver.imap import RetryPolicy
from archiver.ops.rewrite.common import SETTLE_SECONDS
from tests.helpers.emulator import PASSWORD, USER, Mail, emu_url, msg
from tests.helpers.rewriter import HEADER, Stamp, stamped

CRED = Credentials(password=PASSWORD)


@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    return (Mail(200, seed=7),)


def state(emu: GmailEmulator) -> dict[str | None, EmuMessage]:
    msgs = emu.messages(USER)
    assert len({m.message_id for m in msgs}) == len(msgs)  # one copy each
    return {m.message_id: m for m in msgs}


def threads(msgs: dict[str | None, EmuMessage]) -> set[frozenset[str | None]]:
    by: dict[int, set[str | None]] = defaultdict(set)
    for mid, m in msgs.items():
        by[m.gm_thrid].add(mid)
    return {frozenset(v) for v in by.values()}


@pytest.mark.slow
def test_rewrite_keeps_labels_flags_dates_threads_and_undo_restores(tmp_path: Path,
                                                                     emu: GmailEmulator) -> None:
    for m in emu.messages(USER)[::10]:
        emu.trash(USER, m.gm_msgid)
    arch = tmp_path / "a"
    assert backup(arch, emu_url(emu), credentials=CRED, init=True).complete
    emu.seed(USER, msg(9001), labels=("\\Inbox", "Late"), flags=("\\Seen", "\\Flagged"))  # not archived yet
    before = state(emu)
    assert len(before) == 201 and sum(m.trashed for m in before.values()) == 20
    assert len(threads(before)) < 190 and {lb for m in before.values() for lb in m.labels} > {"\\Inbox"}

    result = rewrite(arch, emu_url(emu), Stamp(), credentials=CRED)
    assert result.ok and result.backed_up is not None      # the late message made a backup run first
    assert len(result.changed) == 201 and result.failed == []
    after = state(emu)
    assert set(after) == set(before)
    for mid, old in before.items():
        new = after[mid]
        assert new.data == stamped(old.data), mid
        assert new.gm_msgid != old.gm_msgid
        assert (new.labels, new.flags, new.internaldate, new.trashed) == (
            old.labels, old.flags, old.internaldate, old.trashed), mid
    assert threads(after) == threads(before)
    assert {c.thread for c in result.changed} == {m.gm_thrid for m in after.values()}

    again = rewrite(arch, emu_url(emu), Stamp(), credentials=CRED)
    assert again.ok and again.changed == [] and again.selected >= 201
    assert {m.gm_msgid for m in emu.messages(USER)} == {m.gm_msgid for m in after.values()}

    undone = rewrite(arch, emu_url(emu), credentials=CRED, undo=result.run)
    assert undone.ok and len(undone.changed) == 201
    back = state(emu)
    for mid, old in before.items():
        assert back[mid].data == old.data, mid
        assert (back[mid].labels, back[mid].flags, back[mid].internaldate, back[mid].trashed) == (
            old.labels, old.flags, old.internaldate, old.trashed), mid
    assert threads(back) == threads(before)


def test_failed_messages_are_listed_and_left_as_they_are(tmp_path: Path, emu: GmailEmulator) -> None:
    keep = emu.seed(USER, msg(1, extra="X-Note: fail-me\r\n"), labels=("\\Inbox",))
    arch = tmp_path / "a"
    assert backup(arch, emu_url(emu), credentials=CRED, init=True).complete
    result = rewrite(arch, emu_url(emu), Stamp(), credentials=CRED, labels=["\\Inbox"])
    assert not result.ok and [p.reason for p in result.failed] == ["the test transform refuses this message"]
    assert emu.message(USER, keep).data == msg(1, extra="X-Note: fail-me\r\n")


@pytest.mark.parametrize("emu_config", [EmulatorConfig(upload_budget=2500)])
@pytest.mark.parametrize("emu_mail", [()])
def test_upload_quota_stops_the_run_and_the_rerun_uploads_the_deleted_message_first(
        tmp_path: Path, emu: GmailEmulator) -> None:
    originals = [msg(i, body="x" * 900) for i in range(5)]
    for data in originals:
        emu.seed(USER, data, labels=("\\Inbox",))
    arch = tmp_path / "a"
    assert backup(arch, emu_url(emu), credentials=CRED, init=True).complete
    with pytest.raises(Throttled, match="only in the archive") as stop:
        rewrite(arch, emu_url(emu), Stamp(), credentials=CRED)
    assert "run the same command again later" in (stop.value.hint or "")
    held = sorted(m.data for m in emu.messages(USER))
    assert len(held) == 4 and sum(HEADER in d for d in held) == 3       # one message off the server, no more
    emu.config.upload_budget = 10**6                                    # the next day
    started = time.monotonic()
    result = rewrite(arch, emu_url(emu), Stamp(), credentials=CRED)
    assert time.monotonic() - started < SETTLE_SECONDS    # the refused APPEND is journalled: no wait for it
    assert result.ok and sum(c.resumed for c in result.changed) == 1
    assert sorted(m.data for m in emu.messages(USER)) == sorted(stamped(d) for d in originals)


@pytest.mark.slow   # each reconnect waits the settle time for the APPEND the server may still store
@pytest.mark.parametrize("emu_mail", [()])
def test_a_dropped_connection_between_delete_and_upload_is_resumed_in_the_same_run(
        tmp_path: Path, emu: GmailEmulator) -> None:
    """The server hangs up on the APPEND of a new version (the old copy already deleted forever): the run
    reconnects, uploads it first, and goes on; one copy each, nothing reported twice.  (The second hang-up
    hits the retried upload of the same message.)"""
    originals = [msg(i) for i in range(6)]
    for data in originals:
        emu.seed(USER, data, labels=("\\Inbox", "Keep"), flags=("\\Seen",))
    arch = tmp_path / "a"
    assert backup(arch, emu_url(emu), credentials=CRED, init=True).complete
    emu.inject(Fault.BYE_ON_APPEND, times=2)
    result = rewrite(arch, emu_url(emu), Stamp(), credentials=CRED, retry=RetryPolicy(base_delay=0.01))
    assert emu.faults.fired[Fault.BYE_ON_APPEND] == 2
    assert result.ok and len(result.changed) == 6 and sum(c.resumed for c in result.changed) == 1
    assert (result.already, result.unchanged, result.gone) == (0, 0, 0)
    msgs = emu.messages(USER)
    assert sorted(m.data for m in msgs) == sorted(stamped(d) for d in originals)
    assert all(m.labels == {"\\Inbox", "Keep"} and m.flags == {"\\Seen"} for m in msgs)


@pytest.mark.parametrize("emu_mail", [()])
def test_a_message_id_two_messages_share_is_refused_before_anything_changes(tmp_path: Path,
                                                                           emu: GmailEmulator) -> None:
    """Gmail would merge the new version into the other message with that Message-ID (and the deleted one
    would be gone): both are listed as failed and left as they are."""
    a = emu.seed(USER, msg(1, body="first"), labels=("\\Inbox",))
    b = emu.seed(USER, msg(1, body="second"), labels=("\\Inbox",))      # same <1@test>, other bytes
    arch = tmp_path / "a"
    assert backup(arch, emu_url(emu), credentials=CRED, init=True).complete
    result = rewrite(arch, emu_url(emu), Stamp(), credentials=CRED)
    assert [p.reason.split(":")[0] for p in result.failed] == [
        "another message on the server carries Message-ID <1@test>"] * 2
    assert (emu.message(USER, a).data, emu.message(USER, b).data) == (msg(1, body="first"),
                                                                      msg(1, body="second"))
