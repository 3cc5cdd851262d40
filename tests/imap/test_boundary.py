"""Foreign exceptions become archiver errors at the boundary, with host:port, hints, and no secrets."""

from __future__ import annotations

import imaplib
import socket
import ssl

import pytest
from imapclient.exceptions import LoginError

from archiver.errors import ArchiverError, AuthError, ConnectionLost, RemoteError, Throttled
from archiver.imap.boundary import boundary, translate

WHERE = "imap.example.org:993"


@pytest.mark.parametrize(("exc", "kind", "words"), [
    (socket.gaierror(-2, "Name or service not known"), ConnectionLost, "cannot resolve"),
    (ConnectionRefusedError(111, "Connection refused"), ConnectionLost, "refused"),
    (TimeoutError("timed out"), ConnectionLost, "did not answer"),
    (ConnectionResetError(104, "Connection reset by peer"), ConnectionLost, "reset"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), ConnectionLost, "TLS failure"),
    (imaplib.IMAP4.abort("socket error: EOF"), ConnectionLost, "lost during"),
    (imaplib.IMAP4.abort("command: FETCH => Account exceeded command or bandwidth limits."), Throttled,
     "throttling"),
    (imaplib.IMAP4.error("FETCH failed: [OVERQUOTA] x"), Throttled, "OVERQUOTA"),
    (imaplib.IMAP4.error("SELECT failed: b'[NONEXISTENT] Unknown Mailbox: x (Failure)'"), RemoteError,
     "[NONEXISTENT] Unknown Mailbox"),
])
def test_translation(exc: BaseException, kind: type[ArchiverError], words: str) -> None:
    out = translate(exc, WHERE, "FETCH")
    assert type(out) is kind and WHERE in str(out) and words in str(out)


def test_certificate_error_names_the_problem_and_hints_cacert() -> None:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_message = "self-signed certificate"
    out = translate(exc, WHERE, "connect")
    assert isinstance(out, ConnectionLost) and "self-signed certificate" in str(out)
    assert out.hint is not None and "--cacert" in out.hint


def test_login_errors_are_auth_errors_scrubbed() -> None:
    out = translate(LoginError("b'[AUTHENTICATIONFAILED] Invalid credentials for hunter2-pw (Failure)'"),
                    WHERE, "login", secrets=("hunter2-pw", None))
    assert isinstance(out, AuthError) and "hunter2-pw" not in str(out) and "Invalid credentials" in str(out)
    assert "b'" not in str(out)


def test_boundary_chains_with_from() -> None:
    with pytest.raises(ConnectionLost) as info, boundary(WHERE, "NOOP"):
        raise BrokenPipeError(32, "Broken pipe")
    assert isinstance(info.value.__cause__, BrokenPipeError)


def test_boundary_lets_other_errors_through() -> None:
    with pytest.raises(KeyError), boundary(WHERE, "NOOP"):
        raise KeyError("a bug, not a network problem")
