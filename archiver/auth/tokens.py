"""Access tokens for IMAP from a stored sign-in or a Workspace service account, refreshed when due.

``credentials_for`` returns ``Credentials`` whose token provider every (re)connect calls: it refreshes the
access token before it expires (a minute ahead, or a quarter of its life when that is shorter) and at
once when the server refused the one it gave.  Refresh and the service-account JWT bearer grant are
google-auth's.  A refused refresh (``invalid_grant``) becomes AuthError (exit 12) saying why that happens
and the one command that fixes it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import pathlib
import threading
from typing import Any

from archiver.auth import store
from archiver.auth.client import GMAIL_SCOPE, check_endpoint, loopback_http
from archiver.credentials import Credentials
from archiver.errors import AuthError, ConnectionLost, UsageError

log = logging.getLogger(__name__)
MAX_MARGIN = dt.timedelta(seconds=60)

INVALID_GRANT_CAUSES = (
    "Google no longer honours the stored sign-in of {account} ({detail}). Refresh tokens die when the "
    "OAuth app is still in 'Testing' (after 7 days: publish it to Production in the OAuth consent screen), "
    "when access was revoked (myaccount.google.com/permissions, or 'auth logout'), when the Google password "
    "changed, after 6 months unused, or when the client has more than 50 live tokens for this account "
    "(the oldest die)"
)


def login_hint(account: str) -> str:
    return f"gmail-archiver auth login {account}"


def explain(account: str, error: str, description: str) -> AuthError:
    """AuthError for a refused refresh: ``invalid_grant`` gets the causes, others the server's words."""
    detail = f"{error}: {description}" if description else error
    if error == "invalid_grant":
        return AuthError(INVALID_GRANT_CAUSES.format(account=account, detail=detail),
                         hint=login_hint(account))
    if error in ("invalid_client", "unauthorized_client", "deleted_client"):
        return AuthError(f"Google refused the OAuth client of {account} ({detail}): the client was "
                         "deleted or its secret changed", hint=login_hint(account) + " --client-secret FILE")
    return AuthError(f"Google refused to refresh the access token of {account} ({detail})",
                     hint=login_hint(account))


def _refresh_error(exc: Exception) -> tuple[str, str]:
    """(error, error_description) from google-auth's RefreshError (its args carry the JSON answer)."""
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, dict) and "error" in arg:
            return str(arg["error"]), str(arg.get("error_description", ""))
    text = str(exc.args[0]) if getattr(exc, "args", None) else str(exc)
    error, _, description = text.partition(":")
    return error.strip() or "refused", description.strip()


class _Refreshing:
    """The token provider: a google-auth credentials object refreshed when due; thread-safe."""

    def __init__(self, creds: Any, account: str, *, endpoint: str, service_account: bool) -> None:
        self._creds = creds
        self._account = account
        self._endpoint = endpoint
        self._service_account = service_account
        self._lock = threading.Lock()
        self._issued: dt.datetime | None = None
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"<token provider for {self._account}>"

    def __call__(self, refresh: bool = False) -> str:
        with self._lock:
            if refresh or not self._fresh():
                self._refresh()
            return str(self._creds.token)

    def _fresh(self) -> bool:
        expiry = self._creds.expiry  # naive UTC (google-auth's convention)
        if not self._creds.token or expiry is None or self._issued is None:
            return bool(self._creds.token) and expiry is None
        assert isinstance(expiry, dt.datetime)
        margin = min(MAX_MARGIN, (expiry - self._issued) / 4)
        return _utcnow() < expiry - margin

    def _refresh(self) -> None:
        import google.auth.exceptions
        import google.auth.transport.requests

        issued = _utcnow()
        try:
            with loopback_http(self._endpoint):
                self._creds.refresh(google.auth.transport.requests.Request())
        except google.auth.exceptions.RefreshError as exc:
            if getattr(exc, "retryable", False):
                raise ConnectionLost(f"the token endpoint {self._endpoint} failed: {exc.args[0]}") from None
            error, description = _refresh_error(exc)
            if self._service_account:
                raise AuthError(f"Google refused the service account's token for {self._account} "
                                f"({error}: {description})",
                                hint="check the key file and that the Workspace admin granted domain-wide "
                                     f"delegation with the scope {GMAIL_SCOPE} to its client ID") from None
            raise explain(self._account, error, description) from None
        except google.auth.exceptions.TransportError as exc:
            raise ConnectionLost(f"cannot reach the token endpoint {self._endpoint}: "
                                 f"{type(exc.args[0]).__name__ if exc.args else 'error'}") from None
        self._issued = issued
        self.refreshes += 1
        left = (self._creds.expiry - issued).total_seconds() if self._creds.expiry else None
        log.info("got a new access token for %s%s", self._account,
                 f" (valid {left:.0f} s)" if left is not None else "")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def credentials_for(account: str, *, user: str, service_account_key: pathlib.Path | None = None,
                    subject: str | None = None) -> Credentials:
    """IMAP credentials from the stored sign-in of ``account`` (``auth login``), or from a Workspace
    service-account key file acting as ``subject`` (default: ``user``).  No network until the first connect.

    AuthError (exit 12, as for a refused sign-in) when there is no stored sign-in; UsageError when the key
    file is unusable.
    """
    if service_account_key is not None:
        return _service_account(account, service_account_key, subject or user)
    from google.oauth2.credentials import Credentials as UserCredentials

    sign_in = store.load(account)
    if sign_in is None:
        raise AuthError(f"no Google sign-in stored for {account}", hint=login_hint(account))
    check_endpoint(sign_in.token_uri, f"the sign-in of {account}: token_uri")
    creds = UserCredentials(token=None,  # type: ignore[no-untyped-call]
                            refresh_token=sign_in.refresh_token, token_uri=sign_in.token_uri,
                            client_id=sign_in.client_id, client_secret=sign_in.client_secret,
                            scopes=list(sign_in.scopes))
    provider = _Refreshing(creds, account, endpoint=sign_in.token_uri, service_account=False)
    return Credentials(token_provider=provider, refused_hint=login_hint(account))


def _service_account(account: str, key_file: pathlib.Path, subject: str) -> Credentials:
    from google.oauth2 import service_account

    try:
        info = json.loads(key_file.read_bytes())
        token_uri = str(info["token_uri"])
        creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=[GMAIL_SCOPE], subject=subject)
    except OSError as exc:
        raise UsageError(f"cannot read the service-account key {key_file}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        what = f"key {exc} missing" if isinstance(exc, KeyError) else type(exc).__name__
        raise UsageError(f"{key_file} is not a service-account key file ({what})",
                         hint="create a JSON key for the service account in the Google Cloud console"
                         ) from None
    check_endpoint(token_uri, f"{key_file}: token_uri")
    provider = _Refreshing(creds, account, endpoint=token_uri, service_account=True)
    return Credentials(token_provider=provider,
                       refused_hint=f"check the domain-wide delegation of the service account in {key_file}")
