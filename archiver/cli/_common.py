"""What every command shares: the one exit path (errors -> messages and exit codes, nowhere else), the
command-line frame around every invocation, opening an archive, output helpers, secrets input.

The exit path: a command raises ``archiver`` errors; :func:`handle_errors` (inside the command) and
:class:`Frame` (around it, for what the option parser refuses) turn every failure into one line on stderr,
or one JSON error document on stdout under ``--json``, and the exit code of :func:`exit_code`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import os
import re
import signal
import sys
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from typer.core import TyperGroup

from archiver import ArchiverError, Cancelled, UsageError
from archiver.cli import render

if TYPE_CHECKING:  # the library's layers load when a command first uses them, not with the command line
    from archiver import ArchiveView, Credentials, MessageFilter
from archiver.cli.render import emit_json as emit_json

P = ParamSpec("P")
R = TypeVar("R")

PROG = "gmail-archiver"
EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 error, 2 usage, 3 partial (some messages failed; listed), 10 no archive, "
    "11 locked, 12 authentication failed, 13 verify found damage, 130 interrupted (Ctrl-C), "
    "141 output pipe closed (e.g. by head), 143 terminated (SIGTERM)."
)
EXIT_INTERRUPTED = 130
"""Ctrl-C (SIGINT): 128 + 2, as shells report it."""
EXIT_TERMINATED = 143
"""SIGTERM: 128 + 15.  Handled like Ctrl-C (a backup keeps what it stored and says so), but its own code so
that a scheduler can tell "stopped by me" from "interrupted by a user"."""
EXIT_BROKEN_PIPE = 141
"""stdout closed by the reader (``ls | head``): 128 + SIGPIPE, what ``seq 1 1000000 | head`` reports under
``set -o pipefail``; quiet, as other unix tools are."""
RESUME_HINT = "what was already stored or uploaded is kept: run the same command again to continue"
_CLICK_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
"""The option parser's error base class (click's, vendored by newer typer versions)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds the run exactly as Ctrl-C does."""


def err(message: str) -> None:
    """One line to stderr (never stdout, which is for results); a closed stderr is ignored."""
    with contextlib.suppress(BrokenPipeError):
        typer.echo(message, err=True)


def exit_code(exc: BaseException) -> int:
    """The exit code of a failure: the only mapping from errors to process exit codes."""
    if isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated):  # e.g. Cancelled from SIGTERM
        return EXIT_TERMINATED
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, ArchiverError):
        return exc.exit_code
    if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
        return EXIT_BROKEN_PIPE
    if isinstance(exc, _CLICK_ERROR):
        return int(getattr(exc, "exit_code", 2))
    return 1


def _as_archiver_error(exc: BaseException) -> ArchiverError:
    """Foreign failures in the words the user needs: an interruption, an unwritable output, a full disk."""
    if isinstance(exc, ArchiverError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"
        cancelled = Cancelled(what, hint=RESUME_HINT)
        cancelled.exit_code = exit_code(exc)  # 130, or 143 for SIGTERM
        return cancelled
    if isinstance(exc, OSError):  # the system's words, no traceback
        where = f": {exc.filename}" if exc.filename else ""
        return ArchiverError(f"{exc.strerror or exc}{where}")
    return ArchiverError(f"{type(exc).__name__}: {exc}")


def _quiet_stdout() -> None:
    """After the reader closed stdout: point it at /dev/null so that the final flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def fail(exc: BaseException, as_json: bool) -> int:
    """Report a failure once (a line and its hint on stderr, or the JSON error document) and return its
    exit code.  A closed output pipe is reported by its exit code alone."""
    code = exit_code(exc)
    if code == EXIT_BROKEN_PIPE:
        _quiet_stdout()
        return code
    if isinstance(exc, _CLICK_ERROR):
        if as_json:
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else PROG
            emit_json(render.error_document("UsageError", exc.format_message(),  # type: ignore[attr-defined]
                                            f"see `{where} --help`", code))
        else:
            try:
                exc.show()  # type: ignore[attr-defined]
            except BrokenPipeError:  # the help text of `gmail-archiver | head`
                _quiet_stdout()
                return EXIT_BROKEN_PIPE
        return code
    error = _as_archiver_error(exc)
    if as_json and not render.json_emitted():
        emit_json(render.error_document(type(error).__name__, str(error), error.hint, code))
    else:
        err(f"error: {error}")
        if error.hint:
            err(f"hint: {error.hint}")
    return code


