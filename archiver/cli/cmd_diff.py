"""`gmail-archiver diff`: what changed between two snapshots."""

from __future__ import annotations

from typing import Annotated

import typer

from archiver.cli._common import EXIT_CODES_HELP, ArchiveArg, emit_json, handle_errors, open_view, warn
from archiver.cli.render import change_json, message_json, snapshot_json


def register(app: typer.Typer) -> None:
    @app.command("diff", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def diff(
        archive: ArchiveArg,
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
        d = open_view(archive).diff(snapshot_a, snapshot_b, account)
        warnings = []
        if d.a.account != d.b.account:
            warnings.append(f"the snapshots are of different accounts ({d.a.account}, {d.b.account}): "
                            "their messages are compared by key, which one account does not share with "
                            "another")
        if json:
            emit_json({"a": snapshot_json(d.a), "b": snapshot_json(d.b), "warnings": warnings,
                       "added": [message_json(m) for m in d.added],
                       "removed": [message_json(m) for m in d.removed],
                       "relabelled": [change_json(c, "labels") for c in d.relabelled],
                       "reflagged": [change_json(c, "flags") for c in d.reflagged]})
            return
        warn(warnings)
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
