"""The ``gmail-archiver`` command line: a thin typer app over the library.

Every command lives in its own ``cmd_<name>.py`` module exposing ``register(app)``; COMMANDS below is the one
ordered list of them (what ``--help`` shows).
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Annotated

import typer

from archiver import S3Options, __version__, set_s3_defaults
from archiver.cli._common import EXIT_CODES_HELP, PROG, Frame

COMMANDS: list[str] = [
    # names of archiver.cli.cmd_<name> modules, in --help order; each registers itself
    "demo",
    "backup",
    "init",
    "snapshots",
    "ls",
    "diff",
    "search",
    "restore",
    "export",
    "verify",
    "forget",
    "prune",
    "stats",
    "config",
    "run",
    "schedule",
    "emulator",
    "auth",
    "copy",
]

app = typer.Typer(
    name=PROG,
    cls=Frame,
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
    set_s3_defaults(S3Options(endpoint=s3_endpoint, region=s3_region, path_style=s3_path_style))


for _name in COMMANDS:
    importlib.import_module(f"archiver.cli.cmd_{_name}").register(app)


def main() -> None:
    """Console-script entry point."""
    app()
