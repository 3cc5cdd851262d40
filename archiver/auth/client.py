"""The user's OAuth client (``client_secret.json``) and the rules for the endpoints it names.

Google's Desktop-client file is ``{"installed": {"client_id", "client_secret", "auth_uri", "token_uri",
...}}``.  ``auth_uri``/``token_uri`` say where the flow goes (Google, or the emulator's authority in tests);
the revocation endpoint is the optional ``revoke_uri`` field, else Google's for Google's token endpoint,
else ``/revoke`` beside the ``token_uri``.  Endpoints must be https, except on a loopback address (the
emulator): oauthlib refuses plain http unless told, so ``loopback_http`` allows it for those calls only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from archiver.errors import UsageError

GMAIL_SCOPE = "https://mail.google.com/"
GOOGLE_REVOKE_URI = "https://oauth2.googleapis.com/revoke"
_GOOGLE_TOKEN_HOSTS = ("oauth2.googleapis.com", "accounts.google.com", "www.googleapis.com")
SECRET_LOGGERS = ("requests_oauthlib", "oauthlib", "google_auth_oauthlib", "google.auth", "urllib3")
"""Third-party loggers that write request bodies (client secret, code, tokens) at DEBUG: kept at WARNING."""


@dataclass(frozen=True)
class ClientConfig:
    """An installed-app OAuth client; ``repr`` hides the secret."""

    client_id: str
    auth_uri: str
    token_uri: str
    revoke_uri: str
    client_secret: str = field(repr=False)

    def as_flow_config(self) -> dict[str, dict[str, object]]:
        """The ``client_secret.json`` shape google-auth-oauthlib reads."""
        return {"installed": {"client_id": self.client_id, "client_secret": self.client_secret,
                              "auth_uri": self.auth_uri, "token_uri": self.token_uri,
                              "redirect_uris": ["http://127.0.0.1"]}}


def default_client_file() -> Path:
    """``$XDG_CONFIG_HOME/gmail-archiver/client_secret.json`` (``~/.config`` when unset)."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "gmail-archiver" / "client_secret.json"


def load_client(path: Path | None = None) -> ClientConfig:
    """Read and check a ``client_secret.json`` (default: ``default_client_file()``); UsageError naming the
    file and the key at fault."""
    path = path if path is not None else default_client_file()
    try:
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read the OAuth client file {path}: {exc.strerror}",
                         hint="download it from Google Cloud console > APIs & Services > Credentials "
                              "(an OAuth client ID of type Desktop app)") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not JSON: {exc}") from None
    section = doc.get("installed") or doc.get("web") if isinstance(doc, dict) else None
    if not isinstance(section, dict):
        raise UsageError(f"{path} is not an OAuth client file: no 'installed' section",
                         hint="create an OAuth client ID of type 'Desktop app' and download its JSON")
    values: dict[str, str] = {}
    for key in ("client_id", "client_secret", "auth_uri", "token_uri"):
        value = section.get(key)
        if not isinstance(value, str) or not value:
            raise UsageError(f"{path}: key '{key}' is missing or empty")
        values[key] = value
    for key in ("auth_uri", "token_uri"):
        check_endpoint(values[key], f"{path}: {key}")
    revoke = section.get("revoke_uri")
    revoke_uri = str(revoke) if isinstance(revoke, str) and revoke else derive_revoke_uri(values["token_uri"])
    check_endpoint(revoke_uri, f"{path}: revoke_uri")
    return ClientConfig(client_id=values["client_id"], client_secret=values["client_secret"],
                        auth_uri=values["auth_uri"], token_uri=values["token_uri"], revoke_uri=revoke_uri)


def derive_revoke_uri(token_uri: str) -> str:
    """Google's revocation endpoint for Google, else ``/revoke`` on the token endpoint's server."""
    parts = urllib.parse.urlsplit(token_uri)
    if (parts.hostname or "").lower() in _GOOGLE_TOKEN_HOSTS:
        return GOOGLE_REVOKE_URI
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/revoke", "", ""))


def is_loopback_url(url: str) -> bool:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str, what: str) -> None:
    """https anywhere, or http to a loopback address; UsageError otherwise."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme == "https" or (scheme == "http" and is_loopback_url(url)):
        return
    raise UsageError(f"{what}: {url!r} is not an https URL", hint="OAuth endpoints must use https")


@contextlib.contextmanager
def loopback_http(*urls: str) -> Iterator[None]:
    """Let oauthlib talk plain http while every URL involved is a loopback one (the emulator); and keep the
    third-party loggers that would write secrets quiet."""
    quiet_secret_loggers()
    if not urls or not all(urllib.parse.urlsplit(u).scheme == "http" and is_loopback_url(u) for u in urls):
        yield
        return
    old = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
        else:
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = old


def quiet_secret_loggers() -> None:
    """requests-oauthlib logs request bodies and tokens at DEBUG: never let ``-vv`` show them."""
    for name in SECRET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
