"""What every command shares: the error -> exit-code mapping (the only one), output helpers, secrets input."""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from archiver import (
    ArchiverError,
    Cancelled,
    Credentials,
    MessageFilter,
    UsageError,
    credentials_from_env_or_command,
    resolve_archive,
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


# -- the message filter option group (ls, export, restore) --------------------------------------------------
LabelOption = Annotated[list[str] | None, typer.Option(
    "--label", help="Only messages with this label (repeatable: any of them; Inbox also finds \\Inbox).")]
SinceOption = Annotated[str | None, typer.Option(
    "--since", help="Only messages dated at or after this (YYYY-MM-DD or ISO time; UTC unless given).")]
UntilOption = Annotated[str | None, typer.Option(
    "--until", help="Only messages dated before this (YYYY-MM-DD or ISO time; UTC unless given).")]


def message_filter(label: list[str] | None, since: str | None, until: str | None,
                   account: str | None = None) -> MessageFilter:
    """The filter of ``--label``/``--since``/``--until`` (UsageError, exit 2, for a bad or inverted range)."""
    return MessageFilter.of(label, parse_time(since, "--since"), parse_time(until, "--until"), account)


def warn(warnings: list[str]) -> None:
    """Each warning on stderr (a --json document carries them in its ``warnings`` key instead)."""
    for w in warnings:
        err(f"warning: {w}")

ArchiveArg = Annotated[Path, typer.Argument(
    help="The archive directory, or the name of an account of the config file.", callback=resolve_archive)]
"""ARCHIVE of the commands that read or thin out an archive: a config account's name works too."""

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
                     hint="set GMAIL_ARCHIVER_PASSWORD, or use --password-command or --oauth2-token-command")
