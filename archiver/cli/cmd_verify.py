"""`gmail-archiver verify`: check the archive; exit 13 when anything is damaged."""

from __future__ import annotations

from typing import Annotated

import typer

from archiver import DamageFound, IndexRepair, VerifyReport, parse_subset, verify
from archiver.cli._common import (
    EXIT_CODES_HELP,
    ArchiveArg,
    emit_json,
    err,
    handle_errors,
    open_view,
    open_view_for_repair,
)
from archiver.cli.render import TqdmProgress, verify_json

LISTED = 50


def register(app: typer.Typer) -> None:
    @app.command("verify", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def verify_cmd(
        archive: ArchiveArg,
        read_data: Annotated[bool, typer.Option(
            "--read-data", help="Also decompress and re-hash every stored message.")] = False,
        subset: Annotated[str | None, typer.Option(
            help="Read only slice N of T of the packs (e.g. 3/7; implies --read-data).")] = None,
        repair_index: Annotated[bool, typer.Option(
            "--repair-index", help="First repair what can be rebuilt: the index from the packs (removes "
                                   "damaged segments), damaged pack tables of contents (repacks their sound "
                                   "frames), cache/index, and a missing or damaged archive.json when "
                                   "snapshots/, packs/ and index/ are there (exit 11 while a backup "
                                   "runs).")] = False,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """Check the archive's structure (snapshots, manifests, index, packs, dictionaries) and, with
        --read-data, every stored byte.  Damage is reported as the snapshots and messages it affects;
        exit code 13 when anything is damaged.

        --json keys: ok, read_data, subset, snapshots, pages, blobs_referenced, packs, packs_read,
        bytes_read, unindexed_packs, damage (list of {kind, id, detail}), damaged_snapshots,
        affected_count, affected_messages (list of {snapshot, key, message_id, blob_id}), healed (damage
        whose data is stored intact elsewhere: not counted as damage), damage_recorded (damaged bodies in
        the archive's damage record, which the next backup downloads again), record_error; with
        --repair-index also index_repair ({damaged_segments, segment_written, packs_indexed,
        unreadable_packs, damaged_cache, tocs_rewritten, frames_lost, config_rewritten}).
        """
        part = parse_subset(subset) if subset else None
        read_data = read_data or part is not None
        fixed = None
        if repair_index:
            view, config_rewritten = open_view_for_repair(archive)
            store = view.archive
            fixed = store.rebuild_index()
            fixed.config_rewritten = config_rewritten
        else:
            store = open_view(archive).archive
        r = verify(store, read_data=read_data, subset=part, progress=TqdmProgress())
        if json:
            emit_json(verify_json(r, fixed))
        else:
            _report(r, fixed, read_data)
        if not r.ok:
            unlisted = (f" (and all {r.unlisted_messages} messages of the {len(r.unlisted_snapshots)} "
                        "snapshots whose manifest is damaged, which cannot be listed one by one)"
                        if r.unlisted_snapshots else "")
            raise DamageFound(f"{len(r.damage)} damaged files or entries; {len(r.damaged_snapshots)} "
                              f"snapshots and {r.affected_count} messages affected{unlisted}",
                              hint="everything else stays restorable; run with --json for the full list")


def _report(r: VerifyReport, fixed: IndexRepair | None, read_data: bool) -> None:
    if fixed is not None:
        _show_repair(fixed)
    read = f"; read {r.packs_read} packs, {r.bytes_read} bytes" if read_data else ""
    typer.echo(f"checked {r.snapshots} snapshots, {r.pages} manifest pages, {r.blobs_referenced} "
               f"messages' bodies in {r.packs} packs{read}")
    if r.unindexed_packs:
        typer.echo(f"{r.unindexed_packs} packs are in no index segment (prune removes them)")
    if r.healed:
        typer.echo(f"{len(r.healed)} damaged or missing files or entries hold nothing that is not stored "
                   "intact elsewhere (a backup stored it again; prune removes them)")
    if r.record_error:
        err(r.record_error)
    elif not r.ok and r.damage_recorded:
        err(f"{r.damage_recorded} damaged message bodies recorded: the next backup downloads again "
            "those the server still has")
    if r.ok:
        typer.echo("no damage found")
    for f in r.damage[:LISTED]:
        err(f"damaged {f.kind} {f.id[:12]}: {f.detail}")
    for m in r.affected_messages[:LISTED]:
        err(f"affected message {m.key} {m.message_id or ''} in snapshot {m.snapshot_id[:8]}")


def _show_repair(fixed: IndexRepair) -> None:
    """One line per thing --repair-index changed (or that there was nothing to repair)."""
    if fixed.config_rewritten:
        typer.echo("archive.json: missing or damaged, written again")
    if fixed.damaged_segments or fixed.segment_written:
        typer.echo(f"index: {len(fixed.damaged_segments)} damaged segments repaired, "
                   f"{fixed.packs_indexed} packs indexed")
    if fixed.tocs_rewritten:
        lost = f"; {fixed.frames_lost} damaged frames could not be kept" if fixed.frames_lost else ""
        typer.echo(f"packs: {len(fixed.tocs_rewritten)} damaged tables of contents rewritten (sound frames "
                   f"repacked){lost}")
    if fixed.damaged_cache:
        typer.echo(f"cache: {fixed.damaged_cache}; rebuilt from the index")
    if not fixed.changed:
        typer.echo("index: nothing to repair")
