"""Where a Google sign-in is kept: one 0600 JSON file per account under the XDG state directory.

``$XDG_STATE_HOME/gmail-archiver/oauth/<ACCOUNT>.json`` (``~/.local/state`` when unset): state, not
configuration (a token is produced by a command, not written by the user, and is worthless in a dotfiles
repository).  The file holds the refresh token and the OAuth client (id, secret, endpoints) needed to use
it; never the archive, argv, logs or ``--json`` output.  Written atomically (temporary file created 0600
with O_EXCL and O_NOFOLLOW, fsync, rename); the directory is created 0700.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from archiver.errors import UsageError

STATE_ENV = "XDG_STATE_HOME"
FORMAT = 1
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._+-]{0,199}$")


@dataclass(frozen=True)
class SignIn:
    """A stored sign-in; ``repr`` shows no secret."""

    account: str
    client_id: str
    token_uri: str
    revoke_uri: str
    scopes: tuple[str, ...]
    created: str
    refresh_token: str = field(repr=False)
    client_secret: str = field(repr=False)


def state_dir() -> Path:
    """``$XDG_STATE_HOME/gmail-archiver`` (an absolute XDG_STATE_HOME only, as the spec says)."""
    base = os.environ.get(STATE_ENV, "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "gmail-archiver"


def check_account(account: str) -> str:
    """The account name, if usable as a file name; UsageError otherwise."""
    if not _ACCOUNT.match(account) or ".." in account:
        raise UsageError(f"not a usable account name: {account!r}",
                         hint="use letters, digits and @ . _ + - (the address, or a name from the config)")
    return account


def token_path(account: str) -> Path:
    return state_dir() / "oauth" / f"{check_account(account)}.json"


def save(sign_in: SignIn) -> Path:
    """Write (or replace) the account's sign-in file atomically, 0600; returns its path."""
    path = token_path(sign_in.account)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        os.chmod(path.parent, 0o700)
    data = json.dumps({"format": FORMAT, **asdict(sign_in), "scopes": list(sign_in.scopes)},
                      indent=2, sort_keys=True).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def load(account: str) -> SignIn | None:
    """The stored sign-in of ``account``, or None if there is none.  UsageError on an unreadable file."""
    path = token_path(account)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"cannot read the sign-in of {account} ({path}): {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        raw = f.read()
    try:
        doc = json.loads(raw)
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        return SignIn(account=account, client_id=str(doc["client_id"]), token_uri=str(doc["token_uri"]),
                      revoke_uri=str(doc["revoke_uri"]), scopes=tuple(doc["scopes"]),
                      created=str(doc["created"]), refresh_token=str(doc["refresh_token"]),
                      client_secret=str(doc["client_secret"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"the sign-in file of {account} ({path}) is unreadable: {type(exc).__name__}",
                         hint=f"gmail-archiver auth login {account}") from None


def accounts() -> list[str]:
    """Accounts with a stored sign-in, sorted."""
    folder = state_dir() / "oauth"
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if _ACCOUNT.match(p.stem))


def delete(account: str) -> bool:
    """Remove the sign-in file; False if there was none."""
    try:
        token_path(account).unlink()
    except FileNotFoundError:
        return False
    return True
