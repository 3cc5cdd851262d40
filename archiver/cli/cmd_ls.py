"""`gmail-archiver ls`: list the messages of one snapshot."""

from __future__ import annotations

from typing import Annotated

import typer

import archiver
from archiver.cli._common import (
    EXIT_CODES_HELP,
    ArchiveArg,
    LabelOption,
    SinceOption,
    UntilOption,
    handle_errors,
    message_filter,
    open_view,
    warn,
)
from archiver.cli.render import emit_json_stream, message_json, snapshot_json


def register(app: typer.Typer) -> None:
    @app.command("ls", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def ls(
        archive: ArchiveArg,
        snapshot: Annotated[str, typer.Argument(help="latest, an id prefix, or an ISO time.")] = "latest",
        label: LabelOption = None,
        since: SinceOption = None,
        until: UntilOption = None,
        account: Annotated[str | None, typer.Option(
            help="Snapshot of this account (user@host, as `snapshots` lists it); needed for latest or a time "
                 "when the archive holds several accounts.")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """List the messages of a snapshot (or those matching --label/--since/--until): key, date, size,
        flags, labels, thread, Message-ID, from, subject.

        Sender and subject come from the search index (cache/search.sqlite): the first ls or search of an
        archive reads every message once to build it.  --json keys: snapshot ({id, time, account, ...}),
        messages (list of {key, labels, thread_id, flags, date, size, message_id, blob_id, from, subject}),
        warnings (e.g. a --label the snapshot does not have).
        """
        where = message_filter(label, since, until, account)
        opened = open_view(archive)
        view = opened.snapshot(snapshot, where.account)
        warnings = where.warnings(view.labels()) if where.labels else []
        # streamed: one batch of records in memory at a time, however big the snapshot
        rows = archiver.with_summaries(opened.archive, view.info.id, lambda: where.apply(view))
        if json:
            emit_json_stream({"snapshot": snapshot_json(view.info), "warnings": warnings}, "messages",
                             (message_json(m, s) for m, s in rows))
            return
        warn(warnings)
        count = 0
        for m, s in rows:
            typer.echo("\t".join([m.key, m.date.isoformat(), str(m.size), " ".join(m.flags) or "-",
                                  ",".join(m.labels) or "-", m.thread_id, m.message_id or "-",
                                  s.sender or "-", s.subject or "-"]))
            count += 1
        typer.echo(f"{count} messages in snapshot {view.info.short_id}", err=True)
