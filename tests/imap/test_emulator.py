"""The IMAP layer against the Gmail emulator: X-GM-* items, labels, special folders, Gmail's failure lines."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from archiver.emulator import EmulatorConfig, Fault, GmailEmulator
from archiver.errors import AuthError, ConnectionLost, Throttled
from archiver.imap import AppendRefused, Credentials, Reconnecting, RetryPolicy, Session, connect, parse_url
from tests.helpers.emulator import PASSWORD, TOKEN, USER, WEB_PASSWORD

LABELS = ("\\Inbox", "Work & Play", "a (b) [c]", "Réunions/2019", "日本語", '"quoted"')


def _msg(i: int, size: int = 200) -> bytes:
    return (b"From: x@example.org\r\nMessage-ID: <m%d@example.org>\r\nSubject: %d\r\n\r\n" % (i, i)
            + b"b" * size + b"\r\n")


def _connect(emu: GmailEmulator, creds: Credentials | None = None) -> Session:
    endpoint = parse_url(f"imap://{USER.replace('@', '%40')}@127.0.0.1:{emu.port}")
    return connect(endpoint, creds or Credentials(password=PASSWORD), timeout=10)


@pytest.mark.parametrize("emu_config", [EmulatorConfig(locale="de")])
def test_special_folders_by_attribute_in_any_locale(emu: GmailEmulator) -> None:
    with _connect(emu) as session:
        assert session.is_gmail and session.condstore
        roles = {f.role: f.name for f in session.folders() if f.role}
        assert roles["\\All"] == "[Gmail]/Alle Nachrichten"
        assert roles["\\Trash"] == "[Gmail]/Papierkorb" and roles["\\Junk"] == "[Gmail]/Spam"
        assert {"\\Sent", "\\Drafts", "\\Flagged", "\\Important"} <= set(roles)
        parent = next(f for f in session.folders() if f.name == "[Gmail]")
        assert not parent.selectable


def test_fetch_meta_gmail_items_and_labels(emu: GmailEmulator) -> None:
    date = dt.datetime(2019, 7, 17, 9, 40, 8, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    gid = emu.seed(USER, _msg(1), labels=LABELS, flags=("\\Seen",), internaldate=date)
    emu.seed(USER, b"Subject: no id\r\n\r\nx\r\n", labels=())
    with _connect(emu) as session:
        all_mail = session.special_folder("\\All")
        assert all_mail is not None
        before = session.status(all_mail.name)
        status = session.select(all_mail.name)
        assert status.exists == 2 and status.highestmodseq == emu.highestmodseq(USER)
        assert before == status
        m1, m2 = session.fetch_meta(session.search_uids())
        assert m1.gm_msgid == gid and m1.gm_thrid == gid
        assert m1.gm_labels == tuple(sorted(LABELS))
        assert m1.flags == ("\\Seen",) and m1.message_id == "<m1@example.org>"
        assert (m1.internaldate, m1.tz_minutes) == (int(date.timestamp()), 120)
        assert m2.gm_labels == () and m2.message_id is None


def test_store_labels_and_changedsince(emu: GmailEmulator) -> None:
    gids = [emu.seed(USER, _msg(i), labels=("\\Inbox",)) for i in range(3)]
    with _connect(emu) as session:
        status = session.select("[Gmail]/All Mail", readonly=False)
        uids = session.search_uids()
        session.store_labels(uids[:2], ["Work & Play", "a (b) [c]", "日本語", "\\Starred"])
        session.store_labels(uids[1:2], ["\\Inbox"], op="-")
        added = {"Work & Play", "a (b) [c]", "日本語", "\\Starred"}
        assert emu.message(USER, gids[0]).labels == {"\\Inbox", *added}
        assert emu.message(USER, gids[1]).labels == {"Work & Play", "a (b) [c]", "日本語", "\\Starred"}
        changed = session.fetch_meta(uids, changedsince=status.highestmodseq)
        assert [m.uid for m in changed] == uids[:2]
        assert changed[1].gm_labels == tuple(sorted(["Work & Play", "a (b) [c]", "日本語", "\\Starred"]))
        assert session.gmail_raw_search("rfc822msgid:m2@example.org") == [uids[2]]


def test_append_appenduid_and_missing_appenduid(emu: GmailEmulator) -> None:
    with _connect(emu) as session:
        first = session.append("[Gmail]/All Mail", _msg(1, 6000), flags=["\\Seen", "\\Recent"],
                               date=dt.datetime(2001, 1, 1, tzinfo=dt.UTC))
        assert first.uid is not None and first.uidvalidity is not None
        emu.inject(Fault.NO_APPENDUID)
        second = session.append("[Gmail]/All Mail", _msg(2), flags=[], date=None)
        assert (second.uid, second.uidvalidity) == (None, None) and "Success" in second.text
        session.select("[Gmail]/All Mail")
        assert session.search_message_id("<m2@example.org>") != []
    assert len(emu.messages(USER)) == 2


def test_nul_byte_append_refused(emu: GmailEmulator) -> None:
    session = _connect(emu)
    with pytest.raises(AppendRefused, match="Invalid character"):
        session.append("INBOX", b"Subject: nul\r\n\r\na\x00b\r\n", flags=[], date=None)
    session.close()


def test_bye_mid_fetch_yields_partial_then_connection_lost(emu: GmailEmulator) -> None:
    for i in range(10):
        emu.seed(USER, _msg(i))
    session = _connect(emu)
    session.select("INBOX")
    uids = session.search_uids()
    emu.inject(Fault.BYE_MID_FETCH, after_messages=4)
    got = []
    with pytest.raises(ConnectionLost, match="Session expired"):
        for item in session.fetch_bodies(uids):
            got.append(item)
    assert [u for u, _ in got] == uids[:4]
    assert [b for _, b in got] == [_msg(i) for i in range(4)]
    session.close()


def test_reconnecting_resumes_after_drop_mid_fetch(emu: GmailEmulator) -> None:
    for i in range(12):
        emu.seed(USER, _msg(i, 1000))
    emu.inject(Fault.DROP_MID_FETCH, after_messages=5)
    notes: list[str] = []
    with Reconnecting(lambda: _connect(emu), note=notes.append,
                      policy=RetryPolicy(sleep=lambda _s: None)) as rc:
        rc.select("INBOX")
        uids = rc.run(lambda s: s.search_uids())
        got = list(rc.fetch_bodies(uids))
    assert [u for u, _ in got] == uids and [b for _, b in got] == [_msg(i, 1000) for i in range(12)]
    assert rc.retries == 1 and len(notes) == 1
    assert emu.stats(USER)["body_bytes_sent"] < 2 * sum(len(b) for _, b in got)


def test_throttled_ok_signals_and_overquota_raises(emu: GmailEmulator) -> None:
    emu.seed(USER, _msg(1))
    with _connect(emu) as session:
        seen: list[str] = []
        session.on_throttle = seen.append
        session.select("INBOX")
        emu.inject(Fault.THROTTLED, times=2)
        assert [u for u, _ in session.fetch_bodies([1])] == [1]
        assert session.fetch_meta([1])[0].message_id == "<m1@example.org>"
        assert session.throttle_signals == 2 and all("[THROTTLED]" in t for t in seen)
        emu.inject(Fault.OVERQUOTA)
        with pytest.raises(Throttled, match="OVERQUOTA"):
            list(session.fetch_bodies([1]))


def test_app_password_alert_and_xoauth2(emu: GmailEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as info:
        _connect(emu, Credentials(password=WEB_PASSWORD))
    assert "Application-specific password required" in str(info.value)
    assert info.value.hint is not None and "app password" in info.value.hint
    with _connect(emu, Credentials(oauth2_token=TOKEN)) as session:
        assert session.select("INBOX").exists == 0
    with pytest.raises(AuthError):
        _connect(emu, Credentials(oauth2_token="ya29.wrong-token-value"))
    for secret in (WEB_PASSWORD, TOKEN, "ya29.wrong-token-value"):
        assert secret not in caplog.text
    assert "AUTHENTICATE XOAUTH2 **REDACTED**" in caplog.text


def test_too_big_refused_before_sending_and_session_usable(emu: GmailEmulator) -> None:
    big = b"Subject: big\r\n\r\n" + b"x" * (35651584 + 1)
    with _connect(emu) as session:
        with pytest.raises(AppendRefused) as info:
            session.append("INBOX", big, flags=[], date=None)
        assert info.value.code == "TOOBIG"
        assert session.append("INBOX", _msg(1), flags=[], date=None).uid is not None
    assert emu.stats(USER)["bytes_received"] < 10_000  # the literal was never sent


@pytest.mark.parametrize("emu_config", [EmulatorConfig(max_connections=1)])
def test_connection_limit_is_throttled_not_auth_error(emu: GmailEmulator) -> None:
    with _connect(emu):
        with pytest.raises(Throttled, match="Too many simultaneous connections") as info:
            _connect(emu)
        assert info.value.hint is not None and "--connections" in info.value.hint


def test_bye_on_append_is_connection_lost_with_the_server_words(emu: GmailEmulator) -> None:
    session = _connect(emu)
    emu.inject(Fault.BYE_ON_APPEND)
    with pytest.raises(ConnectionLost, match="Session expired"):
        session.append("INBOX", _msg(1), flags=[], date=None)
    session.close()
    assert emu.messages(USER) == []


def test_reconnecting_pauses_when_asked_to_slow_down(emu: GmailEmulator) -> None:
    emu.seed(USER, _msg(1))
    waits: list[float] = []
    notes: list[str] = []
    with Reconnecting(lambda: _connect(emu), note=notes.append,
                      policy=RetryPolicy(sleep=waits.append, throttle_pause=2.5)) as rc:
        rc.select("INBOX")
        emu.inject(Fault.THROTTLED, times=1)
        assert [u for u, _ in rc.fetch_bodies([1])] == [1]
    assert waits == [2.5] and rc.retries == 0 and "slow down" in notes[0]
