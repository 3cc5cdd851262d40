"""``gmail-archiver key add|remove|passwd|list``: the passwords of an encrypted archive (its key files).
``archiver.key_*`` are looked up when called: cryptography loads only for these commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import archiver
from archiver.cli._common import (
    EXIT_CODES_HELP,
    ArchivePasswordCommand,
    JsonFlag,
    archive_password,
    emit_json,
    handle_errors,
    local_path,
)

ArchiveDir = Annotated[Path, typer.Argument(help="The encrypted archive directory.")]
NewPasswordCommand = Annotated[str | None, typer.Option(
    "--new-password-command",
    help="Shell command printing the new password on its first line; else "
         "GMAIL_ARCHIVER_NEW_ARCHIVE_PASSWORD, else a prompt on a terminal (typed twice).")]


def register(app: typer.Typer) -> None:
    key = typer.Typer(no_args_is_help=True,
                      help="The passwords of an encrypted archive: each is a key file wrapping its key.")
    app.add_typer(key, name="key")

    @key.command("list", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def list_cmd(archive: ArchiveDir, json: JsonFlag = False) -> None:
        """List the ids of the archive's key files (no password needed).

        --json keys: keys.
        """
        ids = archiver.key_list(local_path(archive))
        if json:
            emit_json({"keys": ids})
            return
        for key_id in ids:
            typer.echo(key_id)

    @key.command("add", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def add_cmd(archive: ArchiveDir, archive_password_command: ArchivePasswordCommand = None,
                new_password_command: NewPasswordCommand = None, json: JsonFlag = False) -> None:
        """Add a password: a new key file opened by it (any current password authorises it).

        --json keys: key.
        """
        current = archive_password(archive_password_command)
        new = archive_password(new_password_command, new=True, confirm=True)
        new_id = archiver.key_add(local_path(archive), current, new)
        if json:
            emit_json({"key": new_id})
            return
        typer.echo(f"added key {new_id}")

    @key.command("remove", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def remove_cmd(archive: ArchiveDir,
                   key_id: Annotated[str, typer.Argument(help="The key to remove (`key list` shows them).")],
                   archive_password_command: ArchivePasswordCommand = None, json: JsonFlag = False) -> None:
        """Remove a key file (its password no longer opens the archive); never the last one.

        --json keys: removed.
        """
        archiver.key_remove(local_path(archive), archive_password(archive_password_command), key_id)
        if json:
            emit_json({"removed": key_id})
            return
        typer.echo(f"removed key {key_id}")

    @key.command("passwd", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def passwd_cmd(archive: ArchiveDir, archive_password_command: ArchivePasswordCommand = None,
                   new_password_command: NewPasswordCommand = None, json: JsonFlag = False) -> None:
        """Change a password: its key file is written again under the new one (the new file first).

        --json keys: key (the new key file's id).
        """
        current = archive_password(archive_password_command)
        new = archive_password(new_password_command, new=True, confirm=True)
        new_id = archiver.key_passwd(local_path(archive), current, new)
        if json:
            emit_json({"key": new_id})
            return
        typer.echo(f"changed password: key file is now {new_id}")
