"""`gmail-archiver init`: create an empty archive (``--encrypt``: an encrypted one)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import archiver
from archiver import Archive, UsageError
from archiver.cli._common import (
    EXIT_CODES_HELP,
    ArchivePasswordCommand,
    archive_password,
    emit_json,
    handle_errors,
    local_path,
)


def register(app: typer.Typer) -> None:
    @app.command("init", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def init(
        archive: Annotated[Path, typer.Argument(help="The archive directory (must not exist, or be empty).")],
        encrypt: Annotated[bool, typer.Option(
            "--encrypt", help="Encrypt everything stored (formats/encryption.md): asks for the archive "
                              "password (or see --archive-password-command).")] = False,
        archive_password_command: ArchivePasswordCommand = None,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """Create an empty archive (folders 0700, files 0600).

        With --encrypt every file is sealed with a key only the archive password opens (keep it: without
        it nothing can be read); `gmail-archiver key add` gives the archive more passwords.

        --json keys: path, format_version, encrypted.
        """
        path = local_path(archive)
        password = archive_password(archive_password_command, confirm=True) if encrypt else None
        try:
            created = Archive.init(path)
        except UsageError:  # an interrupted `init --encrypt` left an empty plain archive: finish it
            if password is None or not isinstance(path, Path) or not (path / "archive.json").is_file():
                raise
            created = Archive.open(path)
        if password is not None:  # refuses an archive that holds data or is encrypted already
            archiver.encrypt_new_archive(created.backend, password)  # loads cryptography only now
        if json:
            emit_json({"path": str(created.path), "format_version": created.format_version,
                       "encrypted": encrypt})
            return
        typer.echo(f"created {'encrypted ' if encrypt else ''}archive at {created.path}")
