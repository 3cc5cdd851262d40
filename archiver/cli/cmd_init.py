"""`gmail-archiver init`: create an empty archive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archiver import Archive
from archiver.cli._common import EXIT_CODES_HELP, emit_json, handle_errors, local_path


def register(app: typer.Typer) -> None:
    @app.command("init", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def init(
        archive: Annotated[Path, typer.Argument(help="The archive directory (must not exist, or be empty).")],
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """Create an empty archive (folders 0700, files 0600).

        --json keys: path, format_version.
        """
        created = Archive.init(local_path(archive))
        if json:
            emit_json({"path": str(created.path), "format_version": 1})
            return
        typer.echo(f"created archive at {created.path}")
