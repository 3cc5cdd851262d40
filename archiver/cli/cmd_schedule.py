"""`gmail-archiver schedule install|status|remove`: run `gmail-archiver run` on a timer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archiver import default_config_path, load_config, schedule_install, schedule_plan, schedule_remove
from archiver import schedule_status as _status
from archiver.cli._common import EXIT_CODES_HELP, handle_errors


def register(app: typer.Typer) -> None:
    schedule_app = typer.Typer(name="schedule", no_args_is_help=True,
                               help="Run `gmail-archiver run` on a timer (systemd user timer, else cron).")
    app.add_typer(schedule_app)

    @schedule_app.command("install", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def install(
        every: Annotated[str, typer.Option(
            help="hourly, daily, or a systemd calendar expression (cron: five cron fields).")] = "daily",
        config: Annotated[Path | None, typer.Option(
            "--config", help="The config file the runs use (default as for `run`).")] = None,
        backend: Annotated[str | None, typer.Option(
            help="systemd or cron (default: systemd when it runs for you, else cron).")] = None,
        print_only: Annotated[bool, typer.Option(
            "--print", help="Only print the units (or crontab line); change nothing.")] = False,
    ) -> None:
        """Install a systemd user service + timer (catch-up after sleep: Persistent=true; randomized delay;
        idle CPU and I/O; a 6 h timeout), or where systemd does not run for you, one crontab line behind
        flock.  The config is checked first; its absolute path goes into the command.
        """
        cfg = load_config(config or default_config_path())
        plan = schedule_plan(cfg.path, every=every, backend=backend)
        if print_only:
            for name, text in plan.units.items():
                typer.echo(f"# {plan.unit_dir / name if plan.unit_dir else name}")
                typer.echo(text)
            if plan.cron_line:
                typer.echo(plan.cron_line)
            return
        for line in schedule_install(plan):
            typer.echo(line)

    @schedule_app.command("status", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def status() -> None:
        """Show the installed units or crontab line, the timer's next and last run."""
        lines = _status()
        for line in lines:
            typer.echo(line)
        if not lines:
            typer.echo("no schedule installed (gmail-archiver schedule install)")

    @schedule_app.command("remove", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def remove() -> None:
        """Disable and delete the units (or the crontab line) `schedule install` wrote; nothing else."""
        lines = schedule_remove()
        for line in lines:
            typer.echo(line)
        if not lines:
            typer.echo("no schedule installed: nothing removed")
