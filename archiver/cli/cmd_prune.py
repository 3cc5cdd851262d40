"""`gmail-archiver prune`: remove data no snapshot references."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archiver import open_archive, prune
from archiver.cli._common import EXIT_CODES_HELP, emit_json, handle_errors
from archiver.cli.cmd_forget import prune_json
from archiver.cli.render import TqdmProgress


def register(app: typer.Typer) -> None:
    @app.command("prune", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def prune_cmd(
        archive: Annotated[Path, typer.Argument(help="The archive directory.")],
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be removed.")] = False,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """Delete packs no snapshot references and repack mostly-empty ones (exclusive lock; safe to
        interrupt at any point).  Refuses to run on a damaged archive (exit 13), naming what blocks it and
        the command that unblocks it (`gmail-archiver forget ARCHIVE ID...` for damaged snapshots,
        `verify --repair-index` for a damaged index).

        --json keys: dry_run, packs_deleted, packs_repacked, packs_written, entries_removed, bytes_before,
        bytes_after.
        """
        p = prune(open_archive(archive).archive, dry_run=dry_run, progress=TqdmProgress())
        if json:
            emit_json(prune_json(p))
            return
        typer.echo(f"{'would delete' if dry_run else 'deleted'} {p.packs_deleted} packs, repacked "
                   f"{p.packs_repacked} into {p.packs_written}, removed {p.entries_removed} entries; "
                   f"packs: {p.bytes_before} -> {p.bytes_after} bytes")
