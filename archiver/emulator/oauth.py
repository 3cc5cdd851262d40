"""A small OAuth 2.0 authority on loopback HTTP, shaped like Google's, for the emulator's XOAUTH2.

Endpoints (``http://127.0.0.1:<port>``):

- ``GET /o/oauth2/auth``: the consent screen, simulated.  Checks the client and the redirect URI (a
  Desktop client may only redirect to loopback ``http://127.0.0.1|localhost|[::1]:<any port>``; anything
  else gets Google's ``Error 400: redirect_uri_mismatch`` page, no redirect), requires PKCE S256, then
  redirects to ``redirect_uri?state=..&code=..&scope=..`` as the user ``consent_user`` (or the
  ``login_hint``).  ``deny_consent`` redirects with ``error=access_denied`` instead.
- ``POST /token``: ``authorization_code`` (client secret, redirect URI and the PKCE verifier checked),
  ``refresh_token``, and ``urn:ietf:params:oauth:grant-type:jwt-bearer`` (a service account's JWT, its
  RS256 signature checked with google-auth against the public key the test registered; ``sub`` is the
  mailbox user).  Errors are Google's JSON: ``{"error": "invalid_grant", "error_description": ...}``.
- ``POST /revoke``: ``token=`` a refresh or access token; a refresh token takes its access tokens along.

The IMAP side (``h_auth``) asks ``check`` whether an access token was issued here, for that user, and is
still alive; tokens live ``token_lifetime`` seconds.  ``expires_in`` is whole seconds, as Google sends it,
except that a test's fractional lifetime is sent as is by the refresh and JWT grants (the code exchange
rounds up: oauthlib there wants whole seconds).  Everything is in memory; thread-safe.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import math
import os
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

GMAIL_SCOPE = "https://mail.google.com/"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
"""The ``aud`` google-auth puts in a service account's JWT whatever its token_uri (Google accepts it)."""
AUTH_PATH, TOKEN_PATH, REVOKE_PATH = "/o/oauth2/auth", "/token", "/revoke"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass
class _Grant:
    """What a code, a refresh token or an access token stands for."""

    client_id: str
    user: str
    scope: str
    expires: float = float("inf")
    redirect_uri: str = ""
    challenge: str = ""
    refresh_token: str | None = None


@dataclass
class _ServiceAccount:
    public_key_pem: str
    subjects: frozenset[str] | None  # None: domain-wide delegation for every user
    scopes: frozenset[str] = frozenset({GMAIL_SCOPE})


@dataclass
class AuthorityStats:
    """Counters tests read: grants by type, refusals, revocations."""

    codes: int = 0
    refreshes: int = 0
    jwt_grants: int = 0
    refused: int = 0
    revoked: int = 0
    issued: list[str] = field(default_factory=list)
    """Every access token issued, oldest first (tests grep the archive and logs for them)."""


