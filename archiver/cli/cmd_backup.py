"""``gmail-archiver backup ARCHIVE SOURCE_URL``: one new snapshot of a Gmail account or IMAP server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from archiver import BackupResult, PartialFailure, backup
from archiver.cli._common import (
    EXIT_CODES_HELP,
    CaCert,
    Insecure,
    JsonFlag,
    OAuth2TokenCommand,
    PasswordCommand,
    ShowProgress,
    credentials,
    emit_json,
    err,
    handle_errors,
)
from archiver.cli.render import TqdmProgress

JSON_KEYS = (
    "JSON keys (--json): snapshot (id), account, mode (gmail|imap), messages, new, changed, deleted, "
    "bytes_downloaded, bytes_stored, duration_s, complete (false: partial snapshot, exit 3), checkpoints, "
    "problems (list of {folder, uids, reason}), warnings (damage routed around, e.g. a damaged previous "
    "snapshot)."
)


def result_document(r: BackupResult) -> dict[str, Any]:
    """The --json document (keys listed in the help)."""
    return {
        "snapshot": r.snapshot, "account": r.account, "mode": r.mode, "messages": r.messages, "new": r.new,
        "changed": r.changed, "deleted": r.deleted, "bytes_downloaded": r.bytes_downloaded,
        "bytes_stored": r.bytes_stored, "duration_s": round(r.duration, 3), "complete": r.complete,
        "checkpoints": r.checkpoints,
        "problems": [{"folder": p.folder, "uids": list(p.uids), "reason": p.reason} for p in r.problems],
        "warnings": list(r.warnings),
    }


def summary(r: BackupResult) -> str:
    state = "snapshot" if r.complete else "PARTIAL snapshot"
    return (f"{state} {r.snapshot[:8]} of {r.account} ({r.mode}): {r.messages} messages, {r.new} new, "
            f"{r.changed} changed, {r.deleted} deleted; downloaded {r.bytes_downloaded:,} bytes, "
            f"stored {r.bytes_stored:,} new bytes in {r.duration:.1f}s")


def register(app: typer.Typer) -> None:
    @app.command("backup", epilog=JSON_KEYS + "\n\n" + EXIT_CODES_HELP)
    @handle_errors()
    def backup_cmd(
        archive: Annotated[Path, typer.Argument(help="The archive folder.")],
        source_url: Annotated[str, typer.Argument(
            help="imaps://user@imap.gmail.com, imap+starttls://user@host or imap://user@host:port.")],
        include_spam: Annotated[bool, typer.Option(
            "--include-spam", help="Also back up Gmail's Spam.")] = False,
        connections: Annotated[int, typer.Option(min=1, max=15, help="Parallel IMAP connections.")] = 4,
        json: JsonFlag = False,
        password_command: PasswordCommand = None,
        oauth2_token_command: OAuth2TokenCommand = None,
        cacert: CaCert = None,
        insecure: Insecure = False,
        progress: ShowProgress = None,
        init: Annotated[bool, typer.Option(
            "--init", help="Create the archive if it does not exist.")] = False,
        retries: Annotated[int, typer.Option(
            min=1, help="Attempts per batch after throttling or a dropped connection (1: no retry).")] = 6,
    ) -> None:
        """Back up a Gmail account (labels, threads) or any IMAP server (folders become labels).

        Downloads only what the archive lacks, over several connections, and records one new snapshot.
        A long first backup is checkpointed: after an interruption, run it again to continue.
        """
        creds = credentials(password_command, oauth2_token_command)
        bar = TqdmProgress(enabled=progress)
        result = backup(archive, source_url, credentials=creds, include_spam=include_spam,
                        connections=connections, progress=bar, init=init, cacert=cacert, insecure=insecure,
                        retries=retries)
        bar.finish()
        if json:
            emit_json(result_document(result))
        else:
            typer.echo(summary(result))
            for p in result.problems:
                err(f"missing: {p}")
            for w in result.warnings:
                err(f"warning: {w}")
        if not result.complete:
            if json:
                raise typer.Exit(PartialFailure.exit_code)
            raise PartialFailure(f"{len(result.problems)} problem(s): the snapshot is partial",
                                 hint="run the backup again to fetch what is missing")
