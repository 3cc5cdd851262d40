"""`gmail-archiver snapshots`: list the snapshots of an archive."""

from __future__ import annotations

from typing import Annotated

import typer

from archiver import IntegrityError
from archiver.cli._common import EXIT_CODES_HELP, ArchiveArg, emit_json, handle_errors, open_view, warn
from archiver.cli.render import problems_json, snapshot_json

UNREADABLE_HINT = ("`gmail-archiver verify ARCHIVE` reports the damage; `gmail-archiver forget ARCHIVE ID` "
                   "removes a damaged record")


def register(app: typer.Typer) -> None:
    @app.command("snapshots", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def snapshots(
        archive: ArchiveArg,
        account: Annotated[str | None, typer.Option(help="Only this account (user@host).")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """List the snapshots of an archive, oldest first (checkpoints of unfinished runs marked "partial").

        Records that cannot be read are named on stderr (and in "problems"), and the exit code is then 1:
        the list is incomplete.

        --json keys: snapshots (list of {id, short_id, account, time, message_count, partial, parent,
        source, stats}), problems (list of {snapshot, detail}: unreadable records).
        """
        store = open_view(archive).archive
        infos = store.snapshots(account)
        unreadable = store.unreadable_of(account)
        if json:
            emit_json({"snapshots": [snapshot_json(i) for i in infos], "problems": problems_json(unreadable)})
        else:
            typer.echo(f"{'ID':8}  {'TIME (UTC)':19}  {'MESSAGES':>8}  ACCOUNT")
            for i in infos:
                mark = "  (partial)" if i.partial else ""
                typer.echo(f"{i.short_id:8}  {i.time.strftime('%Y-%m-%d %H:%M:%S'):19}  "
                           f"{i.message_count:>8}  {i.account}{mark}")
            typer.echo(f"{len(infos)} snapshots")
            warn([f"snapshot {sid[:12]} is unreadable and not listed: {why}"
                  for sid, why in unreadable.items()])
        if unreadable:
            n = len(unreadable)
            raise IntegrityError(f"{n} snapshot record{'s' if n > 1 else ''} cannot be read; the list "
                                 f"{'above ' if not json else ''}is incomplete", hint=UNREADABLE_HINT)
