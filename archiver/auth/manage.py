"""``status`` (the stored sign-ins, and whether Google still honours them) and ``logout`` (revoke, delete).

Neither returns or logs a secret: results carry the account, the client ID, the endpoints and the file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from archiver.auth import store
from archiver.auth.tokens import credentials_for
from archiver.errors import ArchiverError, AuthError, RemoteError, UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignInStatus:
    account: str
    client_id: str
    token_uri: str
    created: str
    path: Path
    valid: bool | None
    """True: a refresh worked just now; False: Google refused it (``problem`` says why); None: not checked,
    or the check could not be made (``problem`` says why, e.g. the token endpoint is unreachable)."""
    problem: str | None = None


def status(accounts: list[str] | None = None, *, check: bool = True) -> list[SignInStatus]:
    """The stored sign-ins (all, or ``accounts``); ``check`` refreshes each once to see it still works."""
    names = accounts if accounts else store.accounts()
    out = []
    for name in names:
        sign_in = store.load(name)
        if sign_in is None:
            raise UsageError(f"no Google sign-in stored for {name}", hint=f"gmail-archiver auth login {name}")
        valid: bool | None = None
        problem = None
        if check:
            try:
                credentials_for(name, user=name).access_token(refresh=True)
                valid = True
            except AuthError as exc:
                valid, problem = False, str(exc)
            except ArchiverError as exc:
                problem = str(exc)
        out.append(SignInStatus(account=name, client_id=sign_in.client_id, token_uri=sign_in.token_uri,
                                created=sign_in.created, path=store.token_path(name), valid=valid,
                                problem=problem))
    return out


@dataclass(frozen=True)
class LogoutResult:
    account: str
    revoked: bool
    """False when Google already held the token void (``invalid_token``), or ``local_only``."""
    path: Path


def logout(account: str, *, local_only: bool = False) -> LogoutResult:
    """Revoke the refresh token at the revocation endpoint, then delete the file.

    If the endpoint cannot be reached the file stays (RemoteError; run again, or ``local_only``).
    """
    import requests

    from archiver.auth.client import loopback_http

    if local_only:  # works on an unreadable file too
        path = store.token_path(account)
        if not store.delete(account):
            raise UsageError(f"no Google sign-in stored for {account}")
        return LogoutResult(account=account, revoked=False, path=path)
    sign_in = store.load(account)
    if sign_in is None:
        raise UsageError(f"no Google sign-in stored for {account}")
    revoked = False
    try:
        with loopback_http(sign_in.revoke_uri):
            answer = requests.post(sign_in.revoke_uri, data={"token": sign_in.refresh_token}, timeout=30)
    except requests.RequestException as exc:
        raise RemoteError(f"cannot reach the revocation endpoint {sign_in.revoke_uri}: "
                          f"{type(exc).__name__}; the sign-in is kept",
                          hint=f"run it again, or gmail-archiver auth logout {account} --local") from None
    if answer.status_code == 200:
        revoked = True
    elif answer.status_code == 400 and _error(answer) in ("invalid_token", "invalid_grant"):
        revoked = False  # already void: nothing to revoke
    else:
        raise RemoteError(f"the revocation endpoint {sign_in.revoke_uri} answered {answer.status_code} "
                          f"({_error(answer) or 'no error code'}); the sign-in is kept",
                          hint=f"run it again, or gmail-archiver auth logout {account} --local")
    path = store.token_path(account)
    store.delete(account)
    log.info("removed the sign-in of %s (%s)", account, "revoked" if revoked else "not revoked")
    return LogoutResult(account=account, revoked=revoked, path=path)


def _error(answer: object) -> str:
    try:
        doc = answer.json()  # type: ignore[attr-defined]
    except ValueError:
        return ""
    return str(doc.get("error", "")) if isinstance(doc, dict) else ""
