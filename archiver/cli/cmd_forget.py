"""`gmail-archiver forget`: remove snapshots by a keep policy (restic semantics), or the snapshots named."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from archiver import (
    ForgetResult,
    PruneResult,
    RetentionPolicy,
    UsageError,
    forget,
    forget_snapshots,
    open_archive,
)
from archiver.cli._common import EXIT_CODES_HELP, emit_json, err, handle_errors
from archiver.cli.cmd_snapshots import snapshot_json
from archiver.cli.render import TqdmProgress


def prune_json(p: PruneResult | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {"dry_run": p.dry_run, "packs_deleted": p.packs_deleted, "packs_repacked": p.packs_repacked,
            "packs_written": p.packs_written, "entries_removed": p.entries_removed,
            "bytes_before": p.bytes_before, "bytes_after": p.bytes_after}


def register(app: typer.Typer) -> None:
    @app.command("forget", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def forget_cmd(
        archive: Annotated[Path, typer.Argument(help="The archive directory.")],
        snapshot: Annotated[list[str] | None, typer.Argument(
            help="Snapshots to forget (id prefixes, damaged ones too) instead of --keep-* rules.")] = None,
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
        """Forget snapshots not kept by the --keep-* rules (per account; -1 = unlimited; UTC buckets), or the
        SNAPSHOTs named (id prefixes; unreadable and damaged ones too).

        Each rule keeps the newest snapshot of each of its N most recent buckets (restic semantics);
        checkpoints of unfinished runs go once a newer complete snapshot exists.  Damaged snapshots (a
        manifest page or the record unreadable) are not kept by any rule and are forgotten, said so on
        stderr.  Data stays until prune.
        --json keys: dry_run, keep, forget (lists of snapshots as in `snapshots --json`, keep with
        "reasons"), damaged (list of {snapshot, detail}: damaged snapshots forgotten), unreadable
        (list of {snapshot, detail}: unreadable records forgotten), left_unreadable (same, left alone),
        prune (null or {dry_run, packs_deleted, packs_repacked, packs_written, entries_removed,
        bytes_before, bytes_after}).
        """
        policy = RetentionPolicy(last=keep_last, hourly=keep_hourly, daily=keep_daily, weekly=keep_weekly,
                                 monthly=keep_monthly, yearly=keep_yearly)
        store = open_archive(archive).archive
        if snapshot:
            if not policy.empty or account:
                raise UsageError("give either SNAPSHOT ids or --keep-* rules (and --account), not both")
            result = forget_snapshots(store, snapshot, dry_run=dry_run, prune=prune, progress=TqdmProgress())
        else:
            result = forget(store, policy, dry_run=dry_run, prune=prune, account=account,
                            progress=TqdmProgress())
        _show(result, dry_run, json, by_id=bool(snapshot))


def _problems(found: dict[str, str]) -> list[dict[str, str]]:
    return [{"snapshot": sid, "detail": why} for sid, why in sorted(found.items())]


def _show(result: ForgetResult, dry_run: bool, json: bool, by_id: bool) -> None:
    reasons = result.decision.reasons
    if json:
        emit_json({"dry_run": result.dry_run,
                   "keep": [{**snapshot_json(s), "reasons": list(reasons[s.id])} for s in result.kept],
                   "forget": [snapshot_json(s) for s in result.forgotten],
                   "damaged": _problems(result.damaged), "unreadable": _problems(result.unreadable),
                   "left_unreadable": _problems(result.left_unreadable),
                   "prune": prune_json(result.prune)})
        return
    verb = "would forget" if dry_run else "forgot"
    for s in result.kept:
        why = ", ".join(reasons[s.id])
        typer.echo(f"keep    {s.short_id}  {s.time.isoformat()}  {s.account}  ({why})")
    for s in result.forgotten:
        mark = "  (damaged)" if s.id in result.damaged else ""
        typer.echo(f"{'forget':7} {s.short_id}  {s.time.isoformat()}  {s.account}{mark}")
    for sid in sorted(result.unreadable):
        typer.echo(f"{'forget':7} {sid[:8]}  (unreadable record)")
    gone = "would be forgotten" if dry_run else "forgotten"
    why_gone = "" if by_id else ", so no rule keeps it"
    for sid, why in sorted(result.damaged.items()):
        err(f"warning: snapshot {sid[:12]} is damaged ({why}){why_gone}: {gone}")
    for sid, why in sorted(result.unreadable.items()):
        err(f"warning: snapshot record {sid[:12]} is unreadable ({why}){why_gone}: {gone}")
    for sid, why in sorted(result.left_unreadable.items()):
        err(f"warning: snapshot record {sid[:12]} is unreadable ({why}); left alone (forget it by id)")
    n = len(result.forgotten) + len(result.unreadable)
    typer.echo(f"{verb} {n} snapshots" + ("" if by_id else f", kept {len(result.kept)}"))
    if result.prune:
        p = result.prune
        typer.echo(f"prune: {p.packs_deleted} packs deleted, {p.packs_repacked} repacked; "
                   f"{p.bytes_before} -> {p.bytes_after} bytes" + (" (dry run)" if p.dry_run else ""))
