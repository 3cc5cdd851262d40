"""The credentials of a config account: its password command, its stored Google sign-in, or a service account.

The Google sign-in lives in ``archiver.auth`` (imported when first needed, so that a password-only setup
never loads the OAuth libraries).
"""

from __future__ import annotations

from archiver.config import AccountConfig
from archiver.errors import AuthError
from archiver.imap import Credentials, credentials_from_env_or_command, parse_url


def account_credentials(account: AccountConfig) -> Credentials:
    """Credentials for ``account`` (AuthError when its password command fails; never shows a secret)."""
    if account.password_command:
        found = credentials_from_env_or_command(account.password_command)
        if found is None:  # cannot happen with a command; kept for the type
            raise AuthError(f"{account.where('password_command')}: the command printed no password")
        return found
    from archiver.auth import credentials_for  # the sign-in code loads only for accounts that use it

    user = parse_url(account.source).user
    if account.oauth:
        return credentials_for(account.name, user=user)
    return credentials_for(account.name, user=user, service_account_key=account.service_account_key,
                           subject=account.subject)
