"""IDLE, UIDVALIDITY resets, X-GM-MSGID range, the synthetic mail generator, concurrent sessions."""

from __future__ import annotations

import threading
from collections.abc import Callable

from imapclient import IMAPClient

from archiver.emulator import GmailEmulator
from archiver.emulator.synth import generate
from tests.helpers.emulator import PASSWORD, USER, Raw, msg


def test_idle_reports_new_mail_and_expunge(emu: GmailEmulator, client: IMAPClient) -> None:
    gid = emu.seed(USER, msg(1))
    client.select_folder("INBOX")
    client.idle()
    emu.seed(USER, msg(2))
    first = client.idle_check(timeout=5)
    emu.set_labels(USER, gid, ())
    second = client.idle_check(timeout=5)
    client.idle_done()
    assert (2, b"EXISTS") in first and (1, b"EXPUNGE") in second


def test_reset_uidvalidity(emu: GmailEmulator, client: IMAPClient, raw: Raw) -> None:
    a = emu.seed(USER, msg(1), labels=("\\Inbox",))
    b = emu.seed(USER, msg(2), labels=("\\Inbox",))
    emu.set_labels(USER, a, ())
    emu.set_labels(USER, a, ("\\Inbox",))
    assert emu.uids(USER, "INBOX") == {2: b, 3: a}
    before = client.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"]
    raw.login()
    raw.cmd("SELECT INBOX")
    emu.reset_uidvalidity(USER, "INBOX")
    assert emu.uids(USER, "INBOX") == {1: b, 2: a}
    assert client.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"] != before
    raw.send(b"n1 NOOP\r\n")
    assert raw.readline().startswith(b"* BYE")  # a session on the folder must reselect


def test_msgid_offset_beyond_signed_64_bit(make_emu: Callable[..., GmailEmulator]) -> None:
    emu = make_emu(msgid_offset=2**63)
    gid = emu.seed(USER, msg(1))
    c = IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=10)
    c.login(USER, PASSWORD)
    c.select_folder("INBOX")
    assert 2**63 < gid < 2**64
    assert c.fetch([1], ["X-GM-MSGID"])[1][b"X-GM-MSGID"] == gid
    assert c.search(["X-GM-MSGID", gid]) == [1]
    c.logout()


def test_synth_is_deterministic_and_threads(emu: GmailEmulator) -> None:
    one, two = generate(200, seed=7), generate(200, seed=7)
    assert one == two and generate(200, seed=8) != one
    assert len({m.raw for m in one}) == 200
    for raw, labels, flags, date, _thread in one:
        emu.seed(USER, raw, labels=labels, flags=flags, internaldate=date)
    msgs = emu.messages(USER)
    assert len({m.gm_thrid for m in msgs}) == len({m.thread for m in one}) < 200
    assert any(not m.labels for m in msgs) and any(lb.startswith("\\") for m in msgs for lb in m.labels)
    assert {m.internaldate for m in msgs} == {m.date for m in one}


def test_parallel_sessions(emu: GmailEmulator) -> None:
    for raw, labels, flags, date, _t in generate(100, seed=3):
        emu.seed(USER, raw, labels=labels, flags=flags, internaldate=date)
    results: list[int] = []

    def work() -> None:
        c = IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=20)
        c.login(USER, PASSWORD)
        c.select_folder("[Gmail]/All Mail", readonly=True)
        results.append(sum(len(v[b"BODY[]"]) for v in c.fetch(c.search("ALL"), ["BODY.PEEK[]"]).values()))
        c.logout()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(set(results)) == 1
    assert results[0] == sum(len(m.data) for m in emu.messages(USER))
    assert emu.connections(USER) == 0
