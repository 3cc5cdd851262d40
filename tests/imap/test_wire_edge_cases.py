"""Response shapes a real server rarely shows on demand, from a scripted server over a real socket."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from archiver.errors import ConnectionLost, Throttled
from archiver.imap import AppendRefused, Credentials, Session, connect, parse_url
from tests.imap.scripted import ScriptedServer

BODY_A = b"Subject: a\r\n\r\nNUL \x00, 8-bit \xe9\xff, bare CR \r and LF \n, {5}\r\n.\r\n"
BODY_B = b"Subject: b\n\nLF only ) { } \"quoted\"\n"


def _connect(server: ScriptedServer, password: str = "pw-123456") -> Session:
    return connect(parse_url(f"imap://alice@127.0.0.1:{server.port}"), Credentials(password=password),
                   timeout=5)


def _lit(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


def test_uid_before_or_after_body_unsolicited_and_nil() -> None:
    fetch = (b"* 1 FETCH (UID 10 BODY[] " + _lit(BODY_A) + b")\r\n"
             b"* 4 EXISTS\r\n"
             b"* 2 FETCH (FLAGS (\\Seen) UID 11)\r\n"  # unsolicited flag update, no body
             b"* 2 FETCH (BODY[] " + _lit(BODY_B) + b" UID 11)\r\n"
             b"* 3 FETCH (UID 12 BODY[] NIL)\r\n"
             b"* 9 FETCH (UID 99 BODY[] " + _lit(b"not asked for") + b")\r\n"
             b"* 2 FETCH (UID 11 BODY[] " + _lit(b"duplicate") + b")\r\n"
             b"TAG OK Success\r\n")
    with ScriptedServer({"UID FETCH": fetch}) as server, _connect(server) as session:
        assert session.is_gmail
        session.select("INBOX")
        got = list(session.fetch_bodies([10, 11, 12]))
        assert got == [(10, BODY_A), (11, BODY_B)]
        assert session.missing_bodies == [12]
        session.noop()  # still in step with the server
        assert b"UID FETCH 10:12 (UID BODY.PEEK[])" in b"".join(server.received)


def test_bye_mid_fetch_yields_what_arrived_then_raises() -> None:
    fetch = (b"* 1 FETCH (UID 10 BODY[] " + _lit(BODY_A) + b")\r\n"
             b"* BYE Session expired, please login again\r\n")
    with ScriptedServer({"UID FETCH": fetch}) as server:
        session = _connect(server)
        session.select("INBOX")
        got = []
        with pytest.raises(ConnectionLost) as info:
            for item in session.fetch_bodies([10, 11]):
                got.append(item)
        assert got == [(10, BODY_A)]
        assert "Session expired" in str(info.value)
        session.close()


def test_literal_cut_short_is_connection_lost() -> None:
    fetch = b"* 1 FETCH (UID 10 BODY[] {500}\r\n" + b"x" * 100 + b"<CLOSE>"
    with ScriptedServer({"UID FETCH": fetch}) as server:
        session = _connect(server)
        session.select("INBOX")
        with pytest.raises(ConnectionLost):
            list(session.fetch_bodies([10]))
        session.close()


def test_ok_throttled_keeps_result_and_signals() -> None:
    fetch = b"* 1 FETCH (UID 10 BODY[] " + _lit(BODY_A) + b")\r\nTAG OK Success [THROTTLED]\r\n"
    with ScriptedServer({"UID FETCH": fetch}) as server, _connect(server) as session:
        seen: list[str] = []
        session.on_throttle = seen.append
        session.select("INBOX")
        assert list(session.fetch_bodies([10])) == [(10, BODY_A)]
        assert session.throttle_signals == 1 and "[THROTTLED]" in seen[0]


def test_overquota_raises_throttled() -> None:
    reply = b"TAG NO [OVERQUOTA] Account exceeded command or bandwidth limits. (Failure)\r\n"
    with ScriptedServer({"UID FETCH": reply}) as server, _connect(server) as session:
        session.select("INBOX")
        with pytest.raises(Throttled, match="OVERQUOTA"):
            list(session.fetch_bodies([1]))
        with pytest.raises(Throttled):
            session.fetch_meta([1])


def test_app_password_alert_becomes_hint(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reply = (b"TAG NO [ALERT] Application-specific password required: "
             b"https://support.google.com/accounts/answer/185833 (Failure)\r\n")
    with ScriptedServer({"LOGIN": reply}) as server:
        with pytest.raises(Exception) as info:
            _connect(server, password="my-real-password")
        assert type(info.value).__name__ == "AuthError" and info.value.exit_code == 12  # type: ignore[attr-defined]
        assert "app password" in (info.value.hint or "")  # type: ignore[attr-defined]
        assert "my-real-password" not in str(info.value) + caplog.text
        assert any(b"LOGIN" in line and b"my-real-password" in line for line in server.received)


def test_append_literal_minus_sync_and_toobig() -> None:
    script = {"APPEND": b"TAG OK [APPENDUID 7 51] (Success)\r\n"}
    big = b"Subject: big\r\n\r\n" + b"x" * 5000 + b"\r\n"
    small = b"Subject: small\r\n\r\nhi\r\n"
    date = dt.datetime(2019, 7, 17, 9, 40, 8, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    with ScriptedServer(script) as server, _connect(server) as session:
        r1 = session.append("[Gmail]/All Mail", small, flags=["\\Seen"], date=date)
        r2 = session.append("[Gmail]/All Mail", big, flags=[], date=None)
        assert (r1.uidvalidity, r1.uid, r2.uid) == (7, 51, 51)
        lines = [ln for ln in server.received if b"APPEND" in ln]
        assert lines[0].endswith(b'"[Gmail]/All Mail" (\\Seen) "17-Jul-2019 09:40:08 -0700" {%d+}\r\n'
                                 % len(small))
        assert lines[1].endswith(b"{%d}\r\n" % len(big))  # > 4096 with LITERAL-: synchronising
        assert small + b"\r\n" in server.received and big + b"\r\n" in server.received
    toobig = {"APPEND": b"TAG BAD [TOOBIG] Message too large. https://support.google.com/mail/answer/6584\r\n"}
    with ScriptedServer(toobig) as server, _connect(server) as session:
        with pytest.raises(AppendRefused) as info:
            session.append("INBOX", small, flags=[], date=None)
        assert info.value.code == "TOOBIG" and "too large" in info.value.reason
        session.noop()


def test_append_ok_without_appenduid() -> None:
    with ScriptedServer({"APPEND": b"TAG OK (Success)\r\n"}) as server, _connect(server) as session:
        result = session.append("INBOX", b"Subject: x\r\n\r\n", flags=[], date=None)
        assert (result.uidvalidity, result.uid, result.text) == (None, None, "(Success)")


def test_fetch_meta_merges_by_message_and_ignores_strays() -> None:
    date = b'INTERNALDATE "17-Jul-2019 09:40:08 +0000" RFC822.SIZE 5'
    fetch = (b"* 1 FETCH (UID 10 FLAGS () " + date + b" X-GM-MSGID 5 X-GM-THRID 5 X-GM-LABELS (\\Inbox))\r\n"
             b"* 1 FETCH (FLAGS (\\Seen))\r\n"  # a second response for the same message, without UID
             b"* 7 FETCH (FLAGS (\\Deleted))\r\n"  # sequence 7 is not UID 7
             b"* 2 FETCH (UID 99 FLAGS () " + date + b")\r\n"  # a UID not asked for
             b"TAG OK Success\r\n")
    with ScriptedServer({"UID FETCH": fetch}) as server, _connect(server) as session:
        session.select("INBOX")
        metas = session.fetch_meta([7, 10])
        assert [(m.uid, m.flags, m.gm_labels) for m in metas] == [(10, ("\\Seen",), ("\\Inbox",))]
        assert b"UID FETCH 7,10 (" in b"".join(server.received)


def test_plain_search_with_a_line_over_one_megabyte() -> None:
    uids = list(range(1, 250_001))
    reply = b"* SEARCH " + " ".join(map(str, reversed(uids))).encode() + b"\r\nTAG OK SEARCH completed\r\n"
    assert len(reply) > 1_000_000  # over imaplib's own line limit
    with ScriptedServer({"UID SEARCH": reply}) as server, _connect(server) as session:
        assert "ESEARCH" not in session.capabilities
        session.select("INBOX")
        assert session.search_uids("UNDELETED") == uids


def test_other_commands_refused_while_bodies_stream() -> None:
    fetch = (b"* 1 FETCH (UID 10 BODY[] " + _lit(BODY_A) + b")\r\n* 2 FETCH (UID 11 BODY[] " + _lit(BODY_B)
             + b")\r\nTAG OK Success\r\n")
    with ScriptedServer({"UID FETCH": fetch}) as server, _connect(server) as session:
        session.select("INBOX")
        stream = session.fetch_bodies([10, 11])
        assert next(stream) == (10, BODY_A)
        with pytest.raises(Exception, match="still reading"):
            session.noop()
        assert list(stream) == [(11, BODY_B)]
        session.noop()


def test_a_label_named_throttled_is_not_a_signal() -> None:
    fetch = (b'* 1 FETCH (UID 10 X-GM-LABELS ("[THROTTLED]" "[OVERQUOTA]") FLAGS () '
             b'INTERNALDATE "17-Jul-2019 09:40:08 +0000" RFC822.SIZE 5)\r\nTAG OK Success\r\n')
    with ScriptedServer({"UID FETCH": fetch}) as server, _connect(server) as session:
        session.select("INBOX")
        assert session.fetch_meta([10])[0].gm_labels == ("[OVERQUOTA]", "[THROTTLED]")
        assert session.throttle_signals == 0
