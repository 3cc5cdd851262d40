"""Checklist item 6 and COPY/MOVE: Gmail's deletion semantics under the autoExpunge / expungeBehavior
settings, and folder operations as label operations."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from imapclient import IMAPClient

from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, USER, Raw, msg

ALL = "[Gmail]/All Mail"
TRASH = "[Gmail]/Trash"


def _client(emu: GmailEmulator) -> IMAPClient:
    c = IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=10)
    c.login(USER, PASSWORD)
    return c


def test_delete_in_label_folder_removes_label(emu: GmailEmulator, raw: Raw) -> None:
    gid = emu.seed(USER, msg(1), labels=("\\Inbox", "Work"))
    raw.login()
    raw.cmd("SELECT Work")
    lines = raw.cmd("UID STORE 1 +FLAGS (\\Deleted)")
    assert lines[-2:] == [b"* 1 EXPUNGE\r\n", b"t3 OK STORE (Success)\r\n"]  # auto-expunge
    m = emu.message(USER, gid)
    assert m.labels == {"\\Inbox"} and "\\Deleted" not in m.flags and not m.trashed
    raw.cmd("SELECT INBOX")
    raw.cmd("UID STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert emu.message(USER, gid).labels == frozenset()  # deleting from INBOX archives
    assert emu.uids(USER, ALL) == {1: gid}


@pytest.mark.parametrize(("behavior", "expect"), [("archive", "archived"), ("trash", "trashed"),
                                                  ("delete_forever", "gone")])
def test_expunge_from_all_mail(make_emu: Callable[..., GmailEmulator], behavior: str, expect: str) -> None:
    emu = make_emu(expunge_behavior=behavior)
    gid = emu.seed(USER, msg(1), labels=("\\Inbox", "Work"))
    c = _client(emu)
    c.select_folder(ALL)
    c.delete_messages([1])
    msgs = {m.gm_msgid: m for m in emu.messages(USER)}
    if expect == "gone":
        assert msgs == {}
    elif expect == "trashed":
        assert msgs[gid].trashed and emu.uids(USER, TRASH) == {1: gid}
    else:
        assert msgs[gid].labels == {"Work"} and not msgs[gid].trashed
    c.logout()


def test_expunge_from_trash_and_spam_is_permanent(emu: GmailEmulator, client: IMAPClient) -> None:
    emu.seed(USER, msg(1), trashed=True)
    emu.seed(USER, msg(2), spam=True)
    for folder in (TRASH, "[Gmail]/Spam"):
        client.select_folder(folder)
        client.delete_messages([1])
    assert emu.messages(USER) == []


def test_without_auto_expunge(make_emu: Callable[..., GmailEmulator]) -> None:
    emu = make_emu(auto_expunge=False)
    a = emu.seed(USER, msg(1), labels=("Work",))
    b = emu.seed(USER, msg(2), labels=("Work",))
    c = _client(emu)
    c.select_folder("Work")
    c.delete_messages([1, 2])
    assert emu.uids(USER, "Work") == {1: a, 2: b}
    assert "\\Deleted" in emu.message(USER, a).flags
    c.uid_expunge([2])
    assert emu.uids(USER, "Work") == {1: a}
    c.expunge()
    assert emu.uids(USER, "Work") == {} and emu.message(USER, a).labels == frozenset()
    c.logout()


def test_hidden_all_mail_last_folder(make_emu: Callable[..., GmailEmulator]) -> None:
    emu = make_emu(hidden_roles=frozenset({"all"}), expunge_behavior="trash")
    gid = emu.seed(USER, msg(1), labels=("Work",))
    c = _client(emu)
    c.select_folder("Work")
    c.delete_messages([1])
    assert emu.message(USER, gid).trashed  # it left its last visible folder
    c.logout()


def test_copy_and_move(emu: GmailEmulator, client: IMAPClient, raw: Raw) -> None:
    gid = emu.seed(USER, msg(1), labels=("\\Inbox",))
    client.select_folder("INBOX")
    client.create_folder("Work")  # COPY needs an existing label folder (TRYCREATE otherwise)
    client.copy([1], "Work")
    assert emu.message(USER, gid).labels == {"\\Inbox", "Work"}
    client.move([1], TRASH)
    m = emu.message(USER, gid)
    assert m.trashed and emu.uids(USER, "INBOX") == {} and emu.uids(USER, TRASH) == {1: gid}
    assert m.labels == {"\\Inbox", "Work"}  # kept (hidden) while in Trash
    client.select_folder(TRASH)
    client.move([1], "INBOX")  # out of Trash: back with its labels
    m = emu.message(USER, gid)
    assert not m.trashed and emu.uids(USER, "INBOX") == {2: gid}
    raw.login()
    raw.cmd("SELECT Work")
    assert emu.uids(USER, "Work") == {2: gid}  # re-entering a folder means a new UID there
    lines = raw.cmd('MOVE 1 "[Gmail]/Starred"')
    starred = client.folder_status("[Gmail]/Starred", ["UIDVALIDITY"])[b"UIDVALIDITY"]
    assert lines == [b"* OK [COPYUID %d 2 1] (Success)\r\n" % starred, b"* 1 EXPUNGE\r\n",
                     b"t3 OK (Success)\r\n"]
    m = emu.message(USER, gid)
    assert m.labels == {"\\Inbox", "\\Starred"} and "\\Flagged" in m.flags
    assert raw.cmd('UID COPY 1 "Nowhere"')[-1] == b"t4 NO [TRYCREATE] Folder doesn't exist. (Failure)\r\n"
