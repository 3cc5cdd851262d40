"""`gmail-archiver forget`: remove snapshots by a keep policy (restic semantics), or the snapshots named."""

from __future__ import annotations

from typing import Annotated

import typer

from archiver import ForgetResult, RetentionPolicy, UsageError, forget, forget_snapshots
from archiver.cli._common import EXIT_CODES_HELP, ArchiveArg, emit_json, handle_errors, open_view, warn
from archiver.cli.render import TqdmProgress, forget_json


def register(app: typer.Typer) -> None:
    @app.command("forget", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def forget_cmd(
        archive: ArchiveArg,
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
        stderr (unless they are all their account has).  Data stays until prune.
        --json keys: dry_run, keep, forget (lists of snapshots as in `snapshots --json`, keep with
        "reasons"), damaged (list of {snapshot, detail}: damaged snapshots forgotten), unreadable
        (list of {snapshot, detail}: unreadable records forgotten), left_unreadable (same, left alone),
        prune (null or {dry_run, packs_deleted, packs_repacked, packs_written, entries_removed,
        bytes_before, bytes_after}).
        """
        policy = RetentionPolicy(last=keep_last, hourly=keep_hourly, daily=keep_daily, weekly=keep_weekly,
                                 monthly=keep_monthly, yearly=keep_yearly)
        store = open_view(archive).archive
        if snapshot:
            if not policy.empty or account:
                raise UsageError("give either SNAPSHOT ids or --keep-* rules (and --account), not both")
            result = forget_snapshots(store, snapshot, dry_run=dry_run, prune=prune, progress=TqdmProgress())
        else:
            result = forget(store, policy, dry_run=dry_run, prune=prune, account=account,
                            progress=TqdmProgress())
        if json:
            emit_json(forget_json(result))
        else:
            _show(result, dry_run, by_id=bool(snapshot))


def _show(result: ForgetResult, dry_run: bool, by_id: bool) -> None:
    reasons = result.decision.reasons
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
    warn([*(f"snapshot {sid[:12]} is damaged ({why}){why_gone}: {gone}"
            for sid, why in sorted(result.damaged.items())),
          *(f"snapshot record {sid[:12]} is unreadable ({why}){why_gone}: {gone}"
            for sid, why in sorted(result.unreadable.items())),
          *(f"snapshot record {sid[:12]} is unreadable ({why}); left alone (forget it by id)"
            for sid, why in sorted(result.left_unreadable.items()))])
    n = len(result.forgotten) + len(result.unreadable)
    kept = "" if by_id else f", kept {len(result.kept)}"
    typer.echo(f"{verb} {n} snapshot{'' if n == 1 else 's'}{kept}")
    if result.prune:
        p = result.prune
        typer.echo(f"prune: {p.packs_deleted} packs deleted, {p.packs_repacked} repacked; "
                   f"{p.bytes_before} -> {p.bytes_after} bytes" + (" (dry run)" if p.dry_run else ""))
