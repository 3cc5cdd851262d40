"""`gmail-archiver ls`: list the messages of one snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from archiver import MessageRecord, label_filter, open_archive
from archiver.cli._common import EXIT_CODES_HELP, emit_json, handle_errors
from archiver.cli.cmd_snapshots import snapshot_json


def message_json(m: MessageRecord) -> dict[str, Any]:
    """The JSON shape of one message (shared by ls and diff)."""
    return {"key": m.key, "labels": list(m.labels), "thread_id": m.thread_id, "flags": list(m.flags),
            "date": m.date.isoformat(), "size": m.size, "message_id": m.message_id, "blob_id": m.blob_id}


def register(app: typer.Typer) -> None:
    @app.command("ls", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def ls(
        archive: Annotated[Path, typer.Argument(help="The archive directory.")],
        snapshot: Annotated[str, typer.Argument(help="latest, an id prefix, or an ISO time.")] = "latest",
        label: Annotated[list[str] | None, typer.Option(
            help="Only messages with this label (repeatable; Inbox also finds \\Inbox).")] = None,
        account: Annotated[str | None, typer.Option(
            help="Snapshot of this account (user@host, as `snapshots` lists it); needed for latest or a time "
                 "when the archive holds several accounts.")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """List the messages of a snapshot: key, date, size, flags, labels, thread, Message-ID.

        --json keys: snapshot ({id, time, account, ...}), messages (list of {key, labels, thread_id, flags,
        date, size, message_id, blob_id}).
        """
        view = open_archive(archive).snapshot(snapshot, account)
        carries = label_filter(label) if label else None  # --label Inbox finds \Inbox too
        messages = [m for m in view if carries is None or carries(m.labels)]
        if json:
            emit_json({"snapshot": snapshot_json(view.info), "messages": [message_json(m) for m in messages]})
            return
        for m in messages:
            typer.echo("\t".join([m.key, m.date.isoformat(), str(m.size), " ".join(m.flags) or "-",
                                  ",".join(m.labels) or "-", m.thread_id, m.message_id or "-"]))
        typer.echo(f"{len(messages)} messages in snapshot {view.info.short_id}", err=True)
