"""Checklist items 3, 4, 5 and 9: one store with per-folder UIDs, X-GM-MSGID/THRID/LABELS on the wire,
label STORE, flag STORE, CONDSTORE with one account-wide MODSEQ, SEARCH with the X-GM keys."""

from __future__ import annotations

import imaplib
import re

from imapclient import IMAPClient

from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, USER, Raw, msg

ALL = "[Gmail]/All Mail"


def test_one_store_per_folder_uids(emu: GmailEmulator, client: IMAPClient) -> None:
    a = emu.seed(USER, msg(1), labels=("\\Inbox",))
    b = emu.seed(USER, msg(2), labels=("Work",))
    t = emu.seed(USER, msg(3), labels=("\\Inbox",), trashed=True)
    s = emu.seed(USER, msg(4), spam=True)
    assert emu.uids(USER, ALL) == {1: a, 2: b}  # All Mail = everything but Trash and Spam
    assert emu.uids(USER, "INBOX") == {1: a}
    assert emu.uids(USER, "[Gmail]/Trash") == {1: t} and emu.uids(USER, "[Gmail]/Spam") == {1: s}
    emu.set_labels(USER, b, {"Work", "\\Inbox"})
    assert emu.uids(USER, "INBOX") == {1: a, 2: b}  # gaining a label = a new UID in that folder
    uidvalidities = {client.folder_status(f, ["UIDVALIDITY"])[b"UIDVALIDITY"]
                     for f in ("INBOX", ALL, "Work", "[Gmail]/Trash")}
    assert len(uidvalidities) == 4
    client.select_folder(ALL)
    got = client.fetch([1, 2], ["X-GM-MSGID"])
    assert [got[1][b"X-GM-MSGID"], got[2][b"X-GM-MSGID"]] == [a, b]


def test_x_gm_attributes_on_the_wire(emu: GmailEmulator, raw: Raw) -> None:
    first = emu.seed(USER, msg(1), labels=("\\Inbox", "\\Important", "Muy Importante", "Réunions", "fav"))
    reply = emu.seed(USER, msg(2, extra="In-Reply-To: <1@test>\r\n"), labels=("\\Sent",))
    raw.login()
    raw.cmd(f'SELECT "{ALL}"')
    lines = raw.cmd("UID FETCH 1:* (X-GM-MSGID X-GM-THRID X-GM-LABELS)")
    assert lines[0] == (f'* 1 FETCH (UID 1 X-GM-MSGID {first} X-GM-THRID {first} '
                        f'X-GM-LABELS ("\\\\Important" '
                        f'"\\\\Inbox" "Muy Importante" R&AOk-unions fav))\r\n').encode()
    assert lines[1] == (f'* 2 FETCH (UID 2 X-GM-MSGID {reply} X-GM-THRID {first} '
                        f'X-GM-LABELS ("\\\\Sent"))\r\n').encode()
    assert lines[2] == b"t3 OK Success\r\n"
    assert 10**18 < first < 2**64
    # the selected folder's own label is left out
    raw.cmd('SELECT "INBOX"')
    inbox = raw.cmd("UID FETCH 1 (X-GM-LABELS)")[0]
    assert b'"\\\\Inbox"' not in inbox and b'"\\\\Important"' in inbox


def test_imaplib_and_imapclient_agree_on_labels(emu: GmailEmulator, client: IMAPClient) -> None:
    emu.seed(USER, msg(1), labels=("\\Inbox", "Réunions", "a b", '"q"'))
    client.select_folder(ALL)
    labels = set(client.get_gmail_labels([1])[1])
    assert labels == {"\\Inbox", "Réunions", "a b", '"q"'}
    m = imaplib.IMAP4("127.0.0.1", client._imap.port)
    m.login(USER, PASSWORD)
    m.select(f'"{ALL}"')
    typ, data = m.uid("FETCH", "1", "(X-GM-LABELS)")
    assert typ == "OK"
    wire = data[0]
    assert isinstance(wire, bytes)
    assert b'"\\\\Inbox"' in wire and b"R&AOk-unions" in wire and b'"a b"' in wire and b'"\\"q\\""' in wire
    m.logout()


