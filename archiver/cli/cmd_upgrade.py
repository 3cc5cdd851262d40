"""`gmail-archiver upgrade`: make an archive format v2 (blocks, dictionaries carried in the packs)."""

from __future__ import annotations

from typing import Annotated

import typer

from archiver.cli._common import EXIT_CODES_HELP, ArchiveArg, emit_json, handle_errors, open_view


def register(app: typer.Typer) -> None:
    @app.command("upgrade", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def upgrade_cmd(
        archive: ArchiveArg,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """Upgrade the archive to format v2: archive.json says version 2, then every v1 pack is repacked
        into v2 packs (and, as prune does, data no snapshot references is removed).  Holds the exclusive
        lock; safe to interrupt at any point (running it again finishes).  Refuses a damaged archive
        (exit 13), naming what blocks it.  Releases that read only v1 cannot open the archive afterwards.

        --json keys: version_before, v1_packs_before, packs_written, packs_deleted, v1_packs_after.
        """
        r = open_view(archive).archive.upgrade()
        if json:
            emit_json({"version_before": r.version_before, "v1_packs_before": r.v1_packs_before,
                       "packs_written": r.packs_written, "packs_deleted": r.packs_deleted,
                       "v1_packs_after": r.v1_packs_after})
            return
        was = "was v1" if r.version_before < 2 else "already v2"
        typer.echo(f"archive is format v2 ({was}): {r.v1_packs_before} v1 packs repacked into "
                   f"{r.packs_written} v2 packs, {r.packs_deleted} packs deleted, "
                   f"{r.v1_packs_after} v1 packs left")
