"""``login``: Google's installed-app sign-in (authorization code + PKCE + state), two ways to get the code.

- Loopback (default): a one-shot HTTP listener on ``127.0.0.1:<ephemeral port>``; the browser is sent
  back to it with ``?state=..&code=..``.
- Headless: the URL is opened on any machine; the user pastes the address the browser was sent to (the
  page fails to load there, but the address bar holds the code).  No device flow: Google refuses it for
  Gmail's scope; no out-of-band copy/paste flow: Google retired it.

The protocol (URL, PKCE verifier and challenge, state check, code exchange) is google-auth-oauthlib's.
"""

from __future__ import annotations

import datetime as dt
import http.server
import logging
import socket
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archiver.auth import store
from archiver.auth.client import GMAIL_SCOPE, ClientConfig, load_client, loopback_http
from archiver.errors import AuthError, ConnectionLost, UsageError

log = logging.getLogger(__name__)
DONE_PAGE = (b"<!doctype html><title>gmail-archiver</title><p>Signed in. You can close this window and "
             b"go back to the terminal.</p>")


@dataclass(frozen=True)
class LoginResult:
    account: str
    client_id: str
    path: Path
    """The 0600 file the refresh token is kept in."""


def login(account: str, client_file: Path | None = None, *, show_url: Callable[[str], None],
          read_redirect: Callable[[], str] | None = None, timeout: float = 300.0,
          login_hint: str | None = None) -> LoginResult:
    """Sign ``account`` in with the OAuth client in ``client_file`` (default: ``client_secret.json`` in the
    config directory); stores the refresh token.

    ``show_url(url)`` gets the consent URL (the CLI prints it and may open a browser).  With
    ``read_redirect`` (headless) the address the browser was sent to is read from it; otherwise a loopback
    listener waits up to ``timeout`` seconds for the browser.  AuthError when consent is refused or the
    answer does not match this sign-in; ConnectionLost when the token endpoint cannot be reached.
    """
    from google_auth_oauthlib.flow import Flow  # ~100 ms of imports, only for this command

    store.check_account(account)
    client = load_client(client_file)
    listener = None if read_redirect is not None else _Listener()
    port = listener.port if listener is not None else _free_port()
    redirect_uri = f"http://127.0.0.1:{port}/"
    try:
        with loopback_http(client.auth_uri, client.token_uri):
            flow = Flow.from_client_config(client.as_flow_config(), scopes=[GMAIL_SCOPE],
                                           redirect_uri=redirect_uri, autogenerate_code_verifier=True)
            extra = {"login_hint": login_hint} if login_hint else {}
            url, _state = flow.authorization_url(access_type="offline", prompt="consent", **extra)
            show_url(url)
            answer = read_redirect().strip() if read_redirect is not None else _wait(listener, timeout)
            _check_answer(answer, redirect_uri)
            _exchange(flow, client, answer)
    finally:
        if listener is not None:
            listener.close()
    creds = flow.credentials
    refresh_token = getattr(creds, "refresh_token", None)
    if not refresh_token:
        raise AuthError("Google gave no refresh token, so the sign-in could not be kept",
                        hint=f"remove the app's access at https://myaccount.google.com/permissions, then "
                             f"gmail-archiver auth login {account}")
    sign_in = store.SignIn(account=account, client_id=client.client_id, token_uri=client.token_uri,
                           revoke_uri=client.revoke_uri, scopes=(GMAIL_SCOPE,),
                           created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                           refresh_token=str(refresh_token), client_secret=client.client_secret)
    path = store.save(sign_in)
    log.info("stored the sign-in of %s in %s", account, path)
    return LoginResult(account=account, client_id=client.client_id, path=path)


def _check_answer(answer: str, redirect_uri: str) -> None:
    """The pasted/received address must be our redirect URI with a code (or Google's error)."""
    parts = urllib.parse.urlsplit(answer)
    query = dict(urllib.parse.parse_qsl(parts.query))
    mine = urllib.parse.urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or parts.netloc != mine.netloc:
        raise UsageError("that is not the address the browser was sent to",
                         hint=f"paste the whole address from the browser's address bar; it starts with "
                              f"{redirect_uri}")
    if "error" in query:
        raise AuthError(f"Google did not grant access: {query['error']}",
                        hint="sign in again and click Allow (a Testing app admits its test users only)")
    if "code" not in query:
        raise UsageError("the address holds no authorization code",
                         hint=f"paste the whole address from the browser's address bar; it starts with "
                              f"{redirect_uri}")


def _exchange(flow: Any, client: ClientConfig, answer: str) -> None:
    """The code (and the PKCE verifier) for tokens; oauthlib checks the state."""
    import requests
    from oauthlib.oauth2.rfc6749 import errors as oauth_errors

    # oauthlib insists on https for the response URI; the loopback redirect is http by Google's design
    # (google-auth-oauthlib does the same).  The URI is only parsed here, never fetched.
    https_answer = urllib.parse.urlunsplit(("https", *urllib.parse.urlsplit(answer)[1:]))
    try:
        flow.fetch_token(authorization_response=https_answer)
    except oauth_errors.MismatchingStateError:
        raise AuthError("the answer does not belong to this sign-in (its state differs)",
                        hint="start again and use the address of this sign-in only") from None
    except oauth_errors.OAuth2Error as exc:
        raise AuthError(f"the token endpoint {client.token_uri} refused the code: {exc.error}"
                        + (f" ({exc.description})" if exc.description else ""),
                        hint="run gmail-archiver auth login again (a code is good for a few minutes, once)"
                        ) from None
    except requests.RequestException as exc:
        raise ConnectionLost(f"cannot reach the token endpoint {client.token_uri}: {type(exc).__name__}"
                             ) from None


def _free_port() -> int:
    """A free loopback port for the headless redirect URI (nothing listens there: the user copies it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Listener:
    """A one-shot loopback HTTP server catching the browser's redirect (other paths get 404)."""

    def __init__(self) -> None:
        owner = self
        self.answer: str | None = None

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # the request line has the code
                pass

            def do_GET(self) -> None:
                path = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(path.query))
                if path.path != "/" or not ({"code", "error"} & query.keys()):
                    self.send_error(404)
                    return
                owner.answer = f"http://127.0.0.1:{owner.port}{self.path}"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(DONE_PAGE)))
                self.end_headers()
                self.wfile.write(DONE_PAGE)

        self._server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])

    def close(self) -> None:
        self._server.server_close()


def _wait(listener: _Listener | None, timeout: float) -> str:
    assert listener is not None
    deadline = time.monotonic() + timeout
    while listener.answer is None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AuthError(f"no answer from the browser within {timeout:.0f} s",
                            hint="run the sign-in again, or use --headless and paste the address")
        listener._server.timeout = min(1.0, left)
        listener._server.handle_request()
    return listener.answer
