"""Every Session method against a real Dovecot over a real socket."""

from __future__ import annotations

import datetime as dt
import logging
import socket

import pytest

from archiver.errors import AuthError, CapabilityMissing, ConnectionLost, RemoteError
from archiver.imap import AppendRefused, Credentials, Session, connect, parse_url
from tests.imap.conftest import open_session
from tests.servers.dovecot import DovecotServer, free_port

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
MSG1 = b"From: a@example.org\r\nMessage-ID:\r\n  <one@example.org>\r\nSubject: one\r\n\r\nbody one\r\n"
MSG2 = b"From: b@example.org\r\nSubject: no id\r\n\r\nbody two\r\n"


def test_login_folders_and_roles(session: Session) -> None:
    assert "IMAP4REV1" in session.capabilities and not session.is_gmail
    sock = session._imap.sock
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    folders = {f.name: f for f in session.folders()}
    assert {n: folders[n].role for n in ("Drafts", "Sent", "Junk", "Trash", "Archive", "INBOX")} == {
        "Drafts": "\\Drafts", "Sent": "\\Sent", "Junk": "\\Junk", "Trash": "\\Trash", "Archive": "\\Archive",
        "INBOX": None}
    assert all(f.selectable and f.delimiter == "/" for f in folders.values())
    trash = session.special_folder("\\Trash")
    assert trash is not None and trash.name == "Trash"


def test_append_select_and_fetch_meta(session: Session, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="archiver.imap.wire")
    r1 = session.append("INBOX", MSG1, flags=["\\Seen", "\\Recent", "\\Deleted", "$Label1"],
                        date=dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=IST))
    r2 = session.append("INBOX", MSG2, flags=[], date=None)
    status = session.select("INBOX")
    assert session.status("INBOX") == status  # STATUS agrees with SELECT
    assert (r1.uidvalidity, r1.uid, r2.uid) == (status.uidvalidity, 1, 2)
    assert (status.exists, status.uidnext) == (2, 3) and status.highestmodseq is not None
    assert session.search_uids() == [1, 2]
    assert session.search_uids("UID 2:5") == [2] and session.search_uids("DELETED") == []
    assert "ESEARCH" in session.capabilities  # the ranges path
    m1, m2 = session.fetch_meta([2, 1, 99])
    assert m1.uid == 1 and m1.size == len(MSG1)
    assert m1.flags == ("$Label1", "\\Seen")  # \Recent and \Deleted never appended
    assert m1.internaldate == int(dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=IST).timestamp())
    assert m1.message_id == "<one@example.org>" and m2.message_id is None
    assert m1.modseq is not None and m1.gm_msgid is None and m1.gm_labels is None
    assert "APPEND" in caplog.text and "body one" not in caplog.text  # message bytes are not logged


def test_changedsince_and_store_flags(session: Session) -> None:
    for data in (MSG1, MSG2):
        session.append("INBOX", data, flags=[], date=None)
    status = session.select("INBOX", readonly=False)
    assert status.highestmodseq is not None
    assert session.fetch_meta([1, 2], changedsince=status.highestmodseq) == []
    session.store_flags([2], ["\\Flagged", "$Work"])
    changed = session.fetch_meta([1, 2], changedsince=status.highestmodseq)
    assert [(m.uid, m.flags) for m in changed] == [(2, ("$Work", "\\Flagged"))]
    session.store_flags([2], ["$Work"], op="-")
    session.store_flags([1], ["\\Seen"], op="")
    assert [m.flags for m in session.fetch_meta([1, 2])] == [("\\Seen",), ("\\Flagged",)]


def test_create_copy_and_search(session: Session) -> None:
    session.create_folder("Réunions/2019 (old)")
    session.create_folder("Réunions/2019 (old)")  # exists already: fine
    assert "Réunions/2019 (old)" in {f.name for f in session.folders()}
    for data in (MSG1, MSG2, MSG1):
        session.append("INBOX", data, flags=[], date=None)
    session.select("INBOX")
    assert session.search_message_id("<one@example.org>") == [1, 3]
    assert session.search_message_id("<absent@example.org>") == []
    mapping = session.copy([1, 3], "Réunions/2019 (old)")
    assert mapping == {1: 1, 3: 2}
    target = session.select("Réunions/2019 (old)")
    assert target.exists == 2
    assert [m.message_id for m in session.fetch_meta(session.search_uids())] == ["<one@example.org>"] * 2


def test_gmail_only_commands_refused_on_dovecot(session: Session) -> None:
    session.select("INBOX")
    with pytest.raises(CapabilityMissing):
        session.store_labels([1], ["x"])
    with pytest.raises(CapabilityMissing):
        session.gmail_raw_search("in:anywhere")


def test_append_refused_is_typed_and_session_survives(session: Session) -> None:
    with pytest.raises(AppendRefused) as info:
        session.append("No Such Folder", MSG1, flags=[], date=None)
    assert "TRYCREATE" in str(info.value) and info.value.code == "TRYCREATE"
    assert session.append("INBOX", MSG1, flags=[], date=None).uid == 1


def test_store_op_checked(session: Session) -> None:
    session.select("INBOX")
    with pytest.raises(Exception, match="STORE operation"):
        session.store_flags([1], ["\\Seen"], op="*")


def test_wrong_password_is_auth_error_without_secret(dovecot: DovecotServer,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-Passw0rd-xyzzy"
    with pytest.raises(AuthError) as info:
        open_session(dovecot, password=wrong)
    assert info.value.exit_code == 12
    assert wrong not in str(info.value) and wrong not in repr(info.value)
    assert wrong not in caplog.text
    assert "LOGIN **REDACTED**" in caplog.text  # the wire log ran, redacted


def test_unreachable_server_is_connection_lost() -> None:
    port = free_port()
    with pytest.raises(ConnectionLost, match=f"127.0.0.1:{port}"):
        connect(parse_url(f"imap://alice@127.0.0.1:{port}"), Credentials(password="x"), timeout=5)


def test_starttls_required(dovecot: DovecotServer) -> None:
    """Dovecot here has ssl=no, so it offers no STARTTLS: imap+starttls:// must refuse to go on in clear."""
    with pytest.raises(ConnectionLost, match="STARTTLS"):
        connect(parse_url(f"imap+starttls://alice@127.0.0.1:{dovecot.port}"), Credentials(password="secret"),
                timeout=5)


def test_server_error_is_remote_error(session: Session) -> None:
    with pytest.raises(RemoteError, match="SELECT"):
        session.select("Does Not Exist")
    session.noop()  # still usable
