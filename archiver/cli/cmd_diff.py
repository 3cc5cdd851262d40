"""`gmail-archiver diff`: what changed between two snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from archiver import Change, open_archive
from archiver.cli._common import EXIT_CODES_HELP, emit_json, err, handle_errors
from archiver.cli.cmd_ls import message_json
from archiver.cli.cmd_snapshots import snapshot_json


def _change(c: Change, attr: str) -> dict[str, Any]:
    return {"key": c.key, "message_id": c.after.message_id, "before": list(getattr(c.before, attr)),
            "after": list(getattr(c.after, attr))}


def register(app: typer.Typer) -> None:
    @app.command("diff", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def diff(
        archive: Annotated[Path, typer.Argument(help="The archive directory.")],
        snapshot_a: Annotated[str, typer.Argument(help="The older snapshot (id prefix, time, latest).")],
        snapshot_b: Annotated[str, typer.Argument(help="The newer snapshot.")],
        account: Annotated[str | None, typer.Option(
            help="Snapshots of this account (user@host); needed for latest or a time when the archive holds "
                 "several accounts.")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """Show messages added, removed, relabelled and reflagged from SNAPSHOT_A to SNAPSHOT_B.

        --json keys: a, b (snapshots), added, removed (lists of messages as in `ls --json`), relabelled,
        reflagged (lists of {key, message_id, before, after}), warnings (list of strings: e.g. the two
        snapshots are of different accounts, so every message shows as added or removed).
        """
        d = open_archive(archive).diff(snapshot_a, snapshot_b, account)
        warnings = []
        if d.a.account != d.b.account:
            warnings.append(f"the snapshots are of different accounts ({d.a.account}, {d.b.account}): "
                            "their messages are compared by key, which one account does not share with "
                            "another")
        if json:
            emit_json({"a": snapshot_json(d.a), "b": snapshot_json(d.b), "warnings": warnings,
                       "added": [message_json(m) for m in d.added],
                       "removed": [message_json(m) for m in d.removed],
                       "relabelled": [_change(c, "labels") for c in d.relabelled],
                       "reflagged": [_change(c, "flags") for c in d.reflagged]})
            return
        for w in warnings:
            err(f"warning: {w}")
        for m in d.added:
            typer.echo(f"+ {m.key}\t{m.message_id or '-'}\t{','.join(m.labels)}")
        for m in d.removed:
            typer.echo(f"- {m.key}\t{m.message_id or '-'}\t{','.join(m.labels)}")
        for c in d.relabelled:
            typer.echo(f"L {c.key}\t{','.join(c.before.labels)} -> {','.join(c.after.labels)}")
        for c in d.reflagged:
            typer.echo(f"F {c.key}\t{' '.join(c.before.flags)} -> {' '.join(c.after.flags)}")
        typer.echo(f"{len(d.added)} added, {len(d.removed)} removed, {len(d.relabelled)} relabelled, "
                   f"{len(d.reflagged)} reflagged", err=True)
