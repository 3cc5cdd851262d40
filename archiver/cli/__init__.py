"""The ``gmail-archiver`` command line: a thin typer app over the library.

Every command lives in its own ``cmd_<name>.py`` module exposing ``register(app)``; COMMANDS below is the one
ordered list of them (what ``--help`` shows).  A command's module (and through it the library layers it uses)
is imported only when that command is looked up: ``backup`` does not pay for restore, search, the emulator
or the Google sign-in, and ``--version`` for none of them.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperGroup

from archiver import __version__
from archiver.cli._common import EXIT_CODES_HELP, PROG, Frame, install_archive_password_source

COMMANDS: list[str] = [
    # names of archiver.cli.cmd_<name> modules, in --help order; each registers itself
    "demo",
    "backup",
    "init",
    "key",
    "snapshots",
    "ls",
    "diff",
    "search",
    "restore",
    "rewrite",
    "export",
    "verify",
    "forget",
    "prune",
    "upgrade",
    "stats",
    "config",
    "run",
    "schedule",
    "emulator",
    "auth",
    "copy",
]

ALSO: dict[str, tuple[str, ...]] = {"search": ("show", "extract")}
"""The commands a ``cmd_<name>`` module registers besides ``name`` (listed after it in ``--help``)."""
MODULE_OF = {command: module for module in COMMANDS for command in (module, *ALSO.get(module, ()))}
"""Command name -> the ``cmd_<module>`` that registers it."""

_LOADED: dict[str, Any] = {}
"""Command name -> its click command, built once per process (a test runner invokes the app many times)."""


def registered_by(module: str) -> dict[str, Any]:
    """The click commands ``cmd_<module>`` registers (on a Typer of its own), by name."""
    sub = typer.Typer()
    importlib.import_module(f"archiver.cli.cmd_{module}").register(sub)
    group = typer.main.get_group(sub)
    assert isinstance(group, TyperGroup)
    return dict(group.commands)


def load_command(name: str) -> Any:
    """The click command ``name``, its module imported on first use."""
    if name not in _LOADED:
        _LOADED.update(registered_by(MODULE_OF[name]))
    return _LOADED[name]


class LazyCommands(MutableMapping[str, Any]):
    """The group's name -> command table with every command name listed up front and each command built on
    first access, so listing, suggestions ("did you mean") and completion see every command."""

    def __init__(self, names: Iterable[str], added: MutableMapping[str, Any]) -> None:
        self._names = list(names)
        self._added = dict(added)

    def __getitem__(self, name: str) -> Any:
        if name in self._added:
            return self._added[name]
        if name in self._names:
            return load_command(name)
        raise KeyError(name)

    def __setitem__(self, name: str, command: Any) -> None:
        self._added[name] = command

    def __delitem__(self, name: str) -> None:
        if name in self._names:
            self._names.remove(name)
        self._added.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self._names
        yield from (n for n in self._added if n not in self._names)

    def __len__(self) -> int:
        return len(self._names) + sum(1 for n in self._added if n not in self._names)


class _App(Frame):
    """The top-level group: ``Frame``'s exit path, with the commands of COMMANDS loaded on demand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(MODULE_OF, self.commands)


app = typer.Typer(
    name=PROG,
    cls=_App,
    help="Back up Gmail (labels and threads kept) or any IMAP server into a deduplicated archive; restore, "
    "export and verify it.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
"""``--install-completion`` / ``--show-completion`` (bash, zsh, fish, PowerShell) come with typer."""

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def configure_logging(verbose: int) -> None:
    """``-v``: what the run does (``archiver.*`` at INFO); ``-vv``: also the IMAP conversation (DEBUG, the
    wire log redacts credentials).  Only the package's loggers: other libraries stay quiet.  Set afresh on
    every invocation, on the stderr of the moment (a test runner invokes many in one process)."""
    logger = logging.getLogger("archiver")
    for old in [h for h in logger.handlers if getattr(h, "_archiver_cli", False)]:
        logger.removeHandler(old)
    logger.setLevel(logging.NOTSET)
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._archiver_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"{PROG} {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    verbose: Annotated[int, typer.Option(
        "--verbose", "-v", count=True, metavar="", show_default=False,
        help="Log to stderr: -v what the run does, -vv also the IMAP conversation (credentials redacted, "
             "message bodies as sizes).  Before or after the command name.")] = 0,
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_show_version, help="Print the version and exit.")] = False,
    archive_password_command: Annotated[str | None, typer.Option(
        "--archive-password-command", metavar="COMMAND",
        help="For an encrypted archive: a shell command printing its password on its first line (run by "
             "sh -c); else GMAIL_ARCHIVER_ARCHIVE_PASSWORD, else a prompt on a terminal.  Before the "
             "command name.")] = None,
    s3_endpoint: Annotated[str | None, typer.Option(
        "--s3-endpoint", envvar="AWS_ENDPOINT_URL", show_envvar=False,
        help="The S3-compatible service of s3:// archives (default AWS; also AWS_ENDPOINT_URL).  "
             "Credentials come from the AWS environment or profile, never from here.")] = None,
    s3_region: Annotated[str | None, typer.Option(
        "--s3-region", help="Region of s3:// archives (default AWS_REGION, else us-east-1).")] = None,
    s3_path_style: Annotated[bool | None, typer.Option(
        "--s3-path-style/--s3-virtual-hosted",
        help="Bucket in the path (most self-hosted services) or in the host name (AWS); default: path "
             "style with --s3-endpoint.")] = None,
) -> None:
    """Options that apply to every command."""
    configure_logging(verbose)
    install_archive_password_source(archive_password_command)
    if s3_endpoint is not None or s3_region is not None or s3_path_style is not None:
        from archiver import S3Options, set_s3_defaults  # the remote layer loads only for s3:// users

        set_s3_defaults(S3Options(endpoint=s3_endpoint, region=s3_region, path_style=s3_path_style))


def main() -> None:
    """Console-script entry point."""
    app()
