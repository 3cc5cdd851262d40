"""QUOTA accounting over a real socket (RFC 9208 STORAGE in KiB), and the two Gmail behaviours a rewrite in
place depends on: deleting forever from Trash, and an APPEND dropped while the old copy (Trash included)
still holds its Message-ID."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, USER, Raw, msg

ALL = "[Gmail]/All Mail"
TRASH = "[Gmail]/Trash"


def storage(client: IMAPClient) -> tuple[int, int]:
    """(usage, limit) in KiB from GETQUOTAROOT (one root for every folder)."""
    roots, quotas = client.get_quota_root("INBOX")
    assert roots.quota_roots == [""] and [q.resource for q in quotas] == ["STORAGE"]
    assert client.get_quota_root("[Gmail]/Trash")[1] == quotas
    return quotas[0].usage, quotas[0].limit


def big(n: int, size: int, body: str = "x") -> bytes:
    return msg(n, body=(body * size)[:size])


def test_usage_follows_appends_and_deletes_forever(emu: GmailEmulator, client: IMAPClient) -> None:
    assert storage(client) == (0, 15 * 1024 * 1024)
    emu.seed(USER, big(1, 300_000))
    client.append("INBOX", big(2, 200_000))
    used = emu.storage_used(USER)
    assert used == sum(len(m.data) for m in emu.messages(USER)) and used > 500_000
    assert storage(client)[0] == used // 1024
    # to Trash: still stored, still counted
    client.select_folder("INBOX")
    client.move(client.search(["SUBJECT", "test 1"]), TRASH)
    assert storage(client)[0] == used // 1024
    # deleted forever from Trash: gone from the quota
    client.select_folder(TRASH)
    client.delete_messages(client.search("ALL"))
    client.expunge()
    assert emu.storage_used(USER) == len(big(2, 200_000))
    assert storage(client)[0] == len(big(2, 200_000)) // 1024


def test_quota_errors(emu: GmailEmulator, raw: Raw) -> None:
    raw.login()
    assert raw.cmd('GETQUOTAROOT "No such folder"')[-1].startswith(b"t2 NO [NONEXISTENT]")
    assert raw.cmd('GETQUOTA "other"')[-1].startswith(b"t3 NO [NONEXISTENT]")
    assert raw.cmd("GETQUOTA")[-1].startswith(b"t4 BAD")
    lines = raw.cmd('GETQUOTA ""')
    assert lines == [b'* QUOTA "" (STORAGE 0 15728640)\r\n', b"t5 OK Success\r\n"]


def test_append_over_the_limit_is_refused(make_emu: Callable[..., GmailEmulator]) -> None:
    emu = make_emu(storage_limit=100 * 1024)
    c = IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=10)
    c.login(USER, PASSWORD)
    c.append("INBOX", big(1, 60_000))
    assert c.get_quota_root("INBOX")[1][0].limit == 100
    with pytest.raises(IMAPClientError, match="OVERQUOTA"):
        c.append("INBOX", big(2, 60_000))
    assert len(emu.messages(USER)) == 1
    c.select_folder("INBOX")
    c.delete_messages(c.search("ALL"))  # auto-expunge: archived, still stored
    c.select_folder(ALL)
    c.move(c.search("ALL"), TRASH)
    c.select_folder(TRASH)
    c.delete_messages(c.search("ALL"))
    c.append("INBOX", big(2, 60_000))  # room again once deleted forever
    assert [m.message_id for m in emu.messages(USER)] == ["<2@test>"]
    c.logout()


def test_rewrite_sequence_trash_then_delete_forever_then_append(emu: GmailEmulator,
                                                               client: IMAPClient) -> None:
    """What ``rewrite`` does on Gmail: while the original sits in Trash an APPEND of the new version with the
    same Message-ID is dropped (the old copy comes back instead); deleted forever, the APPEND is stored."""
    old = emu.seed(USER, big(1, 50_000, "o"), labels=("\\Inbox", "Work"), flags=("\\Seen",))
    new_bytes = big(1, 1_000, "n")
    client.select_folder(ALL)
    (uid,) = client.search(["X-GM-MSGID", old])
    client.move([uid], TRASH)
    client.append("Work", new_bytes)  # dropped: the Message-ID is still held (in Trash)
    (kept,) = emu.messages(USER)
    assert kept.gm_msgid == old and kept.data == big(1, 50_000, "o") and not kept.trashed
    client.select_folder(ALL)
    client.move(client.search(["X-GM-MSGID", old]), TRASH)
    client.select_folder(TRASH)
    (tuid,) = client.search(["X-GM-MSGID", old])
    client.delete_messages([tuid])
    client.expunge()
    assert emu.messages(USER) == [] and storage(client)[0] == 0
    client.append("Work", new_bytes, flags=["\\Seen"])
    (m,) = emu.messages(USER)
    assert m.gm_msgid != old and m.data == new_bytes and m.labels == {"Work"}
    assert storage(client)[0] == len(new_bytes) // 1024
