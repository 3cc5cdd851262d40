"""Google sign-in for IMAP: ``login`` (installed-app loopback or headless paste, PKCE), ``status``,
``logout`` (revokes), and ``credentials_for`` (access tokens from a stored sign-in or a Workspace service
account, refreshed as they expire).  Imports the base layer only; the OAuth protocol is google-auth's and
google-auth-oauthlib's.  The refresh token lives in a 0600 file under ``$XDG_STATE_HOME/gmail-archiver/``.
"""

from __future__ import annotations

from archiver.auth.client import GMAIL_SCOPE, ClientConfig, load_client
from archiver.auth.flow import LoginResult, login
from archiver.auth.manage import LogoutResult, SignInStatus, logout, status
from archiver.auth.store import state_dir, token_path
from archiver.auth.tokens import credentials_for, explain

__all__ = [
    "GMAIL_SCOPE",
    "ClientConfig",
    "LoginResult",
    "LogoutResult",
    "SignInStatus",
    "credentials_for",
    "explain",
    "load_client",
    "login",
    "logout",
    "state_dir",
    "status",
    "token_path",
]
