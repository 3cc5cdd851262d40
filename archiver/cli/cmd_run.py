"""`gmail-archiver run [NAME...]`: every configured account: backup, forget, prune, verify, hooks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from archiver import (
    AccountResult,
    ArchiverError,
    RunReport,
    StepResult,
    load_config,
    parse_shard,
    run_accounts,
)
from archiver.cli._common import EXIT_CODES_HELP, emit_json, err, handle_errors

JSON_KEYS = (
    "JSON keys (--json): exit_code, duration_s, log_file, jobs, shard (\"I/N\" or null), configured "
    "(accounts before the shard took its share), accounts (list of {name, archive, status "
    "(ok|partial|failed|locked), exit_code, duration_s, summary, steps (list of {step "
    "(lock|backup|forget|prune|verify|on_failure|on_success), status (ok|partial|failed|skipped), exit_code, "
    "duration_s, message, hint, figures})})."
)


def step_json(s: StepResult) -> dict[str, Any]:
    return {"step": s.step, "status": s.status, "exit_code": s.exit_code, "duration_s": round(s.duration, 3),
            "message": s.message, "hint": s.hint, "figures": s.figures}


def account_json(a: AccountResult) -> dict[str, Any]:
    return {"name": a.name, "archive": str(a.archive), "status": a.status, "exit_code": a.exit_code,
            "duration_s": round(a.duration, 3), "summary": a.summary(),
            "steps": [step_json(s) for s in a.steps]}


def report_json(r: RunReport) -> dict[str, Any]:
    return {"exit_code": r.exit_code, "duration_s": round(r.duration, 3),
            "log_file": str(r.log_file) if r.log_file else None, "jobs": r.jobs,
            "shard": str(r.shard) if r.shard else None, "configured": r.configured,
            "accounts": [account_json(a) for a in r.accounts]}


def _line(a: AccountResult) -> None:
    """One line per account: stdout when it went well, stderr (with the hint) when not."""
    text = f"{a.name}: {a.summary()} ({a.duration:.1f}s)"
    if a.exit_code == 0:
        typer.echo(text)
        return
    failed = a.failed_step
    err(text + (f" [hint: {failed.hint}]" if failed and failed.hint else ""))


def _which(r: RunReport) -> str:
    """``3 accounts`` plus how they ran: ``2 at a time``, ``shard 1/3: 3 of 8 configured``."""
    how = [f"{r.jobs} at a time"] if r.jobs > 1 else []
    if r.shard is not None:
        how.append(f"shard {r.shard}: {len(r.accounts)} of {r.configured} configured")
    return f"{len(r.accounts)} account{'s' if len(r.accounts) != 1 else ''}" + (f" ({', '.join(how)})"
                                                                               if how else "")


def register(app: typer.Typer) -> None:
    @app.command("run", epilog=JSON_KEYS + "\n\n" + EXIT_CODES_HELP)
    @handle_errors()
    def run_cmd(
        names: Annotated[list[str] | None, typer.Argument(
            help="Accounts to run (default: every account of the config), in this order.")] = None,
        config: Annotated[Path | None, typer.Option(
            "--config", help="The config file (default: $GMAIL_ARCHIVER_CONFIG, else "
                             "$XDG_CONFIG_HOME/gmail-archiver/config.toml).")] = None,
        init: Annotated[bool, typer.Option(
            "--init", help="Create an account's archive when its path holds none (first run).")] = False,
        wait: Annotated[bool, typer.Option(
            "--wait", help="Wait for a locked account instead of skipping it.")] = False,
        jobs: Annotated[int, typer.Option(
            "--jobs", "-j", min=1, help="Back up this many accounts at a time (accounts signing in as the "
                                        "same user take turns; forget and prune wait for the archive).")] = 1,
        shard: Annotated[str | None, typer.Option(
            "--shard", metavar="I/N", help="Run only worker I's share of N (0 <= I < N; each account goes to "
                                           "one worker, chosen from its name: see README).")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document (keys below).")] = False,
    ) -> None:
        """Back up every account of the config file, then forget snapshots by its keep_* rules, prune when
        its prune policy says, and verify the next 1/verify_subset slice of the stored data (a full cycle
        reads every byte); then its on_success / on_failure hook.

        One account's failure never stops the others.  One line per account as it finishes (failures on
        stderr), then a summary; the exit code is the worst account's (order: ok, partial, locked, error,
        usage, no archive, auth, damage).  An account another run or backup is busy with is skipped (exit
        11) unless --wait.  A log of each run goes to $XDG_STATE_HOME/gmail-archiver/run.log (rotated), each
        line naming its account.
        """
        share = parse_shard(shard) if shard is not None else None
        cfg = load_config(config)
        report = run_accounts(cfg, names or (), init=init, wait=wait, on_account=None if json else _line,
                              jobs=jobs, shard=share)
        if json:
            emit_json(report_json(report))
        elif report.exit_code == 0:
            typer.echo(f"{_which(report)} ok in {report.duration:.1f}s" if report.accounts
                       else f"no account to run: {_which(report)}")
        if report.exit_code:
            failed = [a for a in report.accounts if a.exit_code]
            which = ", ".join(f"{a.name} ({a.status})" for a in failed)
            error = ArchiverError(f"{len(failed)} of {_which(report)} did not complete: {which}",
                                  hint="each account's line (and the run log) says what failed")
            error.exit_code = report.exit_code  # the worst account's code
            raise error
