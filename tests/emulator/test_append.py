"""Checklist items 7, 8 and 12: APPEND (APPENDUID, flags, INTERNALDATE, TOOBIG, NUL, LITERAL-), silent
de-duplication by Message-ID with its alternative policies, NOOP before new mail shows, RECENT always 0."""

from __future__ import annotations

import imaplib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from imapclient import IMAPClient

from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, USER, Raw, msg

ALL = "[Gmail]/All Mail"


def _appenduid(text: bytes) -> tuple[int, int]:
    assert text.startswith(b"[APPENDUID ") and text.endswith(b"] (Success)"), text
    v, u = text[len(b"[APPENDUID "):-len(b"] (Success)")].split()
    return int(v), int(u)


def test_append_appenduid_flags_date(emu: GmailEmulator, client: IMAPClient) -> None:
    date = datetime(2019, 7, 17, 9, 40, 8, tzinfo=timezone(timedelta(hours=2)))
    v, u = _appenduid(client.append("INBOX", msg(1), flags=["\\Seen", "$Label1"],
                                    msg_time=date))
    assert v == client.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"] and u == 1
    (m,) = emu.messages(USER)
    assert m.flags == {"\\Seen", "$Label1"} and m.labels == {"\\Inbox"}
    assert m.internaldate == date and m.data == msg(1)
    assert abs((m.gm_msgid >> 20) / 1000 - time.time()) < 86400  # the id tells upload time, not the date
    client.select_folder("INBOX")
    client.normalise_times = False
    assert client.fetch([1], ["INTERNALDATE"])[1][b"INTERNALDATE"] == date
    # APPEND to All Mail: no label; to Trash: trashed
    _appenduid(client.append(ALL, msg(2)))
    _appenduid(client.append("[Gmail]/Trash", msg(3)))
    by_mid = {m.message_id: m for m in emu.messages(USER)}
    assert by_mid["<2@test>"].labels == frozenset() and by_mid["<3@test>"].trashed


def test_append_wire_continuation_and_literal_minus(emu: GmailEmulator, raw: Raw) -> None:
    raw.login()
    data = msg(1)
    raw.send(b'a1 APPEND "INBOX" (\\Seen) "17-Jul-2019 09:40:08 +0000" {%d}\r\n' % len(data))
    assert raw.readline().startswith(b"+ ")
    raw.send(data + b"\r\n")
    assert raw.until("a1") == [b"a1 OK [APPENDUID 633655512 1] (Success)\r\n"]
    small = msg(2)
    raw.send(b"a2 APPEND INBOX {%d+}\r\n" % len(small) + small + b"\r\n")  # LITERAL-: no continuation
    assert raw.until("a2") == [b"a2 OK [APPENDUID 633655512 2] (Success)\r\n"]
    big = msg(3, body="x" * 5000)
    raw.send(b"a3 APPEND INBOX {%d+}\r\n" % len(big))
    line = raw.readline()
    assert line.startswith(b"a3 BAD [TOOBIG]")
    with pytest.raises(ConnectionError):
        raw.send(big + b"\r\n")
        raw.readline()
    assert len(emu.messages(USER)) == 2


def test_toobig(emu: GmailEmulator, raw: Raw) -> None:
    raw.login()
    raw.send(b"a1 APPEND INBOX {35651585}\r\n")
    assert raw.readline() == (b"a1 BAD [TOOBIG] Message too large. "
                              b"https://support.google.com/mail/answer/6584#limit\r\n")
    assert raw.cmd("NOOP")[-1] == b"t2 OK Success\r\n"  # the session is still usable
    m = imaplib.IMAP4("127.0.0.1", emu.port)
    m.login(USER, PASSWORD)
    with pytest.raises(imaplib.IMAP4.error, match="TOOBIG"):
        m.append("INBOX", "", None, b"x" * 35651585)
    m.logout()


def test_nul_byte_aborts(emu: GmailEmulator, raw: Raw) -> None:
    raw.login()
    data = msg(1) + b"\0oops\r\n"
    raw.send(b"a1 APPEND INBOX {%d}\r\n" % len(data))
    raw.readline()
    raw.send(data + b"\r\n")
    assert raw.readline() == b"a1 BAD Invalid character in literal\r\n"
    with pytest.raises(ConnectionError):
        raw.readline()
    assert emu.messages(USER) == []


def test_dedup_merges_labels_and_keeps_original(emu: GmailEmulator, client: IMAPClient) -> None:
    old_date = datetime(2015, 1, 1, tzinfo=UTC)
    gid = emu.seed(USER, msg(1), labels=("\\Inbox",), flags=("\\Seen",), internaldate=old_date)
    client.create_folder("Restored")
    _v, u = _appenduid(client.append("Restored", msg(1, body="edited"), flags=["\\Flagged"],
                                    msg_time=datetime(2024, 1, 1, tzinfo=UTC)))
    (m,) = emu.messages(USER)  # silently de-duplicated
    assert m.gm_msgid == gid and m.internaldate == old_date and m.data == msg(1)
    assert m.labels == {"\\Inbox", "Restored"} and m.flags == {"\\Seen"}
    assert emu.uids(USER, "Restored") == {u: gid}
    # the APPENDUID names the existing message's UID in the target, fetchable there
    client.select_folder("Restored")
    assert client.fetch([u], ["X-GM-MSGID"])[u][b"X-GM-MSGID"] == gid


