"""`gmail-archiver search`, `show` and `extract`: find mail in an archive and read it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

import archiver
from archiver.cli.render import extract_json, search_json

if TYPE_CHECKING:
    from archiver import SearchHit, SearchResult
from archiver.cli._common import EXIT_CODES_HELP, ArchiveArg, emit_json, err, handle_errors, local_path

QUERY_HELP = (
    "Gmail's syntax: words, \"phrases\", OR, -word, ( ), { }, from: to: cc: bcc: subject: label: "
    "in:inbox|trash|spam|sent|drafts|anywhere is:starred|unread|read|important has:attachment filename: "
    "after: before: (YYYY/MM/DD, UTC) older_than: newer_than: (7d, 2m, 1y) larger: smaller: (5M, 100K) "
    "rfc822msgid: thread:(QUERY). Trash and Spam only when the query names them."
)


RefArg = Annotated[str, typer.Argument(metavar="KEY|MESSAGE-ID|BLOB-ID",
                                       help="A key from ls/search, a Message-ID, or a blob id "
                                            "(found in any snapshot).")]


def _history_line(h: SearchHit) -> str:
    steps = []
    for s in h.history:
        what = "deleted" if s.labels is None else (",".join(s.labels) or "no labels")
        steps.append(f"{s.time:%Y-%m-%d %H:%M} {s.snapshot[:8]}: {what}")
    return "    " + "; ".join(steps)


def _print(result: SearchResult) -> None:
    for h in result.messages:
        typer.echo("\t".join([h.key, h.date.strftime("%Y-%m-%d %H:%M"), h.sender or "-", h.subject or "-",
                              ",".join(h.labels) or "-", h.snippet or "-"]))
        if h.history:
            typer.echo(_history_line(h))
    shown = len(result.messages)
    more = f" (showing {shown}; --limit to see more)" if shown < result.total else ""
    where = ", ".join(f"{s.account} {s.short_id}" for s in result.searched[:4])
    extra = f" and {len(result.searched) - 4} more" if len(result.searched) > 4 else ""
    err(f"{result.total} messages match{more} in {where}{extra}")


def register(app: typer.Typer) -> None:
    @app.command("search", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def search_cmd(
        archive: ArchiveArg,
        query: Annotated[str, typer.Argument(help=QUERY_HELP)],
        snapshot: Annotated[str, typer.Option(
            help="latest (of each account), an id prefix, or an ISO time (the newest at or before it).")
        ] = "latest",
        all_snapshots: Annotated[bool, typer.Option(
            "--all-snapshots", help="Search every complete snapshot: each hit says where it matched and "
                                    "how its labels changed (trashed, relabelled, deleted).")] = False,
        account: Annotated[str | None, typer.Option(help="Only this account (user@host).")] = None,
        limit: Annotated[int | None, typer.Option(
            min=1, help="Show at most this many (newest first).")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """Find messages with Gmail's search operators, at any point in time; newest first.

        The first search of an archive builds its index (cache/search.sqlite, ~a few thousand messages a
        second); later ones parse only messages new since.  Columns: key, date, from, subject, labels,
        snippet.  --json keys: query, snapshots, total, parsed, index_rebuilt, problems, messages (list of
        {key, account, message_id, date, from, subject, labels, flags, thread, size, blob_id, snippet; with
        --all-snapshots also snapshots and history}).
        """
        if snapshot != "latest" and all_snapshots:
            raise archiver.UsageError("--snapshot and --all-snapshots exclude each other")
        result = archiver.search(local_path(archive), query, snapshot=snapshot, account=account,
                        all_snapshots=all_snapshots, limit=limit)
        for p in result.problems:
            err(f"warning: {p}")
        if json:
            emit_json(search_json(result))
            return
        _print(result)

    @app.command("show", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def show(
        archive: ArchiveArg,
        ref: RefArg,
        headers: Annotated[bool, typer.Option("--headers", help="Only the headers, decoded.")] = False,
        text: Annotated[bool, typer.Option("--text", help="Only the readable text.")] = False,
        raw: Annotated[bool, typer.Option("--raw", help="The exact stored bytes, to stdout.")] = False,
        snapshot: Annotated[str, typer.Option(help="latest, an id prefix, or an ISO time.")] = "latest",
        account: Annotated[str | None, typer.Option(help="Only this account (user@host).")] = None,
    ) -> None:
        """Show one message: its decoded headers and text (default), or exactly the stored bytes (--raw)."""
        if sum((headers, text, raw)) > 1:
            raise archiver.UsageError("choose one of --headers, --text, --raw")
        found = archiver.find_message(local_path(archive), ref, snapshot=snapshot, account=account)
        if raw:
            sys.stdout.buffer.write(found.raw)
            sys.stdout.buffer.flush()
            return
        rec = found.record
        if not text:
            typer.echo(f"Key: {rec.key}\nAccount: {found.account}\nLabels: {', '.join(rec.labels) or '-'}\n"
                       f"Flags: {' '.join(rec.flags) or '-'}\nThread: {rec.thread_id}\n"
                       f"Date (internal): {rec.date.isoformat()}")
            for name, value in archiver.message_headers(found.raw):
                typer.echo(f"{name}: {value}")
        if not headers:
            if not text:
                typer.echo("")
            typer.echo(archiver.message_text(found.raw))

    @app.command("extract", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def extract(
        archive: ArchiveArg,
        ref: RefArg,
        attachments: Annotated[Path, typer.Option(
            "--attachments", help="Write every attachment into this folder (created if missing; nothing in "
                                  "it is replaced).")],
        snapshot: Annotated[str, typer.Option(help="latest, an id prefix, or an ISO time.")] = "latest",
        account: Annotated[str | None, typer.Option(help="Only this account (user@host).")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """Write the attachments of one message, byte for byte, into a folder.

        --json keys: key, folder, files (list of {name, bytes}).
        """
        result = archiver.extract_attachments(local_path(archive), ref, attachments, snapshot=snapshot,
                                     account=account)
        if json:
            emit_json(extract_json(result, attachments))
            return
        for name, size in result.written:
            typer.echo(f"{attachments / name}\t{size}")
        err(f"{len(result.written)} attachment(s) of {result.key} written to {attachments}")
