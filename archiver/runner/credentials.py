"""The credentials of a config account: its password command, its stored Google sign-in, or a service account.

The Google sign-in lives in ``archiver.auth`` (imported when first needed, so that a password-only setup
never loads the OAuth libraries).
"""

from __future__ import annotations

from archiver.config import AccountConfig
from archiver.errors import AuthError
from archiver.imap import Credentials, credentials_from_env_or_command, parse_url


def account_credentials(account: AccountConfig) -> Credentials:
    """Credentials for ``account`` (never shows a secret).  AuthError when its password command fails or
    its Google sign-in is missing (``auth logout`` removed it): for ``run`` both are this account's
    authentication failure (exit 12), naming the command that mends it."""
    if account.password_command:
        found = credentials_from_env_or_command(account.password_command)
        if found is None:  # cannot happen with a command; kept for the type
            raise AuthError(f"{account.where('password_command')}: the command printed no password")
        return found
    from archiver.auth import credentials_for, token_path  # the sign-in code loads only when used

    user = parse_url(account.source).user
    if account.oauth:
        if not token_path(account.name).exists():
            # the config asks for a sign-in that is not there: an authentication failure of this account
            # (exit 12, as when Google refuses it), not a usage error of the run
            raise AuthError(f"no Google sign-in stored for {account.name} ({account.where('oauth')}): it "
                            "was never made, or `auth logout` removed it",
                            hint=f"gmail-archiver auth login {account.name}")
        return credentials_for(account.name, user=user)
    return credentials_for(account.name, user=user, service_account_key=account.service_account_key,
                           subject=account.subject)
