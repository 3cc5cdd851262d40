"""Translate socket/ssl/imaplib/imapclient exceptions into ``archiver.errors`` where they enter (httpx style).

Every message names the server (``host:port``) and the operation, never a secret: texts from the wire pass
through ``scrub`` with the secrets known at the call site.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import socket
import ssl
from collections.abc import Iterable, Iterator

from imapclient import exceptions as imapclient_exc

from archiver.errors import ArchiverError, AuthError, ConnectionLost, RemoteError, Throttled

GMAIL_PASSWORD_HINT = ("Gmail takes an app password (Google Account > Security > 2-Step Verification > App "
                       "passwords), not the account password; or sign in with Google once: gmail-archiver "
                       "auth login ACCOUNT, then use --oauth ACCOUNT")
APP_PASSWORD_HINT = GMAIL_PASSWORD_HINT
WEB_LOGIN_HINT = "sign in once with a web browser to unblock the account, or use an app password / OAuth2"
CACERT_HINT = "for a private CA or a self-signed certificate, pass the CA certificate with --cacert"
NOT_TLS_HINT = ("this port expects plain text first: use imap+starttls://user@host:port (or imap:// on "
                "loopback), or the server's TLS port (usually 993) with imaps://")
NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                             "HTTP_REQUEST", "UNKNOWN_PROTOCOL"})
"""OpenSSL's reasons when the peer's first bytes are not a TLS record (an IMAP greeting, for one)."""
CONNECTIONS_HINT = ("Gmail allows 15 connections per account, shared with phones and mail apps: use fewer "
                    "--connections")
THROTTLE_MARKERS = ("[THROTTLED]", "[OVERQUOTA]", "ACCOUNT EXCEEDED COMMAND OR BANDWIDTH LIMITS")


def server_text(exc: BaseException) -> str:
    """The server's words from an imaplib/imapclient error, without Python's ``b'...'`` wrapping."""
    raw = str(exc)
    raw = re.sub(r"""b(['"])(.*?)\1""", r"\2", raw)
    return raw.replace("\\r\\n", " ").strip()


def scrub(message: str, secrets: Iterable[str | None]) -> str:
    """Remove every occurrence of a secret from a message (defence in depth; servers may echo input)."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            message = message.replace(secret, "***")
    return message


def is_throttle_text(text: str) -> bool:
    upper = text.upper()
    return any(marker in upper for marker in THROTTLE_MARKERS)


def translate(exc: BaseException, where: str, what: str, secrets: Iterable[str | None] = ()) -> ArchiverError:
    """The archiver error for a foreign exception raised while doing ``what`` with server ``where``."""
    secrets = tuple(secrets)
    if isinstance(exc, ArchiverError):
        return exc
    if isinstance(exc, imapclient_exc.LoginError):
        text = scrub(server_text(exc), secrets)
        if "too many simultaneous connections" in text.lower():
            return Throttled(f"{where} refused another connection: {text}", hint=CONNECTIONS_HINT)
        hint = None
        if "application-specific password" in text.lower():
            hint = APP_PASSWORD_HINT
        elif "web browser" in text.lower():
            hint = WEB_LOGIN_HINT
        return AuthError(f"{where} refused the login: {text}", hint=hint)
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or "verification failed"
        return ConnectionLost(f"TLS certificate of {where} not accepted: {reason}", hint=CACERT_HINT)
    if isinstance(exc, ssl.SSLError):
        reason = str(getattr(exc, "reason", None) or exc)
        if reason.upper() in NOT_TLS_REASONS:  # the server answered, but not in TLS: a certificate won't help
            return ConnectionLost(f"{where} does not speak TLS on connect (the TLS handshake got a "
                                  f"plain-text answer: {reason})", hint=NOT_TLS_HINT)
        return ConnectionLost(f"TLS failure with {where}: {reason}", hint=CACERT_HINT)
    if isinstance(exc, socket.gaierror):
        return ConnectionLost(f"cannot resolve the host of {where}: {exc.strerror}")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionLost(f"connection to {where} refused")
    if isinstance(exc, TimeoutError):
        return ConnectionLost(f"{where} did not answer in time ({what})")
    if isinstance(exc, OSError):
        return ConnectionLost(f"connection to {where} failed during {what}: {exc.strerror or exc}")
    if isinstance(exc, imaplib.IMAP4.abort):
        text = scrub(server_text(exc), secrets)
        if is_throttle_text(text):
            return Throttled(f"{where} is throttling ({what}): {text}")
        return ConnectionLost(f"connection to {where} lost during {what}: {text}")
    if isinstance(exc, imaplib.IMAP4.error):
        text = scrub(server_text(exc), secrets)
        if is_throttle_text(text):
            return Throttled(f"{where} is throttling ({what}): {text}")
        return RemoteError(f"{where}: {what} failed: {text}")
    if isinstance(exc, EOFError):
        return ConnectionLost(f"connection to {where} closed during {what}")
    return RemoteError(f"{where}: {what} failed: {type(exc).__name__}")


@contextlib.contextmanager
def boundary(where: str, what: str, secrets: Iterable[str | None] = ()) -> Iterator[None]:
    """Run a block of wire I/O; foreign errors leave it as archiver errors chained with ``from``."""
    try:
        yield
    except ArchiverError:
        raise
    except (OSError, EOFError, imaplib.IMAP4.error) as exc:
        raise translate(exc, where, what, secrets) from exc
