"""Checklist item 2: INBOX, the \\Noselect [Gmail] parent, SPECIAL-USE in every LIST, localisation, hidden
All Mail, user labels as (nested, modified UTF-7) folders, CREATE/DELETE/RENAME, STATUS."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, USER, Raw, msg


def _listing(client: IMAPClient) -> dict[str, set[bytes]]:
    return {name: set(flags) for flags, _delim, name in client.list_folders()}


def test_list_on_the_wire(emu: GmailEmulator, raw: Raw) -> None:
    emu.seed(USER, msg(1), labels=("Réunions", "Clients/2019"))
    raw.login()
    lines = raw.cmd('LIST "" "*"')
    assert lines[:3] == [b'* LIST (\\HasNoChildren) "/" "INBOX"\r\n',
                         b'* LIST (\\HasChildren \\Noselect) "/" "[Gmail]"\r\n',
                         b'* LIST (\\All \\HasNoChildren) "/" "[Gmail]/All Mail"\r\n']
    assert b'* LIST (\\HasNoChildren \\Trash) "/" "[Gmail]/Trash"\r\n' in lines
    assert b'* LIST (\\HasNoChildren) "/" "R&AOk-unions"\r\n' in lines
    assert b'* LIST (\\HasChildren \\Noselect) "/" "Clients"\r\n' in lines
    assert lines[-1] == b"t2 OK Success\r\n"
    special = raw.cmd('LIST (SPECIAL-USE) "" "*"')
    assert len(special) == 8 and all(b"[Gmail]/" in line for line in special[:-1])
    ret = raw.cmd('LIST "" "*" RETURN (SUBSCRIBED CHILDREN)')
    assert b'* LIST (\\HasNoChildren \\Junk \\Subscribed) "/" "[Gmail]/Spam"\r\n' in ret
    assert raw.cmd('LIST "" ""')[0] == b'* LIST (\\Noselect) "/" ""\r\n'
    assert raw.cmd('LIST "" "%"')[:-1] == [line for line in lines[:-1] if b'/" "' in line and
                                             line.split(b'"/" ')[1].count(b"/") == 0]
    status = raw.cmd('LIST "" "INBOX" RETURN (STATUS (MESSAGES UIDNEXT))')
    assert status[1] == b'* STATUS "INBOX" (MESSAGES 0 UIDNEXT 1)\r\n'


def test_imapclient_finds_special_folders(emu: GmailEmulator, client: IMAPClient) -> None:
    emu.seed(USER, msg(1), labels=("Réunions",))
    listing = _listing(client)
    assert listing["[Gmail]/All Mail"] == {b"\\All", b"\\HasNoChildren"}
    assert listing["[Gmail]"] == {b"\\HasChildren", b"\\Noselect"}
    assert "Réunions" in listing  # decoded from modified UTF-7 by imapclient
    assert client.find_special_folder(b"\\Junk") == "[Gmail]/Spam"
    assert {name for _f, _d, name in client.xlist_folders()} >= {"[Gmail]/All Mail"}
    xl = {name: set(flags) for flags, _d, name in client.xlist_folders()}
    assert b"\\AllMail" in xl["[Gmail]/All Mail"] and b"\\Inbox" in xl["INBOX"]


def test_select_gmail_parent_fails(raw: Raw) -> None:
    raw.login()
    assert raw.cmd('SELECT "[Gmail]"') == [
        b"t2 NO [NONEXISTENT] Unknown Mailbox: [Gmail] (now in authenticated state) (Failure)\r\n"]
    assert raw.cmd('SELECT "Nope"')[-1].startswith(b"t3 NO [NONEXISTENT] Unknown Mailbox: Nope")


def test_select_response_on_the_wire(emu: GmailEmulator, raw: Raw) -> None:
    emu.seed(USER, msg(1))
    raw.login()
    lines = raw.cmd('SELECT "INBOX"')
    assert lines[0] == b"* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $NotPhishing $Phishing)\r\n"
    assert b"* 1 EXISTS\r\n" in lines and b"* 0 RECENT\r\n" in lines
    assert any(line.startswith(b"* OK [HIGHESTMODSEQ ") for line in lines)
    assert lines[-1] == b"t2 OK [READ-WRITE] INBOX selected. (Success)\r\n"
    assert raw.cmd('EXAMINE "[Gmail]/All Mail"')[-1] == (
        b"t3 OK [READ-ONLY] [Gmail]/All Mail selected. (Success)\r\n")


@pytest.mark.parametrize(("config", "all_mail", "trash"), [
    ({"locale": "en-GB"}, "[Google Mail]/All Mail", "[Google Mail]/Bin"),
    ({"locale": "de"}, "[Gmail]/Alle Nachrichten", "[Gmail]/Papierkorb"),
    ({"folder_names": {"trash": "Bin"}}, "[Gmail]/All Mail", "[Gmail]/Bin"),
])
def test_localised_names(make_emu: Callable[..., GmailEmulator], config: dict[str, object], all_mail: str,
                         trash: str) -> None:
    emu = make_emu(**config)
    emu.seed(USER, msg(1), labels=("\\Inbox",))
    c = IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=10)
    c.login(USER, PASSWORD)
    assert c.find_special_folder(b"\\All") == all_mail
    assert c.find_special_folder(b"\\Trash") == trash
    assert c.select_folder(all_mail)[b"EXISTS"] == 1
    c.logout()


def test_hidden_all_mail(make_emu: Callable[..., GmailEmulator]) -> None:
    emu = make_emu(hidden_roles=frozenset({"all"}))
    c = IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=10)
    c.login(USER, PASSWORD)
    assert c.find_special_folder(b"\\All") is None
    with pytest.raises(IMAPClientError, match="NONEXISTENT"):
        c.select_folder("[Gmail]/All Mail")
    c.logout()


def test_create_delete_rename(emu: GmailEmulator, client: IMAPClient, raw: Raw) -> None:
    client.create_folder("Projects/Alpha")
    names = set(_listing(client))
    assert {"Projects", "Projects/Alpha"} <= names  # CREATE makes missing parents
    raw.login()
    assert raw.cmd('CREATE "projects"') == [b"t2 NO [ALREADYEXISTS] Duplicate folder name (Failure)\r\n"]
    assert raw.cmd('CREATE "INBOX"')[0].startswith(b"t3 NO [ALREADYEXISTS]")
    assert raw.cmd('CREATE " x"')[0] == b"t4 NO [CANNOT] Folder contains excess whitespace (Failure)\r\n"
    gid = emu.seed(USER, msg(1), labels=("Projects/Alpha",))
    uids, modseq = emu.uids(USER, "Projects/Alpha"), emu.message(USER, gid).modseq
    client.rename_folder("Projects", "Work")
    assert emu.uids(USER, "Work/Alpha") == uids and emu.message(USER, gid).modseq > modseq
    names = set(_listing(client))
    assert {"Work", "Work/Alpha"} <= names and "Projects" not in names
    assert emu.message(USER, gid).labels == {"Work/Alpha"}
    client.delete_folder("Work/Alpha")
    assert emu.message(USER, gid).labels == frozenset()
    assert "Work/Alpha" not in _listing(client)


def test_status_and_utf8_accept(emu: GmailEmulator, client: IMAPClient, raw: Raw) -> None:
    emu.seed(USER, msg(1), labels=("\\Inbox", "Réunions"))
    emu.seed(USER, msg(2), labels=("\\Inbox",), flags=("\\Seen",))
    st = client.folder_status("INBOX", ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ"])
    assert st[b"MESSAGES"] == 2 and st[b"UIDNEXT"] == 3 and st[b"UNSEEN"] == 1
    assert st[b"HIGHESTMODSEQ"] == emu.highestmodseq(USER)
    raw.login()
    assert raw.cmd('STATUS "R&AOk-unions" (MESSAGES)')[0] == b'* STATUS "R&AOk-unions" (MESSAGES 1)\r\n'
    assert raw.cmd('SELECT "Réunions"')[-1].startswith(b"t3 NO [NONEXISTENT]")  # raw UTF-8 before ENABLE
    assert raw.cmd("ENABLE UTF8=ACCEPT")[0] == b"* ENABLED UTF8=ACCEPT\r\n"
    assert raw.cmd('SELECT "Réunions"'.encode())[-1].startswith(b"t5 OK [READ-WRITE]")
    assert '"Réunions"'.encode() in b"".join(raw.cmd('LIST "" "*"'))
