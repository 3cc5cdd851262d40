"""What every command shares: the error -> exit-code mapping (the only one), output helpers, secrets input."""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
import urllib.parse
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from archiver import (
    ArchiverError,
    Cancelled,
    Credentials,
    UsageError,
    credentials_from_env_or_command,
)

P = ParamSpec("P")
R = TypeVar("R")

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 error, 2 usage, 3 partial (some messages failed; listed), 10 no archive, "
    "11 locked, 12 authentication failed, 13 verify found damage, 130 interrupted."
)


def err(message: str) -> None:
    """One line to stderr (never stdout, which is for results)."""
    typer.echo(message, err=True)


def emit_json(document: Any) -> None:
    """The one JSON document a --json command prints on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def handle_errors(json_flag: str = "json") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn library errors into a one-line message (or a JSON error object) and the class's exit code."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            as_json = bool(kwargs.get(json_flag, False))
            try:
                try:
                    return fn(*args, **kwargs)
                except KeyboardInterrupt as exc:
                    raise Cancelled("interrupted") from exc
                except OSError as exc:  # an unwritable output, a full disk: the system's words, no traceback
                    where = f": {exc.filename}" if exc.filename else ""
                    raise ArchiverError(f"{exc.strerror or exc}{where}") from exc
            except ArchiverError as exc:
                if as_json:
                    emit_json({"error": {"type": type(exc).__name__, "message": str(exc),
                                         "hint": exc.hint, "exit_code": exc.exit_code}})
                else:
                    err(f"error: {exc}")
                    if exc.hint:
                        err(f"hint: {exc.hint}")
                raise typer.Exit(exc.exit_code) from None

        return wrapper

    return decorate


def parse_time(text: str | None, option: str) -> dt.datetime | None:
    """``--since``/``--until`` values: a date (``2020-01-31``) or ISO time; naive values are UTC."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: not a date: {text!r}", hint="use YYYY-MM-DD or an ISO time") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# -- options shared by the commands that talk to a server (backup, restore) ---------------------------------
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document (keys below).")]
PasswordCommand = Annotated[str | None, typer.Option(
    help="Command printing the password (else GMAIL_ARCHIVER_PASSWORD, else a prompt).")]
OAuth2TokenCommand = Annotated[str | None, typer.Option(
    help="Command printing an OAuth2 access token (XOAUTH2).")]
CaCert = Annotated[str | None, typer.Option(help="CA certificate file to trust.")]
Insecure = Annotated[bool, typer.Option("--insecure", help="Allow plain imap:// to a non-loopback host.")]
ShowProgress = Annotated[bool | None, typer.Option(
    "--progress/--no-progress",
    help="Progress bar with rate and ETA on stderr (default: when it is a terminal).")]


def credentials(password_command: str | None, oauth2_token_command: str | None) -> Credentials:
    """The secret from the token/password command, GMAIL_ARCHIVER_PASSWORD, or a prompt on a terminal."""
    found = credentials_from_env_or_command(password_command, oauth2_token_command)
    if found is not None:
        return found
    if sys.stdin.isatty():
        return Credentials(password=typer.prompt("Password", hide_input=True, err=True))
    raise UsageError("no password given",
                     hint="set GMAIL_ARCHIVER_PASSWORD, or use --password-command, --oauth ACCOUNT (after "
                          "gmail-archiver auth login ACCOUNT) or --oauth2-token-command")


OAuthAccount = Annotated[str | None, typer.Option(
    "--oauth", metavar="ACCOUNT",
    help="Use the Google sign-in stored by 'gmail-archiver auth login ACCOUNT' (XOAUTH2; access tokens are "
         "refreshed as they expire).")]


def server_credentials(password_command: str | None, oauth2_token_command: str | None, oauth: str | None,
                       url: str) -> Credentials:
    """``--oauth ACCOUNT``'s stored sign-in for the user of ``url``, else ``credentials`` above."""
    if oauth is None:
        return credentials(password_command, oauth2_token_command)
    if password_command or oauth2_token_command:
        raise UsageError("--oauth cannot be combined with --password-command or --oauth2-token-command")
    from archiver import credentials_for  # the sign-in code loads only when used (~25 ms)

    return credentials_for(oauth, user=urllib.parse.unquote(urllib.parse.urlsplit(url).username or ""))
