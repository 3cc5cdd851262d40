"""`gmail-archiver export`: a snapshot to mbox, Maildir or .eml files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archiver import PartialFailure, UsageError, export, open_archive
from archiver.cli._common import EXIT_CODES_HELP, emit_json, err, handle_errors, parse_time
from archiver.cli.cmd_snapshots import snapshot_json
from archiver.cli.render import TqdmProgress


def register(app: typer.Typer) -> None:
    @app.command("export", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def export_cmd(
        archive: Annotated[Path, typer.Argument(help="The archive directory.")],
        snapshot: Annotated[str, typer.Argument(help="latest, an id prefix, or an ISO time.")] = "latest",
        format: Annotated[str, typer.Option("--format", "-f", help="mbox, maildir or eml.")] = "mbox",
        output: Annotated[Path | None, typer.Option("--output", "-o", help="File (mbox) or directory.")]
        = None,
        label: Annotated[list[str] | None, typer.Option(
            help="Only messages with this label (repeatable; also by Takeout name, e.g. Inbox).")] = None,
        since: Annotated[str | None, typer.Option(help="Only messages dated at or after this (ISO).")] = None,
        until: Annotated[str | None, typer.Option(help="Only messages dated before this (ISO).")] = None,
        extra_headers: Annotated[bool, typer.Option(
            "--extra-headers/--no-extra-headers",
            help="mbox: add X-Gmail-Labels and X-GM-THRID to each exported copy.")] = True,
        overwrite: Annotated[bool, typer.Option(help="Write into a non-empty output.")] = False,
        account: Annotated[str | None, typer.Option(
            help="Snapshot of this account (user@host, as `snapshots` lists it); needed for latest or a time "
                 "when the archive holds several accounts.")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """Export a snapshot (or the messages matching --label/--since/--until) to mbox, Maildir or eml.

        mbox: mboxrd, Takeout-style X-Gmail-Labels headers.  maildir: one nested Maildir per label, the
        root being the inbox (Dovecot maildir:OUT:LAYOUT=fs:UTF-8; notmuch and mutt read it), flags in file
        names, copies hard-linked.  eml: one file per
        message with the exact stored bytes, plus index.jsonl.  Damaged messages are skipped and listed
        (exit 3).  --json keys: format, output, snapshot, selected, messages, files, bytes, skipped (list
        of {key, message_id, blob_id, reason}).
        """
        if output is None:
            raise UsageError("--output is required")
        view = open_archive(archive)
        result = export(view.archive, snapshot, format, output, labels=label,
                        since=parse_time(since, "--since"), until=parse_time(until, "--until"),
                        extra_headers=extra_headers, overwrite=overwrite, account=account,
                        progress=TqdmProgress())
        skipped = [{"key": p.key, "message_id": p.message_id, "blob_id": p.blob_id, "reason": p.reason}
                   for p in result.skipped]
        if json:
            emit_json({"format": result.format, "output": str(result.output),
                       "snapshot": snapshot_json(result.snapshot), "selected": result.selected,
                       "messages": result.messages, "files": result.files, "bytes": result.bytes,
                       "skipped": skipped})
        else:
            typer.echo(f"exported {result.messages} of {result.selected} messages ({result.bytes} bytes, "
                       f"{result.files} files) from snapshot {result.snapshot.short_id} to {result.output}")
            for p in result.skipped:
                err(f"skipped {p.key} {p.message_id or ''}: {p.reason}")
        if result.skipped:
            if json:
                raise typer.Exit(PartialFailure.exit_code)
            raise PartialFailure(f"{len(result.skipped)} messages could not be exported (damaged archive)",
                                 hint="run `gmail-archiver verify --read-data` for details")
