"""The ``gmail-archiver`` command line: a thin typer app over the library.

Every command lives in its own ``cmd_<name>.py`` module exposing ``register(app)``; COMMANDS below is the one
ordered list of them (what ``--help`` shows).
"""

from __future__ import annotations

import importlib
import logging
from typing import Annotated

import typer

from archiver.cli._common import EXIT_CODES_HELP

COMMANDS: list[str] = [
    # names of archiver.cli.cmd_<name> modules, in --help order; each registers itself
    "demo",
    "backup",
    "init",
    "snapshots",
    "ls",
    "diff",
    "restore",
    "export",
    "verify",
    "forget",
    "prune",
    "stats",
    "emulator",
    "auth",
]

app = typer.Typer(
    name="gmail-archiver",
    help="Back up Gmail (labels and threads kept) or any IMAP server into a deduplicated archive; restore, "
    "export and verify it.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _global_options(
    verbose: Annotated[int, typer.Option(
        "--verbose", "-v", count=True,
        help="Log to stderr: -v what the run does, -vv also the IMAP conversation (credentials redacted, "
             "message bodies as sizes).")] = 0,
) -> None:
    """Options that apply to every command (before the command name)."""
    if verbose:
        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")


for _name in COMMANDS:
    importlib.import_module(f"archiver.cli.cmd_{_name}").register(app)


def main() -> None:
    """Console-script entry point."""
    app()
