"""``gmail-archiver restore ARCHIVE [SNAPSHOT] TARGET_URL``: a snapshot back onto Gmail or any IMAP server."""

from __future__ import annotations

from typing import Annotated

import typer

from archiver import PartialFailure, RestoreResult, UsageError, restore
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

JSON_KEYS = (
    "JSON keys (--json): snapshot (id), account (its source account), target, dry_run, selected, uploaded, "
    "relabelled, untrashed, "
    "already_present, uploaded_bytes, conflicts, failed, altered (each a list of {key, message_id, reason}), "
    "left (not attempted: daily budget or the server's quota), stopped (why the run stopped early, or null), "
    "renamed_labels ({label: name used}: labels with an empty level such as '/x'), "
    "duplicates (second copies an interrupted run left: removed, or why not), duplicates_removed, "
    "reconnects, warnings (e.g. a --label the snapshot does not have); with --dry-run also planned (list of "
    "{action, key, message_id, detail}; action: upload, relabel, untrash, present, conflict, cannot)."
)
POLICY_HELP = (
    "Message-ID policy: Gmail silently drops an upload whose Message-ID it already holds, so a DIFFERENT "
    "message with a Message-ID the target has is, by default (rewrite-message-id), uploaded with the "
    "deterministic Message-ID <restored.BLOB16.ORIGINAL> and its original kept in an "
    "X-Archiver-Original-Message-ID header; 'skip' only reports it (exit 3); 'force' uploads it as is and "
    "reports it as failed if the server drops it.  The same message already on the target is relabelled "
    "(and brought back from Trash), never uploaded twice."
)
LABELS_HELP = (
    "Labels: Gmail system labels \\Inbox \\Starred \\Important \\Sent \\Draft are restored; \\Trash/\\Spam "
    "messages go back to Trash/Spam; a user label Gmail reserves (Inbox, Sent, Drafts, Spam, Trash, "
    "Starred, Important, Chats, All Mail, ...) becomes Restored/NAME.  On other servers labels become "
    "folders (special ones by SPECIAL-USE role); a message without one goes to --default-folder.  Restore "
    "never removes a label, a flag or a message; \\Deleted is never restored."
)
def _report(r: RestoreResult) -> None:
    if r.dry_run:
        for a in r.planned:
            typer.echo(f"{a.kind:<8} {a.key}  {a.message_id or '(no Message-ID)'}  {a.detail}".rstrip())
        counts: dict[str, int] = {}
        for a in r.planned:
            counts[a.kind] = counts.get(a.kind, 0) + 1
        plan = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to do"
        typer.echo(f"dry run: snapshot {r.snapshot[:8]} of {r.account} -> {r.target}: {r.selected} messages: "
                   f"{plan}")
        return
    for label, items in (("conflict", r.conflicts), ("failed", r.failed), ("altered", r.altered),
                         ("dup", r.duplicates)):
        for p in items:
            typer.echo(f"{label:<8} {p.key}  {p.message_id or '(no Message-ID)'}: {p.reason}")
    for label, name in sorted(r.renamed.items()):
        typer.echo(f"renamed  label {label!r} restored as {name!r} (a name cannot have an empty level)")
    if r.stopped:
        typer.echo(f"stopped: {r.stopped}")
    typer.echo(f"restored snapshot {r.snapshot[:8]} of {r.account} -> {r.target}: {r.selected} messages: "
               f"{r.uploaded} uploaded ({r.uploaded_bytes:,} bytes), {r.relabelled} relabelled, "
               f"{r.untrashed} untrashed, "
               f"{r.already_present} already present, {len(r.conflicts)} conflicts, {len(r.failed)} failed, "
               f"{r.left} left for later"
               + (f", {r.duplicates_removed} duplicate(s) an interrupted run left removed"
                  if r.duplicates_removed else ""))


