"""`gmail-archiver snapshots`: list the snapshots of an archive."""

from __future__ import annotations

from typing import Annotated

import typer

from archiver.cli._common import EXIT_CODES_HELP, ArchiveArg, emit_json, handle_errors, open_view
from archiver.cli.render import snapshot_json


def register(app: typer.Typer) -> None:
    @app.command("snapshots", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def snapshots(
        archive: ArchiveArg,
        account: Annotated[str | None, typer.Option(help="Only this account (user@host).")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """List the snapshots of an archive, oldest first (checkpoints of unfinished runs marked "partial").

        --json keys: snapshots (list of {id, short_id, account, time, message_count, partial, parent,
        source, stats}).
        """
        infos = open_view(archive).snapshots(account)
        if json:
            emit_json({"snapshots": [snapshot_json(i) for i in infos]})
            return
        typer.echo(f"{'ID':8}  {'TIME (UTC)':19}  {'MESSAGES':>8}  ACCOUNT")
        for i in infos:
            mark = "  (partial)" if i.partial else ""
            typer.echo(f"{i.short_id:8}  {i.time.strftime('%Y-%m-%d %H:%M:%S'):19}  {i.message_count:>8}  "
                       f"{i.account}{mark}")
        typer.echo(f"{len(infos)} snapshots")