class OAuthAuthority:
    """Google's OAuth endpoints in a thread; ``start()`` returns once it listens (port 0: a free one)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, token_lifetime: float = 3600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.host = host
        self.port = port
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.consent_user: str | None = None
        """The user who clicks "Allow" on the simulated consent screen (else the ``login_hint``)."""
        self.deny_consent = False
        self.stats = AuthorityStats()
        self._lock = threading.Lock()
        self._clients: dict[str, str] = {}
        self._service_accounts: dict[str, _ServiceAccount] = {}
        self._codes: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}
        self._access: dict[str, _Grant] = {}
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> OAuthAuthority:
        if self._server is not None:
            return self
        authority = self

        class Handler(_Handler):
            owner = authority

        self._server = http.server.ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth-authority",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> OAuthAuthority:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- what tests register and read -------------------------------------------------------------------
    def write_client_file(self, path: str | os.PathLike[str]) -> None:
        """Register a Desktop client and write its ``client_secret.json`` to ``path`` (created 0600, never
        replacing a file: FileExistsError)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(self.register_client(), indent=2) + "\n")

    def register_client(self, client_id: str | None = None,
                        client_secret: str | None = None) -> dict[str, Any]:
        """A Desktop OAuth client; returns its ``client_secret.json`` document pointing at this authority."""
        client_id = client_id or f"{secrets.token_hex(6)}.apps.googleusercontent.com"
        client_secret = client_secret or "GOCSPX-" + secrets.token_urlsafe(20)
        with self._lock:
            self._clients[client_id] = client_secret
        return {"installed": {
            "client_id": client_id, "client_secret": client_secret, "project_id": "emulated",
            "auth_uri": self.url + AUTH_PATH, "token_uri": self.url + TOKEN_PATH,
            "revoke_uri": self.url + REVOKE_PATH, "redirect_uris": ["http://localhost"]}}

    def register_service_account(self, client_email: str, public_key_pem: str, *,
                                 subjects: frozenset[str] | None = None) -> None:
        """A service account with domain-wide delegation for ``subjects`` (None: any user)."""
        with self._lock:
            self._service_accounts[client_email] = _ServiceAccount(public_key_pem, subjects)

    def check(self, token: str, user: str) -> float | None:
        """When ``token`` (an access token issued here for ``user``) expires; None if it is not valid now."""
        with self._lock:
            grant = self._access.get(token)
            if grant is None or grant.user.lower() != user.lower() or grant.expires <= self.clock():
                return None
            return grant.expires

    def revoke_user(self, user: str) -> int:
        """Revoke every refresh and access token of ``user`` (as a password change does); returns how many."""
        with self._lock:
            doomed = [t for t, g in self._refresh.items() if g.user == user]
            doomed += [t for t, g in self._access.items() if g.user == user]
            for t in doomed:
                self._refresh.pop(t, None)
                self._access.pop(t, None)
            self.stats.revoked += len(doomed)
            return len(doomed)

    def expire_access_tokens(self) -> None:
        """Every access token expires now; refresh tokens stay (the clock jumped an hour)."""
        with self._lock:
            for grant in self._access.values():
                grant.expires = min(grant.expires, self.clock())

    def refresh_tokens(self, user: str) -> int:
        with self._lock:
            return sum(1 for g in self._refresh.values() if g.user == user)

    # -- the endpoints ----------------------------------------------------------------------------------
    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """``GET /o/oauth2/auth``: (status, headers, body) — a redirect after simulated consent."""
        client_id = query.get("client_id", "")
        redirect_uri = query.get("redirect_uri", "")
        with self._lock:
            known = client_id in self._clients
        if not known:
            return 401, {}, "Error 401: invalid_client\nThe OAuth client was not found."
        if not _loopback_redirect(redirect_uri):
            return 400, {}, ("Error 400: redirect_uri_mismatch\nYou can't sign in to this app because it "
                             "doesn't comply with Google's OAuth 2.0 policy.")
        if query.get("response_type") != "code":
            return self._redirect(redirect_uri, query, {"error": "unsupported_response_type"})
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return self._redirect(redirect_uri, query, {"error": "invalid_request"})
        if self.deny_consent:
            return self._redirect(redirect_uri, query, {"error": "access_denied"})
        user = self.consent_user or query.get("login_hint")
        if not user:
            return self._redirect(redirect_uri, query, {"error": "access_denied"})
        scope = query.get("scope", "")
        code = "4/0A" + secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Grant(client_id, user, scope, self.clock() + 600, redirect_uri,
                                       query["code_challenge"])
        return self._redirect(redirect_uri, query, {"code": code, "scope": scope})

    @staticmethod
    def _redirect(redirect_uri: str, query: dict[str, str], params: dict[str, str]
                  ) -> tuple[int, dict[str, str], str]:
        if "state" in query:
            params = {"state": query["state"], **params}
        sep = "&" if "?" in redirect_uri else "?"
        return 302, {"Location": redirect_uri + sep + urllib.parse.urlencode(params)}, ""

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """``POST /token``: (status, JSON body)."""
        grant_type = form.get("grant_type", "")
        with self._lock:
            if grant_type == "authorization_code":
                return self._code_grant(form)
            if grant_type == "refresh_token":
                return self._refresh_grant(form)
            if grant_type == JWT_BEARER:
                return self._jwt_grant(form)
            return self._refuse(400, "unsupported_grant_type", "Invalid grant_type: " + grant_type)

    def _refuse(self, status: int, error: str, description: str) -> tuple[int, dict[str, Any]]:
        self.stats.refused += 1
        return status, {"error": error, "error_description": description}

    def _client_ok(self, form: dict[str, str]) -> bool:
        secret = self._clients.get(form.get("client_id", ""))
        return secret is not None and secrets.compare_digest(secret, form.get("client_secret", ""))

    def _issue(self, client_id: str, user: str, scope: str, refresh: str | None,
               whole_seconds: bool = False) -> dict[str, Any]:
        token = "ya29.emu-" + secrets.token_urlsafe(40)
        self._access[token] = _Grant(client_id, user, scope, self.clock() + self.token_lifetime,
                                     refresh_token=refresh)
        self.stats.issued.append(token)
        lifetime = self.token_lifetime
        expires_in: float = lifetime
        if whole_seconds or lifetime == int(lifetime):
            expires_in = max(1, math.ceil(lifetime))
        return {"access_token": token, "expires_in": expires_in,
                "scope": scope, "token_type": "Bearer"}

    def _code_grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if not self._client_ok(form):
            return self._refuse(401, "invalid_client", "Unauthorized")
        grant = self._codes.pop(form.get("code", ""), None)  # a code is good once
        if grant is None or grant.expires <= self.clock() or grant.client_id != form.get("client_id"):
            return self._refuse(400, "invalid_grant", "Malformed auth code.")
        if grant.redirect_uri != form.get("redirect_uri"):
            return self._refuse(400, "redirect_uri_mismatch", "Bad Request")
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not verifier or not secrets.compare_digest(digest, grant.challenge):
            return self._refuse(400, "invalid_grant", "Invalid code verifier.")
        refresh = "1//0emu-" + secrets.token_urlsafe(40)
        self._refresh[refresh] = _Grant(grant.client_id, grant.user, grant.scope)
        self.stats.codes += 1
        issued = self._issue(grant.client_id, grant.user, grant.scope, refresh, whole_seconds=True)
        return 200, {**issued, "refresh_token": refresh}

    def _refresh_grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if not self._client_ok(form):
            return self._refuse(401, "invalid_client", "Unauthorized")
        grant = self._refresh.get(form.get("refresh_token", ""))
        if grant is None or grant.client_id != form.get("client_id"):
            return self._refuse(400, "invalid_grant", "Token has been expired or revoked.")
        self.stats.refreshes += 1
        return 200, self._issue(grant.client_id, grant.user, grant.scope, form["refresh_token"])

    def _jwt_grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        from google.auth import exceptions, jwt  # the signature check: google-auth's, not ours

        assertion = form.get("assertion", "")
        try:
            unverified = jwt.decode(assertion, verify=False)  # type: ignore[no-untyped-call]
        except (ValueError, exceptions.GoogleAuthError):
            return self._refuse(400, "invalid_grant", "Invalid JWT: malformed.")
        account = self._service_accounts.get(str(unverified.get("iss", "")))
        if account is None:
            return self._refuse(401, "invalid_client", "The OAuth client was not found.")
        try:
            claims = jwt.decode(assertion, certs=account.public_key_pem,  # type: ignore[no-untyped-call]
                                audience=[GOOGLE_TOKEN_AUDIENCE, self.url + TOKEN_PATH],
                                clock_skew_in_seconds=300)
        except (ValueError, exceptions.GoogleAuthError):
            return self._refuse(400, "invalid_grant", "Invalid JWT Signature.")
        user = str(claims.get("sub") or "")
        scopes = frozenset(str(claims.get("scope", "")).split())
        if (not user or not scopes or not scopes <= account.scopes
                or (account.subjects is not None and user not in account.subjects)):
            return self._refuse(401, "unauthorized_client",
                                "Client is unauthorized to retrieve access tokens using this method, or "
                                "client not authorized for any of the scopes requested.")
        self.stats.jwt_grants += 1
        return 200, self._issue(str(claims["iss"]), user, " ".join(sorted(scopes)), None)

    def revoke(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """``POST /revoke``: 200 ``{}``; an unknown token gets 400 ``invalid_token``."""
        token = form.get("token", "")
        with self._lock:
            if token in self._refresh:
                del self._refresh[token]
                for t in [t for t, g in self._access.items() if g.refresh_token == token]:
                    del self._access[t]
            elif token in self._access:
                del self._access[token]
            else:
                return self._refuse(400, "invalid_token", "Token expired or revoked")
            self.stats.revoked += 1
        return 200, {}


def _loopback_redirect(uri: str) -> bool:
    """Google lets Desktop clients redirect to a loopback address on any port, over plain http."""
    try:
        parts = urllib.parse.urlsplit(uri)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return False
    return parts.scheme == "http" and parts.netloc.rsplit(":", 1)[0].lower() in _LOOPBACK_HOSTS


class _Handler(http.server.BaseHTTPRequestHandler):
    """HTTP glue: parse the request, call the authority, write its answer; logs nothing (tokens)."""

    owner: OAuthAuthority
    server_version = "ESF"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path != AUTH_PATH:
            self._send(404, {}, "Not Found", "text/plain")
            return
        query = dict(urllib.parse.parse_qsl(url.query))
        status, headers, body = self.owner.authorize(query)
        self._send(status, headers, body, "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode("utf-8", "replace")))
        basic = self.headers.get("Authorization", "")
        if basic.startswith("Basic "):  # RFC 6749 2.3.1: client credentials in HTTP Basic (Google takes both)
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                pair = base64.b64decode(basic[6:], validate=True).decode()
                cid, _, secret = pair.partition(":")
                form.setdefault("client_id", urllib.parse.unquote_plus(cid))
                form.setdefault("client_secret", urllib.parse.unquote_plus(secret))
        path = urllib.parse.urlsplit(self.path).path
        if path == TOKEN_PATH:
            status, doc = self.owner.token(form)
        elif path == REVOKE_PATH:
            status, doc = self.owner.revoke(form)
        else:
            self._send(404, {}, "Not Found", "text/plain")
            return
        self._send(status, {"Cache-Control": "no-store"}, json.dumps(doc), "application/json; charset=utf-8")

    def _send(self, status: int, headers: dict[str, str], body: str, ctype: str) -> None:
        data = body.encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