def test_store_labels(emu: GmailEmulator, client: IMAPClient, raw: Raw) -> None:
    gid = emu.seed(USER, msg(1), labels=("\\Inbox",))
    client.select_folder(ALL)
    added = client.add_gmail_labels([1], ["New/Label", "\\Starred"])
    assert added == {1: ["\\Inbox", "\\Starred", "New/Label"]}
    assert emu.message(USER, gid).labels == {"\\Inbox", "\\Starred", "New/Label"}
    assert "\\Flagged" in emu.message(USER, gid).flags  # star = \Flagged
    assert any(name == "New/Label" for _f, _d, name in client.list_folders())  # label auto-created
    client.remove_gmail_labels([1], ["\\Starred"])
    assert "\\Flagged" not in emu.message(USER, gid).flags
    client.set_gmail_labels([1], ["Réunions"])
    assert emu.message(USER, gid).labels == {"Réunions"}
    raw.login()
    raw.cmd(f'SELECT "{ALL}"')
    assert raw.cmd("UID STORE 1 +X-GM-LABELS.SILENT (\\Inbox Work)") == [b"t3 OK STORE (Success)\r\n"]
    assert emu.message(USER, gid).labels == {"Réunions", "\\Inbox", "Work"}
    out = raw.cmd('STORE 1 -X-GM-LABELS ("Work")')
    assert out == [b'* 1 FETCH (X-GM-LABELS ("\\\\Inbox" R&AOk-unions))\r\n', b"t4 OK STORE (Success)\r\n"]


def test_removing_selected_label_expunges(emu: GmailEmulator, raw: Raw) -> None:
    emu.seed(USER, msg(1), labels=("\\Inbox",))
    emu.seed(USER, msg(2), labels=("\\Inbox",))
    raw.login()
    raw.cmd("SELECT INBOX")
    lines = raw.cmd("UID STORE 1 -X-GM-LABELS.SILENT (\\Inbox)")
    assert lines == [b"* 1 EXPUNGE\r\n", b"t3 OK STORE (Success)\r\n"]


def test_flag_store(emu: GmailEmulator, client: IMAPClient) -> None:
    gid = emu.seed(USER, msg(1))
    client.select_folder("INBOX")
    assert client.add_flags([1], ["\\Seen", "$Custom"])[1] == (b"$Custom", b"\\Seen")
    client.remove_flags([1], ["$Custom"])
    client.set_flags([1], ["\\Answered"])
    assert emu.message(USER, gid).flags == {"\\Answered"}
    client.add_flags([1], ["\\Seen"], silent=True)
    assert emu.message(USER, gid).flags == {"\\Answered", "\\Seen"}


def test_fetch_items(emu: GmailEmulator, client: IMAPClient) -> None:
    data = msg(7, extra="X-Long: a\r\n b\r\n")
    emu.seed(USER, data, flags=("\\Seen",))
    client.select_folder("INBOX")
    r = client.fetch([1], ["BODY.PEEK[]", "RFC822.SIZE", "INTERNALDATE", "FLAGS",
                           "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID X-LONG)]", "BODY.PEEK[]<0.10>"])[1]
    assert r[b"BODY[]"] == data and r[b"RFC822.SIZE"] == len(data)
    assert r[b"BODY[HEADER.FIELDS (MESSAGE-ID X-LONG)]"] == b"X-Long: a\r\n b\r\nMessage-ID: <7@test>\r\n\r\n"
    assert r[b"BODY[]<0>"] == data[:10]
    client.remove_flags([1], ["\\Seen"])
    assert client.fetch([1], ["BODY[TEXT]"])[1][b"BODY[TEXT]"] == b"hello 7\r\n"
    assert b"\\Seen" in client.get_flags([1])[1]  # non-peek fetch sets \Seen


