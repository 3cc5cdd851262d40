"""``gmail-archiver demo``: see a backup work in seconds, against the built-in Gmail emulator."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from archiver.cli._common import EXIT_CODES_HELP, handle_errors
from archiver.cli.render import TqdmProgress

if TYPE_CHECKING:
    from archiver import DemoResult


def report(r: DemoResult) -> list[str]:
    """The human-readable story of the demo."""
    first, second = r.runs
    lines = [
        f"Started a Gmail emulator on {r.server} holding {r.messages} synthetic messages "
        "(labels, threads, flags).",
        f"Backup 1 (full):        snapshot {first.snapshot[:8]}, {first.messages} messages, "
        f"downloaded {first.bytes_downloaded:,} bytes, stored {first.bytes_stored:,} bytes "
        f"(compressed), {first.duration:.2f} s",
        "Changes on the server:  " + ", ".join(f"{n} {what}" for what, n in r.changes.items()),
        f"Backup 2 (incremental): snapshot {second.snapshot[:8]}, {second.new} new, "
        f"{second.changed} changed, {second.deleted} deleted; downloaded {second.bytes_downloaded:,} bytes "
        f"(only the new mail), {second.duration:.2f} s",
        f"Latest snapshot: {second.messages} messages in {r.threads} threads; labels:",
    ]
    lines += [f"  {label:<20} {count:>5}" for label, count in r.labels.items()]
    lines += [
        f"Archive: {r.archive} ({r.archive_bytes:,} bytes on disk, both snapshots).  Try:",
        f"  gmail-archiver snapshots {r.archive}",
        f"  gmail-archiver ls {r.archive} --label Work",
        f"  gmail-archiver diff {r.archive} {first.snapshot[:8]} {second.snapshot[:8]}",
        f"  gmail-archiver export {r.archive} --format mbox --output demo.mbox",
    ]
    return lines


def register(app: typer.Typer) -> None:
    @app.command("demo", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def demo_cmd(
        archive: Annotated[Path | None, typer.Option(
            help="Archive to create (default: a new folder under the temporary directory).")] = None,
        messages: Annotated[int, typer.Option(min=10, max=100_000, help="Synthetic messages to seed.")] = 200,
        progress: Annotated[bool | None, typer.Option(
            "--progress/--no-progress", help="Progress bars on stderr (default: on a terminal).")] = None,
    ) -> None:
        """Try gmail-archiver without an account: back up a built-in Gmail emulator twice.

        Starts a Gmail-compatible IMAP server on 127.0.0.1 filled with synthetic mail, runs a full backup,
        changes a few things on the server (new mail, labels, flags, Trash, a deletion), runs an
        incremental backup and shows what each run did.  Nothing leaves this machine.
        """
        from archiver import demo  # the emulator is imported only when needed (CLI start-up time)

        path = archive if archive is not None else Path(tempfile.mkdtemp(prefix="gmail-archiver-demo-"))
        result = demo(path, messages=messages, progress=TqdmProgress(enabled=progress))
        for line in report(result):
            typer.echo(line)
