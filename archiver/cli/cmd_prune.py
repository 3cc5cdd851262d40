"""`gmail-archiver prune`: remove data no snapshot references."""

from __future__ import annotations

from typing import Annotated

import typer

from archiver import prune
from archiver.cli._common import EXIT_CODES_HELP, ArchiveArg, emit_json, handle_errors, open_view
from archiver.cli.render import TqdmProgress, prune_json


def register(app: typer.Typer) -> None:
    @app.command("prune", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def prune_cmd(
        archive: ArchiveArg,
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
        p = prune(open_view(archive).archive, dry_run=dry_run, progress=TqdmProgress())
        if json:
            emit_json(prune_json(p))
            return
        if dry_run:
            typer.echo(f"would delete {p.packs_deleted} packs and repack {p.packs_repacked}, removing "
                       f"{p.entries_removed} entries; packs: {p.bytes_before} -> {p.bytes_after} bytes "
                       "(repacking included)")
            return
        typer.echo(f"deleted {p.packs_deleted} packs, repacked {p.packs_repacked} into {p.packs_written}, "
                   f"removed {p.entries_removed} entries; packs: {p.bytes_before} -> {p.bytes_after} bytes")
