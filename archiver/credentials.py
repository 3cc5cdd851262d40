"""``Credentials``: the secret a connection logs in with, kept out of every repr.

A password (LOGIN), a fixed OAuth2 access token, or a ``token_provider``: a callable that returns a current
access token and is asked again, with ``refresh=True``, when the server refuses the one it gave (see
``archiver.auth``).  A base module so that ``archiver.auth`` builds credentials without importing the IMAP
layer; ``archiver.imap`` re-exports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

TokenProvider = Callable[[bool], str]
"""``provider(refresh)`` -> a current OAuth2 access token; ``refresh=True``: get a new one even if the held
one looks valid (the server just refused it).  Raises AuthError when the sign-in itself is void."""


@dataclass(frozen=True)
class Credentials:
    """A password (LOGIN), an OAuth2 access token or token provider (XOAUTH2); ``repr`` shows no secret.

    ``refused_hint``: the one command that helps when the server refuses these credentials.
    """

    password: str | None = field(default=None, repr=False)
    oauth2_token: str | None = field(default=None, repr=False)
    token_provider: TokenProvider | None = field(default=None, repr=False, compare=False)
    refused_hint: str | None = None

    @property
    def is_oauth(self) -> bool:
        return self.oauth2_token is not None or self.token_provider is not None

    def access_token(self, refresh: bool = False) -> str | None:
        """The OAuth2 access token to log in with now (from the provider when there is one), else None."""
        if self.token_provider is not None:
            return self.token_provider(refresh)
        return self.oauth2_token
