"""`gmail-archiver copy SRC DST`: replicate an archive (folder <-> S3, S3 <-> S3), incrementally."""

from __future__ import annotations

from typing import Annotated

import typer

from archiver import CopyResult, DamageFound, copy_archive
from archiver.cli._common import EXIT_CODES_HELP, emit_json, err, handle_errors, local_path
from archiver.cli.render import TqdmProgress


def _json(r: CopyResult) -> dict[str, object]:
    return {"ok": r.ok, "source": r.source, "destination": r.destination, "copied": r.copied,
            "already_there": r.already_there, "bytes_copied": r.bytes_copied,
            "snapshots_copied": r.snapshots_copied,
            "damaged": [{"name": n, "why": w} for n, w in sorted(r.damaged.items())]}


def register(app: typer.Typer) -> None:
    @app.command("copy", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def copy_cmd(
        source: Annotated[str, typer.Argument(help="The archive to copy: a folder or s3://BUCKET/PREFIX.")],
        destination: Annotated[str, typer.Argument(
            help="Where to: a new or empty folder or prefix, or an earlier copy (only what it lacks is "
                 "copied).")],
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """Copy an archive to another place, verifying every file copied (its bytes hash to its name):
        dictionaries, packs and index first, snapshots last, so the copy is a valid archive at every
        moment; an interrupted copy resumes when run again.  Exit 13 when a source file is damaged
        (it is named, and not copied).

        --json keys: ok, source, destination, copied, already_there, bytes_copied, snapshots_copied,
        damaged (list of {name, why}).
        """
        result = copy_archive(local_path(source), local_path(destination),
                              progress=None if json else TqdmProgress())
        if json:
            emit_json(_json(result))
        else:
            typer.echo(f"copied {result.copied} files ({result.bytes_copied:,} bytes, "
                       f"{result.snapshots_copied} snapshots) from {result.source} to {result.destination}; "
                       f"{result.already_there} were there already")
            for name, why in sorted(result.damaged.items()):
                err(f"not copied: {name}: {why}")
        if not result.ok:
            raise DamageFound(f"{len(result.damaged)} files of {result.source} are damaged and were not "
                              "copied", hint=f"gmail-archiver verify --read-data {result.source}")
