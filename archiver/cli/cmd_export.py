"""`gmail-archiver export`: a snapshot to mbox, Maildir or .eml files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from archiver import ExportResult, PartialFailure, UsageError, export
from archiver.cli._common import (
    EXIT_CODES_HELP,
    ArchiveArg,
    LabelOption,
    QueryOption,
    SinceOption,
    UntilOption,
    emit_json,
    err,
    handle_errors,
    message_filter,
    open_view,
    query_keys,
    warn,
)
from archiver.cli.render import TqdmProgress, export_json


def register(app: typer.Typer) -> None:
    @app.command("export", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def export_cmd(
        archive: ArchiveArg,
        snapshot: Annotated[str, typer.Argument(help="latest, an id prefix, or an ISO time.")] = "latest",
        format: Annotated[str, typer.Option("--format", "-f", help="mbox, maildir or eml.")] = "mbox",
        output: Annotated[Path | None, typer.Option(
            "--output", "-o", help="File (mbox; - for standard output) or folder (maildir, eml).")] = None,
        label: LabelOption = None,
        since: SinceOption = None,
        until: UntilOption = None,
        query: QueryOption = None,
        extra_headers: Annotated[bool, typer.Option(
            "--extra-headers/--no-extra-headers",
            help="mbox: add X-Gmail-Labels and X-GM-THRID to each exported copy.")] = True,
        overwrite: Annotated[bool, typer.Option(help="Write into a non-empty output.")] = False,
        account: Annotated[str | None, typer.Option(
            help="Snapshot of this account (user@host, as `snapshots` lists it); needed for latest or a time "
                 "when the archive holds several accounts.")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """Export a snapshot (or what --label/--since/--until/--query select) to mbox, Maildir or eml.

        mbox: mboxrd, Takeout-style X-Gmail-Labels headers.  maildir: one nested Maildir per label, the
        root being the inbox (Dovecot maildir:OUT:LAYOUT=fs:UTF-8; notmuch and mutt read it), flags in file
        names, copies hard-linked; a label folder name over 255 bytes is shortened (listed).  eml: one file
        per message with the exact stored bytes, plus index.jsonl.  Only files and folders the export
        creates are written (0600/0700), never a device, FIFO or socket and never through a symbolic link,
        even with --overwrite.  Damaged messages are skipped and listed (exit 3).  --json keys: format,
        output, snapshot, selected, messages, files, bytes, skipped (list of {key, message_id, blob_id,
        reason}), shortened_folders ({label: folder}), warnings.
        """
        if output is None:
            raise UsageError("--output is required", hint="e.g. -o mail.mbox, or -o - for standard output")
        to_stdout = str(output) == "-"
        if to_stdout and format != "mbox":
            raise UsageError(f"-o - (standard output) is for mbox; {format} export writes a folder",
                             hint=f"name a folder: -f {format} -o FOLDER")
        if to_stdout and json:
            raise UsageError("--json and -o - would both write to standard output",
                             hint="drop --json: with -o - the summary goes to standard error")
        where = message_filter(label, since, until, account)
        view = open_view(archive)
        result = export(view.archive, snapshot, format, sys.stdout.buffer if to_stdout else output,
                        labels=where.labels, since=where.since, until=where.until,
                        extra_headers=extra_headers, overwrite=overwrite, account=where.account,
                        keys=query_keys(archive, query, snapshot, where.account), progress=TqdmProgress())
        if json:
            emit_json(export_json(result))
        else:
            warn(result.warnings)
            typer.echo(_summary(result), err=to_stdout)
            for long_label, folder in result.shortened_folders.items():
                err(f"note: label {long_label!r} is too long for a folder name (255 bytes): its messages are "
                    f"in {folder}")
            for p in result.skipped:
                err(f"skipped {p.key} {p.message_id or ''}: {p.reason}")
        if result.skipped:
            raise PartialFailure(f"{len(result.skipped)} messages could not be exported (damaged archive)",
                                 hint="run `gmail-archiver verify --read-data` for details")


def _summary(r: ExportResult) -> str:
    """One line: what was written where; counts files as the format has them (one mbox is one file)."""
    where = "standard output" if str(r.output) == "-" else str(r.output)
    if r.format == "mbox":
        made = f"1 mbox file of {r.messages} messages"
    elif r.format == "maildir":
        made = f"{r.files} files: one per label folder of each message"
    else:
        made = f"{r.files} .eml files and index.jsonl"
    return (f"exported {r.messages} of {r.selected} messages ({r.bytes} bytes; {made}) from snapshot "
            f"{r.snapshot.short_id} to {where}")
