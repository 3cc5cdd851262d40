"""`gmail-archiver snapshots`: list the snapshots of an archive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from archiver import IntegrityError, SnapshotInfo, open_archive
from archiver.cli._common import EXIT_CODES_HELP, emit_json, err, handle_errors

UNREADABLE_HINT = ("`gmail-archiver verify ARCHIVE` reports the damage; `gmail-archiver forget ARCHIVE ID` "
                   "removes a damaged record")


def snapshot_json(info: SnapshotInfo) -> dict[str, Any]:
    """The JSON shape of one snapshot (shared by snapshots, ls, diff)."""
    return {"id": info.id, "short_id": info.short_id, "account": info.account, "time": info.time.isoformat(),
            "message_count": info.message_count, "partial": info.partial, "parent": info.parent,
            "source": info.source, "stats": dict(info.stats)}


def register(app: typer.Typer) -> None:
    @app.command("snapshots", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def snapshots(
        archive: Annotated[Path, typer.Argument(help="The archive directory.")],
        account: Annotated[str | None, typer.Option(help="Only this account (user@host).")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """List the snapshots of an archive, oldest first (checkpoints of unfinished runs marked "partial").

        Records that cannot be read are named on stderr (and in "problems"), and the exit code is then 1:
        the list is incomplete.

        --json keys: snapshots (list of {id, short_id, account, time, message_count, partial, parent,
        source, stats}), problems (list of {snapshot, detail}: unreadable records).
        """
        store = open_archive(archive).archive
        infos = store.snapshots(account)
        unreadable = store.unreadable_of(account)
        if json:
            emit_json({"snapshots": [snapshot_json(i) for i in infos],
                       "problems": [{"snapshot": sid, "detail": why} for sid, why in unreadable.items()]})
            if unreadable:
                raise typer.Exit(IntegrityError.exit_code)
            return
        typer.echo(f"{'ID':8}  {'TIME (UTC)':19}  {'MESSAGES':>8}  ACCOUNT")
        for i in infos:
            mark = "  (partial)" if i.partial else ""
            typer.echo(f"{i.short_id:8}  {i.time.strftime('%Y-%m-%d %H:%M:%S'):19}  {i.message_count:>8}  "
                       f"{i.account}{mark}")
        typer.echo(f"{len(infos)} snapshots")
        for sid, why in unreadable.items():
            err(f"warning: snapshot {sid[:12]} is unreadable and not listed: {why}")
        if unreadable:
            n = len(unreadable)
            raise IntegrityError(f"{n} snapshot record{'s' if n > 1 else ''} cannot be read; the list above "
                                 "is incomplete", hint=UNREADABLE_HINT)