def test_dedup_resurrects_from_trash(emu: GmailEmulator, client: IMAPClient) -> None:
    gid = emu.seed(USER, msg(1), labels=("Work",), trashed=True)
    _appenduid(client.append(ALL, msg(1)))
    (m,) = emu.messages(USER)
    assert m.gm_msgid == gid and not m.trashed and m.labels == {"Work"}


def test_no_message_id_never_deduplicated(emu: GmailEmulator, client: IMAPClient) -> None:
    emu.seed(USER, msg(1, mid=None))
    client.append("INBOX", msg(1, mid=None))
    assert len(emu.messages(USER)) == 2
    emu.seed(USER, msg(2))
    emu.seed(USER, msg(2))  # seeding never de-duplicates
    assert len(emu.messages(USER)) == 4


def test_dedup_policies(make_emu: Callable[..., GmailEmulator]) -> None:
    emu = make_emu(dedup="replace_same_folder")
    old = emu.seed(USER, msg(1), labels=("\\Inbox",))
    other = emu.seed(USER, msg(2), labels=("Work",))
    c = IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=10)
    c.login(USER, PASSWORD)
    c.append("INBOX", msg(1, body="new"))  # same folder: the old copy is replaced (D7)
    c.append("INBOX", msg(2))  # elsewhere: merged as usual
    by_mid = {m.message_id: m for m in emu.messages(USER)}
    assert by_mid["<1@test>"].gm_msgid != old and by_mid["<1@test>"].data == msg(1, body="new")
    assert by_mid["<2@test>"].gm_msgid == other and by_mid["<2@test>"].labels == {"Work", "\\Inbox"}
    c.logout()
    emu2 = make_emu(dedup="keep_both")
    emu2.seed(USER, msg(1))
    c = IMAPClient("127.0.0.1", port=emu2.port, ssl=False, timeout=10)
    c.login(USER, PASSWORD)
    c.append("INBOX", msg(1))
    assert len(emu2.messages(USER)) == 2
    c.logout()


def test_noop_needed_before_appended_mail_shows(emu: GmailEmulator, raw: Raw,
                                                make_emu: Callable[..., GmailEmulator]) -> None:
    raw.login()
    raw.cmd("SELECT INBOX")
    data = msg(1)
    raw.send(b"a1 APPEND INBOX {%d+}\r\n" % len(data) + data + b"\r\n")
    assert raw.until("a1") == [b"a1 OK [APPENDUID 633655512 1] (Success)\r\n"]
    assert raw.cmd("UID FETCH 1 (UID)") == [b"t3 OK Success\r\n"]  # not visible yet
    assert raw.cmd("NOOP") == [b"* 1 EXISTS\r\n", b"t4 OK Success\r\n"]
    assert raw.cmd("UID FETCH 1 (UID)")[0] == b"* 1 FETCH (UID 1)\r\n"
    other = make_emu(noop_shows_new=False)
    r2 = Raw(other.port)
    r2.login()
    r2.cmd("SELECT INBOX")
    r2.send(b"a1 APPEND INBOX {%d+}\r\n" % len(data) + data + b"\r\n")
    assert r2.until("a1") == [b"* 1 EXISTS\r\n", b"a1 OK [APPENDUID 633655512 1] (Success)\r\n"]
    r2.close()
    assert raw.cmd("SELECT INBOX")[4] == b"* 0 RECENT\r\n"


def test_duplicate_append_unsolicited_fetch(emu: GmailEmulator, raw: Raw) -> None:
    """D3: APPEND of a message the selected folder shows brings an unsolicited FETCH of the survivor."""
    gid = emu.seed(USER, msg(1), labels=("\\Inbox",), flags=("\\Seen",))
    raw.login("ME@gmail.com")  # addresses are case-insensitive
    raw.cmd('SELECT "[Gmail]/All Mail"')
    data = msg(1)
    raw.send(b"a1 APPEND Restored {%d+}\r\n" % len(data) + data + b"\r\n")
    assert raw.until("a1")[-1] == b"a1 NO [TRYCREATE] Folder doesn't exist. (Failure)\r\n"
    raw.cmd("CREATE Restored")
    raw.send(b"a2 APPEND Restored {%d+}\r\n" % len(data) + data + b"\r\n")
    lines = raw.until("a2")
    modseq = emu.message(USER, gid).modseq
    assert lines[0] == b"* 1 FETCH (UID 1 MODSEQ (%d) FLAGS (\\Seen))\r\n" % modseq
    assert lines[1].startswith(b"a2 OK [APPENDUID ")