def handle_errors(json_flag: str = "json") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run a command inside the exit path: any failure is reported by :func:`fail` and exits with its code.

    Under ``--json`` a command that already printed its document (then raised, e.g. PartialFailure) gets
    no second one: the error goes to stderr and the exit code says it.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except (ArchiverError, KeyboardInterrupt, OSError) as exc:
                raise typer.Exit(fail(exc, bool(kwargs.get(json_flag, False)))) from None

        return wrapper

    return decorate


# -- the frame around every invocation ----------------------------------------------------------------------
_VERBOSE = re.compile(r"^(-v+|--verbose)$")


def hoist_verbosity(args: Sequence[str]) -> list[str]:
    """``-v``/``-vv``/``--verbose`` are global options: move them in front of the command wherever they
    were written (``backup A URL -v`` as ``-v backup A URL``); nothing after ``--`` moves."""
    head = list(args[: args.index("--")]) if "--" in args else list(args)
    tail = list(args[len(head):])
    flags = [a for a in head if _VERBOSE.match(a)]
    return [*flags, *(a for a in head if not _VERBOSE.match(a)), *tail]


def wants_json(args: Sequence[str]) -> bool:
    """Whether the command line asks for ``--json`` (read before parsing: the parser's own errors too)."""
    head = args[: list(args).index("--")] if "--" in args else args
    return "--json" in head


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread while a command runs: checkpoints are kept and
    the run says so, as on Ctrl-C (exit 143 instead of 130)."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Frame(TyperGroup):
    """The command group with the one exit path around it: global options from any position, the parser's
    errors as JSON under ``--json``, SIGTERM handled like Ctrl-C, a closed stdout quiet."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, windows_expand_args: bool = True,
             **extra: Any) -> Any:
        argv = hoist_verbosity(list(sys.argv[1:] if args is None else args))
        as_json = wants_json(argv)
        render.reset()
        with sigterm_as_interrupt():
            try:
                result = super().main(args=argv, prog_name=prog_name or PROG, complete_var=complete_var,
                                      standalone_mode=False,
                                      windows_expand_args=windows_expand_args, **extra)
                code = result if isinstance(result, int) else 0
            except (_CLICK_ERROR, ArchiverError, KeyboardInterrupt, OSError) as exc:
                code = fail(exc, as_json)
            except typer.Abort:
                code = fail(Cancelled("aborted"), as_json)
        if standalone_mode:
            sys.exit(code)
        return code


# -- opening archives ---------------------------------------------------------------------------------------
_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/")


def local_path(path: Path | str) -> Path | str:
    """An ARCHIVE argument: a local folder, or an ``s3://bucket/prefix`` URL (typer hands it over as a
    Path, which folds ``//`` into ``/``); UsageError for other URLs (``imap://x`` would otherwise become a
    local folder ``imap:``)."""
    text = os.fspath(path)
    url = _URL_LIKE.match(text)
    if url:
        if url.group(0).lower() == "s3:/":
            return "s3://" + text[4:].lstrip("/")
        raise UsageError(f"the archive {text!r} looks like a URL ({url.group(0)}/...): archives are local "
                         "folders or s3://BUCKET/PREFIX",
                         hint="give a local path or an s3:// URL")
    return Path(text)


def open_view(path: Path | str) -> ArchiveView:
    """The one way commands open an existing archive (``.archive`` is the store underneath)."""
    from archiver import open_archive

    return open_archive(local_path(path))


def open_view_for_repair(path: Path | str) -> tuple[ArchiveView, bool]:
    """``open_view`` for ``verify --repair-index``: a missing or damaged ``archive.json`` is written again
    first when the folder holds an archive's folders; returns (view, whether it was written again)."""
    from archiver import Archive, ArchiveView

    archive, rewritten = Archive.open_for_repair(local_path(path))
    return ArchiveView(archive), rewritten


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


QueryOption = Annotated[str | None, typer.Option(
    "--query", help="Only messages matching this search (Gmail's syntax, see `gmail-archiver search --help`; "
                    "Trash and Spam only when it names them).")]


def query_keys(archive: Path, query: str | None, snapshot: str, account: str | None) -> set[str] | None:
    """The keys of the messages ``--query`` matches in the snapshot the command reads (None: no query)."""
    if query is None:
        return None
    from archiver import search  # loads the search index code only when a query is given

    return {h.key for h in search(local_path(archive), query, snapshot=snapshot, account=account,
                                  snippets=False).messages}


