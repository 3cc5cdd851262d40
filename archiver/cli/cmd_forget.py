"""`gmail-archiver forget`: remove snapshots by a keep policy (restic semantics)."""

from __future__ import annotations

from typing import Annotated

import typer

from archiver import RetentionPolicy, forget
from archiver.cli._common import EXIT_CODES_HELP, ArchiveArg, emit_json, handle_errors, open_view
from archiver.cli.render import TqdmProgress, forget_json


def register(app: typer.Typer) -> None:
    @app.command("forget", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def forget_cmd(
        archive: ArchiveArg,
        keep_last: Annotated[int, typer.Option(help="Keep the N newest snapshots.")] = 0,
        keep_hourly: Annotated[int, typer.Option(help="Keep the newest snapshot of each of N hours.")] = 0,
        keep_daily: Annotated[int, typer.Option(help="Keep the newest snapshot of each of N days.")] = 0,
        keep_weekly: Annotated[int, typer.Option(help="Keep the newest of each of N ISO weeks.")] = 0,
        keep_monthly: Annotated[int, typer.Option(help="Keep the newest of each of N months.")] = 0,
        keep_yearly: Annotated[int, typer.Option(help="Keep the newest of each of N years.")] = 0,
        account: Annotated[str | None, typer.Option(help="Only this account's snapshots.")] = None,
        prune: Annotated[bool, typer.Option("--prune", help="Then remove the data no snapshot needs.")]
        = False,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be removed.")] = False,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """Forget snapshots not kept by the --keep-* rules (per account; -1 = unlimited; UTC buckets).

        Each rule keeps the newest snapshot of each of its N most recent buckets (restic semantics);
        checkpoints of unfinished runs go once a newer complete snapshot exists.  Data stays until prune.
        --json keys: dry_run, keep, forget (lists of snapshots as in `snapshots --json`, keep with
        "reasons"), prune (null or {dry_run, packs_deleted, packs_repacked, packs_written,
        entries_removed, bytes_before, bytes_after}).
        """
        policy = RetentionPolicy(last=keep_last, hourly=keep_hourly, daily=keep_daily, weekly=keep_weekly,
                                 monthly=keep_monthly, yearly=keep_yearly)
        result = forget(open_view(archive).archive, policy, dry_run=dry_run, prune=prune, account=account,
                        progress=TqdmProgress())
        reasons = result.decision.reasons
        if json:
            emit_json(forget_json(result))
            return
        verb = "would forget" if dry_run else "forgot"
        for s in result.kept:
            why = ", ".join(reasons[s.id])
            typer.echo(f"keep    {s.short_id}  {s.time.isoformat()}  {s.account}  ({why})")
        for s in result.forgotten:
            typer.echo(f"{'forget':7} {s.short_id}  {s.time.isoformat()}  {s.account}")
        typer.echo(f"{verb} {len(result.forgotten)} snapshots, kept {len(result.kept)}")
        if result.prune:
            p = result.prune
            typer.echo(f"prune: {p.packs_deleted} packs deleted, {p.packs_repacked} repacked; "
                       f"{p.bytes_before} -> {p.bytes_after} bytes" + (" (dry run)" if p.dry_run else ""))
