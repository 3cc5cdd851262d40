"""Checklist item 10: injected throttling and failures ([THROTTLED] after the text, NO [OVERQUOTA], BYE and
abrupt drops mid-FETCH, OK without APPENDUID, daily byte budgets) and the traffic counters."""

from __future__ import annotations

import imaplib
import socket
from collections.abc import Callable

import pytest
from imapclient import IMAPClient

from archiver.emulator import Fault, GmailEmulator
from tests.helpers.emulator import PASSWORD, USER, Raw, msg

ALL = "[Gmail]/All Mail"


def _seed(emu: GmailEmulator, n: int) -> None:
    for i in range(n):
        emu.seed(USER, msg(i))


def test_throttled_suffix_after_text(emu: GmailEmulator, raw: Raw, client: IMAPClient) -> None:
    raw.login()
    emu.inject(Fault.THROTTLED, times=2)
    assert raw.cmd("NOOP") == [b"t2 OK Success [THROTTLED]\r\n"]
    assert client.noop()[0] == b"Success [THROTTLED]"  # imapclient does not choke on it
    assert raw.cmd("NOOP") == [b"t3 OK Success\r\n"]  # two firings used up


def test_overquota_on_fetch(emu: GmailEmulator, raw: Raw, client: IMAPClient) -> None:
    _seed(emu, 2)
    emu.inject(Fault.OVERQUOTA, times=2)
    raw.login()
    raw.cmd("SELECT INBOX")
    assert raw.cmd("UID FETCH 1:* (BODY.PEEK[])") == [
        b"t3 NO [OVERQUOTA] Account exceeded command or bandwidth limits.\r\n"]
    client.select_folder("INBOX")
    with pytest.raises(imaplib.IMAP4.error, match="OVERQUOTA"):
        client.fetch([1], ["BODY.PEEK[]"])
    assert client.fetch([1], ["RFC822.SIZE"])[1][b"RFC822.SIZE"] == len(msg(0))


def test_bye_mid_fetch(emu: GmailEmulator, raw: Raw) -> None:
    _seed(emu, 5)
    emu.inject(Fault.BYE_MID_FETCH, after_messages=3, times=1)
    raw.login()
    raw.cmd("SELECT INBOX")
    raw.send(b"f1 UID FETCH 1:* (BODY.PEEK[])\r\n")
    lines = [raw.readline() for _ in range(4)]
    assert [line.split(b" FETCH")[0] for line in lines[:3]] == [b"* 1", b"* 2", b"* 3"]
    assert lines[3] == b"* BYE Session expired, please login again\r\n"
    with pytest.raises(ConnectionError):
        raw.readline()
    c = IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=10)  # fired once: the next run succeeds
    c.login(USER, PASSWORD)
    c.select_folder("INBOX")
    assert len(c.fetch([1, 2, 3, 4, 5], ["BODY.PEEK[]"])) == 5
    c.logout()


def test_drop_mid_fetch_and_imapclient_sees_abort(emu: GmailEmulator, client: IMAPClient) -> None:
    _seed(emu, 4)
    emu.inject(Fault.DROP_MID_FETCH, after_messages=2)
    client.select_folder("INBOX")
    with pytest.raises((imaplib.IMAP4.abort, OSError, socket.error)):
        client.fetch([1, 2, 3, 4], ["BODY.PEEK[]"])


def test_append_without_appenduid(emu: GmailEmulator, client: IMAPClient) -> None:
    emu.inject(Fault.NO_APPENDUID)
    assert client.append("INBOX", msg(1)) == b"(Success)"
    assert client.append("INBOX", msg(2)).startswith(b"[APPENDUID ")
    assert len(emu.messages(USER)) == 2  # stored all the same


def test_bye_on_append_stores_nothing(emu: GmailEmulator, raw: Raw) -> None:
    raw.login()
    emu.inject(Fault.BYE_ON_APPEND)
    data = msg(1)
    raw.send(b"a1 APPEND INBOX {%d+}\r\n" % len(data) + data + b"\r\n")
    assert raw.readline() == b"* BYE Session expired, please login again\r\n"
    assert emu.messages(USER) == []


def test_daily_budgets(make_emu: Callable[..., GmailEmulator]) -> None:
    emu = make_emu(download_budget=len(msg(0)) * 2, upload_budget=len(msg(0)))
    _seed(emu, 3)
    c = IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=10)
    c.login(USER, PASSWORD)
    c.select_folder("INBOX")
    assert len(c.fetch([1, 2], ["BODY.PEEK[]"])) == 2
    with pytest.raises(imaplib.IMAP4.error, match="OVERQUOTA"):
        c.fetch([3], ["BODY.PEEK[]"])
    c.append("INBOX", msg(10))
    with pytest.raises(imaplib.IMAP4.error, match="OVERQUOTA"):
        c.append("INBOX", msg(11))
    c.logout()


def test_stats_count_traffic(emu: GmailEmulator, client: IMAPClient) -> None:
    _seed(emu, 3)
    client.select_folder(ALL)
    client.fetch([1, 2, 3], ["BODY.PEEK[]"])
    client.fetch([1], ["BODY.PEEK[HEADER]"])  # a section is not a body download
    client.append("INBOX", msg(9))
    st = emu.stats(USER)
    assert st["body_bytes_sent"] == sum(len(msg(i)) for i in range(3))
    assert st["bytes_sent"] > st["body_bytes_sent"] and st["bytes_received"] > len(msg(9))
    assert st["appends"] == 1 and st["logins"] == 1 and st["commands"] >= 5


def test_mid_fetch_count_spans_commands(emu: GmailEmulator, raw: Raw) -> None:
    _seed(emu, 6)
    emu.inject(Fault.BYE_MID_FETCH, after_messages=3)
    raw.login()
    raw.cmd("SELECT INBOX")
    assert len(raw.cmd("UID FETCH 1:2 (BODY.PEEK[])")) == 3  # 2 responses + OK
    raw.send(b"f1 UID FETCH 3:6 (BODY.PEEK[])\r\n")
    assert raw.readline().startswith(b"* 3 FETCH")
    assert raw.readline() == b"* BYE Session expired, please login again\r\n"
    assert emu.faults.fired == {Fault.BYE_MID_FETCH: 1}
