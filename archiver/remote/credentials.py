"""AWS credentials from the shared credentials file (``~/.aws/credentials``, ``AWS_PROFILE``), the one
link of the standard AWS chain obstore does not read itself (it reads the environment, web identity,
the container and instance metadata services).  Secrets stay in memory, never in a repr or a message."""

from __future__ import annotations

import configparser
import os
from pathlib import Path
from typing import TYPE_CHECKING

from archiver.errors import AuthError

if TYPE_CHECKING:
    from obstore.store import S3Credential

ENV_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def credentials_file() -> Path:
    """``$AWS_SHARED_CREDENTIALS_FILE``, else ``~/.aws/credentials``."""
    given = os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
    return Path(given).expanduser() if given else Path.home() / ".aws" / "credentials"


def profile_name() -> str:
    return os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"


class ProfileCredentials:
    """A credential provider for obstore reading one profile of the shared credentials file, each time
    it is asked (so a rotated key is picked up).  Static keys (and a session token) only: a profile that
    signs in through SSO or a credential_process is reported, not run."""

    def __init__(self, path: Path, profile: str) -> None:
        self.path = path
        self.profile = profile

    def __repr__(self) -> str:
        return f"ProfileCredentials({str(self.path)!r}, profile={self.profile!r})"

    def __call__(self) -> S3Credential:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(self.path.read_text())
        except (OSError, configparser.Error) as exc:
            raise AuthError(f"cannot read the AWS credentials file {self.path}: {type(exc).__name__}",
                            hint="check the file, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                            ) from None
        if not parser.has_section(self.profile):
            raise AuthError(f"the AWS credentials file {self.path} has no profile {self.profile!r}",
                            hint="set AWS_PROFILE to one of its profiles")
        section = parser[self.profile]
        key, secret = section.get("aws_access_key_id"), section.get("aws_secret_access_key")
        if not key or not secret:
            raise AuthError(f"profile {self.profile!r} of {self.path} has no aws_access_key_id and "
                            "aws_secret_access_key (SSO and credential_process profiles are not read)",
                            hint="export the keys with `aws configure export-credentials --format env`")
        return {"access_key_id": key, "secret_access_key": secret,
                "token": section.get("aws_session_token"), "expires_at": None}


def profile_provider() -> ProfileCredentials | None:
    """The shared-file provider when the chain should use it: no keys in the environment and the file (or
    an explicitly named profile) is there; else None (obstore's own chain)."""
    if all(os.environ.get(k) for k in ENV_KEYS):
        return None
    path = credentials_file()
    if path.is_file() or os.environ.get("AWS_PROFILE"):
        return ProfileCredentials(path, profile_name())
    return None