def test_condstore(emu: GmailEmulator, client: IMAPClient, raw: Raw) -> None:
    a = emu.seed(USER, msg(1), labels=("\\Inbox",))
    emu.seed(USER, msg(2), labels=("\\Inbox",))
    sel = client.select_folder(ALL)
    before = sel[b"HIGHESTMODSEQ"]
    assert client.folder_status("INBOX", ["HIGHESTMODSEQ"])[b"HIGHESTMODSEQ"] == before
    emu.set_labels(USER, a, {"\\Inbox", "Work"})  # a label change bumps MODSEQ
    changed = client.fetch([1, 2], ["FLAGS", "X-GM-LABELS"], modifiers=[f"CHANGEDSINCE {before}"])
    assert list(changed) == [1] and changed[1][b"MODSEQ"][0] > before
    mid = changed[1][b"MODSEQ"][0]
    client.add_flags([2], ["\\Seen"])  # so does a flag change
    assert list(client.fetch([1, 2], ["FLAGS"], modifiers=[f"CHANGEDSINCE {mid}"])) == [2]
    # one account-wide counter: every folder reports it
    hm = {client.folder_status(f, ["HIGHESTMODSEQ"])[b"HIGHESTMODSEQ"] for f in ("INBOX", ALL, "Work")}
    assert hm == {emu.highestmodseq(USER)}
    raw.login()
    assert raw.cmd("ENABLE CONDSTORE")[0] == b"* ENABLED CONDSTORE\r\n"
    raw.cmd('SELECT "INBOX" (CONDSTORE)')
    assert re.match(rb"\* 1 FETCH \(UID 1 FLAGS \(\) MODSEQ \(\d+\)\)", raw.cmd("UID FETCH 1 (FLAGS)")[0])
    assert raw.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")[0].startswith(b"t5 BAD")
    assert raw.cmd('SELECT "INBOX" (QRESYNC (1 1))')[0].startswith(b"t6 BAD")


def test_search(emu: GmailEmulator, client: IMAPClient, raw: Raw) -> None:
    a = emu.seed(USER, msg(1), labels=("\\Inbox", "Work"))
    b = emu.seed(USER, msg(2, extra="In-Reply-To: <1@test>\r\n"), labels=("Work",), flags=("\\Seen",))
    emu.seed(USER, msg(3, mid=None), labels=("\\Inbox",))
    client.select_folder(ALL)
    assert client.search("ALL") == [1, 2, 3]
    assert client.search(["UID", "2:*"]) == [2, 3]
    assert client.search(["HEADER", "Message-ID", "<2@test>"]) == [2]
    assert client.search(["X-GM-MSGID", a]) == [1]
    assert client.search(["X-GM-THRID", a]) == [1, 2]
    assert client.search(["X-GM-LABELS", "Work"]) == [1, 2]
    assert client.search(["UNSEEN"]) == [1, 3]
    assert client.gmail_search("rfc822msgid:<1@test>") == [1]
    assert client.gmail_search("rfc822msgid:1@test") == [1]
    assert client.gmail_search("label:work in:inbox") == [1]
    assert client.gmail_search("in:anywhere -label:work") == [3]
    assert emu.message(USER, b).gm_thrid == a
    raw.login()
    raw.cmd(f'SELECT "{ALL}"')
    assert raw.cmd('UID SEARCH X-GM-RAW "in:inbox"')[0] == b"* SEARCH 1 3\r\n"
    assert raw.cmd("UID SEARCH RETURN (MIN MAX COUNT ALL) ALL")[0] == (
        b'* ESEARCH (TAG "t4") UID MIN 1 MAX 3 COUNT 3 ALL 1:3\r\n')
    assert raw.cmd("SEARCH NOT OR SEEN X-GM-LABELS Work")[0] == b"* SEARCH 3\r\n"
    assert re.fullmatch(rb"\* SEARCH 1 2 3 \(MODSEQ \d+\)\r\n", raw.cmd("SEARCH MODSEQ 1")[0])
