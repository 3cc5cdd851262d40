"""``gmail-archiver rewrite ARCHIVE SOURCE_URL (--decrypt-pgp | --fix-headers | --slim-attachments SIZE)``:
change messages in place on the server, labels, flags, dates and threads kept; ``--undo RUN`` undoes it."""

from __future__ import annotations

from typing import Annotated

import typer

from archiver import PartialFailure, RewriteResult, UsageError, rewrite, rewrite_transform
from archiver.cli._common import (
    EXIT_CODES_HELP,
    ArchiveArg,
    CaCert,
    Insecure,
    JsonFlag,
    LabelOption,
    OAuth2TokenCommand,
    OAuthAccount,
    PasswordCommand,
    QueryOption,
    ShowProgress,
    SinceOption,
    UntilOption,
    emit_json,
    handle_errors,
    local_path,
    message_filter,
    parse_size,
    query_keys,
    server_credentials,
    warn,
)
from archiver.cli.render import TqdmProgress

HOW = (
    "How: the archive must hold every original first (a backup runs when the server has messages the latest "
    "snapshot lacks).  On Gmail each message is moved to Trash and deleted forever from Trash (by "
    "X-GM-MSGID), then the new version is uploaded with the original INTERNALDATE and flags, its labels are "
    "put back and the upload is checked (X-GM-MSGID, size); the Message-ID is kept, so replies stay "
    "threaded; a reply the transform leaves as it is, to a message it replaced, is uploaded again after it, "
    "so that it stays in its thread.  On other servers the new version is uploaded to each folder first, "
    "then the old copy removed (UID STORE \\Deleted + UID EXPUNGE; a server without UIDPLUS is refused).  "
    "Every step is journalled in the archive: after an interruption run the same command again, it "
    "finishes first.  "
    "`rewrite --undo RUN` puts a run's originals back."
)
JSON_KEYS = (
    "JSON keys (--json): run (the id --undo takes), mode (rewrite, undo), transform, target, account, "
    "snapshot, backed_up (snapshot a backup made first, or null), dry_run, selected, changed (list of "
    "{key, message_id, note, freed, new_gm_msgid, thread, resumed}), unchanged, already (output of an "
    "earlier run), gone (no longer on the server), failed (list of {key, message_id, reason}), freed "
    "(bytes), warnings, ok."
)


def _report(r: RewriteResult) -> None:
    verb = "would change" if r.dry_run else ("put back" if r.mode == "undo" else "rewritten")
    for c in r.changed:
        where = f" -> X-GM-MSGID {c.new_gm_msgid} thread {c.thread}" if c.new_gm_msgid else ""
        kind = "resumed" if c.resumed else "changed"
        typer.echo(f"{kind:<8} {c.key}  {c.message_id or '(no Message-ID)'}: {c.note}{where}")
    for p in r.failed:
        typer.echo(f"failed   {p.key}  {p.message_id or '(no Message-ID)'}: {p.reason}")
    if r.backed_up:
        typer.echo(f"backed up first: snapshot {r.backed_up[:8]}")
    freed = f", {r.freed:,} bytes freed" if r.freed else ""
    typer.echo(f"{r.mode} {r.run} ({r.transform}) on {r.target}: {r.selected} selected, "
               f"{len(r.changed)} {verb}{freed}, {r.unchanged} unchanged, {r.already} already done, "
               f"{r.gone} no longer on the server, {len(r.failed)} failed")


def register(app: typer.Typer) -> None:
    @app.command("rewrite", epilog=f"{HOW}\n\n{JSON_KEYS}\n\n{EXIT_CODES_HELP}")
    @handle_errors()
    def rewrite_cmd(
        archive: ArchiveArg,
        source_url: Annotated[str, typer.Argument(
            help="The account: imaps://user@imap.gmail.com, imap+starttls://user@host or "
                 "imap://user@host:port.")],
        decrypt_pgp: Annotated[bool, typer.Option(
            "--decrypt-pgp",
            help="Decrypt PGP/MIME and inline PGP mail with your keyring (GNUPGHOME).")] = False,
        fix_headers: Annotated[bool, typer.Option(
            "--fix-headers", help="Repair a missing or broken Date, Message-ID or From.")] = False,
        slim_attachments: Annotated[str | None, typer.Option(
            "--slim-attachments", metavar="SIZE",
            help="Replace parts larger than SIZE (e.g. 5M) by a note naming the archived original.")] = None,
        undo: Annotated[str | None, typer.Option(
            "--undo", metavar="RUN", help="Put the originals of rewrite run RUN back.")] = None,
        passphrase_command: Annotated[str | None, typer.Option(
            help="--decrypt-pgp: shell command printing the key's passphrase (else gpg-agent asks).")] = None,
        label: LabelOption = None,
        since: SinceOption = None,
        until: UntilOption = None,
        query: QueryOption = None,
        account: Annotated[str | None, typer.Option(
            help="The account's snapshots to use (user@host, as `snapshots` lists it) when the archive "
                 "holds several.")] = None,
        dry_run: Annotated[bool, typer.Option(
            "--dry-run", help="Say what would change; change nothing.")] = False,
        json: JsonFlag = False,
        password_command: PasswordCommand = None,
        oauth2_token_command: OAuth2TokenCommand = None,
        oauth: OAuthAccount = None,
        cacert: CaCert = None,
        insecure: Insecure = False,
        progress: ShowProgress = None,
    ) -> None:
        """Change messages in place on Gmail or any IMAP server, keeping labels, flags, dates and threads.

        Exactly one of --decrypt-pgp, --fix-headers, --slim-attachments SIZE, --undo RUN.  Messages the
        transform cannot handle are listed with the reason and left as they are (exit 3).
        """
        flags = (("decrypt-pgp", decrypt_pgp), ("fix-headers", fix_headers),
                 ("slim-attachments", slim_attachments is not None), ("undo", undo is not None))
        chosen = [n for n, on in flags if on]
        if len(chosen) != 1:
            raise UsageError("give exactly one of --decrypt-pgp, --fix-headers, --slim-attachments SIZE, "
                             "--undo RUN"
                             + (f" (got {', '.join('--' + c for c in chosen)})" if chosen else ""))
        if undo is not None and (label or since or until or query):
            raise UsageError("--undo RUN takes back exactly that run's messages: no --label/--since/--until/"
                             "--query with it")
        where = message_filter(label, since, until)
        path = local_path(archive)
        transform = None
        if undo is None:
            transform = rewrite_transform(
                chosen[0], passphrase_command=passphrase_command,
                limit=parse_size(slim_attachments) if slim_attachments is not None else None, archive=path)
        creds = server_credentials(password_command, oauth2_token_command, oauth, source_url)
        bar = TqdmProgress(enabled=progress)
        result = rewrite(path, source_url, transform, credentials=creds, undo=undo, labels=where.labels,
                         since=where.since, until=where.until, account=account, dry_run=dry_run,
                         keys=query_keys(archive, query, "latest", account), cacert=cacert, insecure=insecure,
                         progress=bar)
        bar.finish()
        if json:
            emit_json(result.to_json())
        else:
            warn(result.warnings)
            _report(result)
        if not result.ok:
            raise PartialFailure(f"{len(result.failed)} message(s) could not be "
                                 f"{'put back' if undo else 'rewritten'} and were left as they are",
                                 hint="see the messages listed above")