def register(app: typer.Typer) -> None:
    @app.command("restore", epilog=f"{POLICY_HELP}\n\n{LABELS_HELP}\n\n{JSON_KEYS}\n\n{EXIT_CODES_HELP}")
    @handle_errors()
    def restore_cmd(
        archive: ArchiveArg,
        where: Annotated[list[str], typer.Argument(
            metavar="[SNAPSHOT] TARGET_URL",
            help="Snapshot (latest, an id prefix, or a time; default latest), then the target: "
                 "imaps://user@imap.gmail.com, imap+starttls://user@host or imap://user@host:port.")],
        label: LabelOption = None,
        since: SinceOption = None,
        until: UntilOption = None,
        query: QueryOption = None,
        account: Annotated[str | None, typer.Option(
            help="Restore this account's snapshot (user@host, as `snapshots` lists it); needed when the "
                 "archive holds several accounts, unless exactly one has the target's user.")] = None,
        dry_run: Annotated[bool, typer.Option(
            "--dry-run", help="Survey the target and print the plan; change nothing.")] = False,
        policy: Annotated[str, typer.Option(
            help="rewrite-message-id | skip | force (see below).")] = "rewrite-message-id",
        max_upload_per_day: Annotated[str | None, typer.Option(
            help="Stop cleanly once this much was uploaded to the target in 24 h (e.g. 500M; Gmail allows "
                 "about 500 MB a day); exit 3 and report what is left.")] = None,
        default_folder: Annotated[str, typer.Option(
            help="Non-Gmail targets: the folder for messages without any label.")] = "INBOX",
        connections: Annotated[int, typer.Option(
            min=1, help="Non-Gmail targets: upload over this many connections side by side (fewer if the "
                        "server refuses more; Gmail uploads over one).")] = 4,
        json: JsonFlag = False,
        password_command: PasswordCommand = None,
        oauth2_token_command: OAuth2TokenCommand = None,
        oauth: OAuthAccount = None,
        cacert: CaCert = None,
        insecure: Insecure = False,
        progress: ShowProgress = None,
    ) -> None:
        """Restore a snapshot (whole, or by --label / --since / --until) to Gmail or any IMAP server.

        The target is surveyed first: a message already there is relabelled (and brought back from Trash),
        not uploaded again; only missing messages are uploaded, oldest first, with their INTERNALDATE and
        flags, and each upload is checked against what the server then holds.  Running it again, or after
        an interruption, adds nothing twice (a journal in the archive remembers what was confirmed).
        Messages that cannot go back (over the server's APPENDLIMIT, NUL bytes for Gmail, refused) are
        listed with the reason and the exit code is 3.
        """
        if len(where) == 1:
            snapshot, target = "latest", where[0]
        elif len(where) == 2:
            snapshot, target = where
        else:
            raise UsageError("expected [SNAPSHOT] TARGET_URL")
        budget = parse_size(max_upload_per_day) if max_upload_per_day is not None else None
        chosen = message_filter(label, since, until)
        creds = server_credentials(password_command, oauth2_token_command, oauth, target)
        bar = TqdmProgress(enabled=progress)
        result = restore(local_path(archive), target, snapshot=snapshot, labels=chosen.labels,
                         since=chosen.since, until=chosen.until, dry_run=dry_run, credentials=creds,
                         policy=policy, max_upload_bytes_per_day=budget, default_folder=default_folder,
                         cacert=cacert, insecure=insecure, progress=bar, connections=connections,
                         account=account, keys=query_keys(archive, query, snapshot, account))
        bar.finish()
        if json:
            emit_json(result.to_json())
        else:
            warn(result.warnings)
            _report(result)
        if not dry_run and not result.ok:
            listed = bool(result.failed or result.conflicts or result.duplicates)
            raise PartialFailure(f"{len(result.failed)} failed, {result.left} left, "
                                 f"{len(result.conflicts)} conflict(s): not everything is on the target",
                                 hint=("see the messages listed above; " if listed else "")
                                 + "run the same command again later for what was left")