def message_filter(label: list[str] | None, since: str | None, until: str | None,
                   account: str | None = None) -> MessageFilter:
    """The filter of ``--label``/``--since``/``--until`` (UsageError, exit 2, for a bad or inverted range)."""
    from archiver import MessageFilter

    return MessageFilter.of(label, parse_time(since, "--since"), parse_time(until, "--until"), account)


def warn(warnings: list[str]) -> None:
    """Each warning on stderr (a --json document carries them in its ``warnings`` key instead)."""
    for w in warnings:
        err(f"warning: {w}")


def _resolve_archive(arg: Path) -> Path | str:
    """``archiver.resolve_archive``, the config code loaded only when an ARCHIVE argument is given."""
    from archiver import resolve_archive

    return resolve_archive(arg)


ArchiveArg = Annotated[Path, typer.Argument(
    help="The archive directory, or the name of an account of the config file.", callback=_resolve_archive)]
"""ARCHIVE of the commands that read or thin out an archive: a config account's name works too."""

# -- options shared by the commands that talk to a server (backup, restore) ---------------------------------
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document (keys below).")]
PasswordCommand = Annotated[str | None, typer.Option(
    help="Shell command printing the password on its first line, run by sh -c (e.g. 'pass show mail | head "
         "-1'); else GMAIL_ARCHIVER_PASSWORD, else a prompt.")]
OAuth2TokenCommand = Annotated[str | None, typer.Option(
    help="Shell command printing an OAuth2 access token (XOAUTH2), run by sh -c; not with "
         "--password-command.")]
CaCert = Annotated[str | None, typer.Option(help="CA certificate file to trust.")]
Insecure = Annotated[bool, typer.Option("--insecure", help="Allow plain imap:// to a non-loopback host.")]
ShowProgress = Annotated[bool | None, typer.Option(
    "--progress/--no-progress",
    help="Progress bar with rate and ETA on stderr (default: when it is a terminal).")]


def credentials(password_command: str | None, oauth2_token_command: str | None) -> Credentials:
    """The secret from the token/password command, GMAIL_ARCHIVER_PASSWORD, or a prompt on a terminal."""
    from archiver import Credentials, credentials_from_env_or_command

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


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*$", re.I)


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``1048576`` -> bytes (powers of 1024)."""
    m = _SIZE_RE.match(text)
    if not m:
        raise UsageError(f"not a size: {text!r} (e.g. 500M, 2G)")
    return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " "))
# -- archive passwords (encrypted archives) -----------------------------------------------------------------
ArchivePasswordCommand = Annotated[str | None, typer.Option(
    "--archive-password-command",
    help="Shell command printing the archive password on its first line, run by sh -c; else "
         "GMAIL_ARCHIVER_ARCHIVE_PASSWORD, else a prompt on a terminal.")]


def archive_password(command: str | None, *, new: bool = False, confirm: bool = False) -> str:
    """An archive password from ``command``, the environment (``new``: GMAIL_ARCHIVER_NEW_ARCHIVE_PASSWORD)
    or a prompt on a terminal (``confirm``: typed twice); never echoed, never in argv."""
    import getpass

    from archiver import archive_password_from_env_or_command

    found = archive_password_from_env_or_command(command, new=new)
    if found is not None:
        return found
    if not sys.stdin.isatty():
        env = "GMAIL_ARCHIVER_NEW_ARCHIVE_PASSWORD" if new else "GMAIL_ARCHIVER_ARCHIVE_PASSWORD"
        option = "--new-password-command" if new else "--archive-password-command"
        raise UsageError(f"no {'new ' if new else ''}archive password given",
                         hint=f"set {env}, or use {option}")
    what = "New archive password" if new else "Archive password"
    password = getpass.getpass(f"{what}: ")
    if confirm and getpass.getpass(f"{what} (again): ") != password:
        raise UsageError("the two passwords differ")
    return password


def install_archive_password_source(command: str | None) -> None:
    """How the library gets the password of an encrypted archive it opens (asked only then, once per
    archive and process): ``command``'s first line, else GMAIL_ARCHIVER_ARCHIVE_PASSWORD, else a prompt on a
    terminal."""
    from archiver import set_archive_password_provider

    def provider(url: str) -> str | None:
        import getpass

        from archiver import archive_password_from_env_or_command

        found = archive_password_from_env_or_command(command)
        if found is None and sys.stdin.isatty():
            found = getpass.getpass(f"Password of the archive {url}: ")
        return found

    set_archive_password_provider(provider)
