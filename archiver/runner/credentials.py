"""The credentials of a config account: its password command, its stored Google sign-in, or a service account.

The Google sign-in lives in ``archiver.auth`` (imported when first needed, so that a password-only setup
never loads the OAuth libraries).
"""

from __future__ import annotations

import importlib
from typing import Any, cast

from archiver.config import AccountConfig
from archiver.errors import AuthError, UsageError
from archiver.imap import Credentials, credentials_from_env_or_command, parse_url


def account_credentials(account: AccountConfig) -> Credentials:
    """Credentials for ``account`` (AuthError when its password command fails; never shows a secret)."""
    if account.password_command:
        found = credentials_from_env_or_command(account.password_command)
        if found is None:  # cannot happen with a command; kept for the type
            raise AuthError(f"{account.where('password_command')}: the command printed no password")
        return found
    user = parse_url(account.source).user
    try:
        auth: Any = importlib.import_module("archiver.auth")
    except ModuleNotFoundError as exc:
        if exc.name != "archiver.auth":
            raise
        raise UsageError(f"{account.where('oauth' if account.oauth else 'service_account_key')}: this "
                         "installation has no Google sign-in (archiver.auth)",
                         hint="use password_command with an app password, or upgrade gmail-archiver"
                         ) from None
    if account.oauth:
        return cast(Credentials, auth.credentials_for(account.name, user=user))
    return cast(Credentials, auth.credentials_for(account.name, user=user,
                                                  service_account_key=account.service_account_key,
                                                  subject=account.subject))
