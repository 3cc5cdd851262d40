"""The EmulatorConfig switches for uncertain facts (label omission and quoting, Spam in de-duplication,
trashed labels) and the smaller commands: OAUTHBEARER, QUOTA, CLOSE, LSUB."""

from __future__ import annotations

import base64
from collections.abc import Callable

from imapclient import IMAPClient

from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, TOKEN, USER, Raw, msg


def test_label_omission_and_quoting_switches(make_emu: Callable[..., GmailEmulator]) -> None:
    emu = make_emu(omit_selected_label=False, quote_system_labels=False)
    emu.seed(USER, msg(1), labels=("\\Inbox", "Work"))
    emu.seed(USER, msg(2), labels=(), trashed=True)
    r = Raw(emu.port)
    r.login()
    r.cmd("SELECT INBOX")
    assert r.cmd("UID FETCH 1 (X-GM-LABELS)")[0] == b"* 1 FETCH (UID 1 X-GM-LABELS (\\Inbox Work))\r\n"
    r.cmd('SELECT "[Gmail]/Trash"')
    assert r.cmd("UID FETCH 1 (X-GM-LABELS)")[0] == b"* 1 FETCH (UID 1 X-GM-LABELS (\\Trash))\r\n"
    r.close()


def test_spam_copy_not_counted_when_switched_off(make_emu: Callable[..., GmailEmulator]) -> None:
    emu = make_emu(dedup_in_spam=False)
    emu.seed(USER, msg(1), spam=True)
    c = IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=10)
    c.login(USER, PASSWORD)
    c.append("INBOX", msg(1))
    assert sorted(m.spam for m in emu.messages(USER)) == [False, True]
    c.logout()


def test_trash_drops_labels_when_switched_off(make_emu: Callable[..., GmailEmulator]) -> None:
    emu = make_emu(trash_keeps_labels=False)
    gid = emu.seed(USER, msg(1), labels=("\\Inbox", "Work"))
    emu.trash(USER, gid)
    emu.trash(USER, gid, trashed=False)
    assert emu.message(USER, gid).labels == frozenset()


def test_oauthbearer(raw: Raw) -> None:
    good = f"n,a={USER},\x01host=127.0.0.1\x01port=993\x01auth=Bearer {TOKEN}\x01\x01".encode()
    lines = raw.cmd(b"AUTHENTICATE OAUTHBEARER " + base64.b64encode(good))
    assert lines[-1] == f"t1 OK {USER} authenticated (Success)\r\n".encode()


def test_quota_close_lsub(emu: GmailEmulator, client: IMAPClient) -> None:
    emu.seed(USER, msg(1), labels=("Work",))
    emu.seed(USER, msg(2), labels=("Work",))
    _roots, quotas = client.get_quota_root("INBOX")
    assert quotas[0].resource == "STORAGE" and quotas[0].limit == 15 * 1024 * 1024
    assert {name for _f, _d, name in client.list_sub_folders()} >= {"INBOX", "Work"}
    client.select_folder("Work")
    client.set_flags([1], ["\\Seen"])
    client.close_folder()
    assert emu.uids(USER, "Work") != {}  # CLOSE without \Deleted keeps everything
