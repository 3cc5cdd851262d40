"""``gmail-archiver backup ARCHIVE SOURCE_URL``: one new snapshot of a Gmail account or IMAP server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archiver import (
    BackupResult,
    PartialFailure,
    UsageError,
    account_credentials,
    backup,
    load_config,
    merge_s3_defaults,
)
from archiver.cli._common import (
    EXIT_CODES_HELP,
    CaCert,
    Insecure,
    JsonFlag,
    OAuth2TokenCommand,
    OAuthAccount,
    PasswordCommand,
    ShowProgress,
    emit_json,
    err,
    handle_errors,
    local_path,
    server_credentials,
    warn,
)
from archiver.cli.render import TqdmProgress, backup_json

JSON_KEYS = (
    "JSON keys (--json): snapshot (id), account, mode (gmail|imap), messages, new, changed, deleted, "
    "bytes_downloaded, bytes_stored, duration_s, complete (false: partial snapshot, exit 3), checkpoints, "
    "healed (bodies stored again: their stored copies were missing or damaged), "
    "problems (list of {folder, uids, reason}; any problem: exit 3), warnings (damage routed around, e.g. "
    "a damaged previous snapshot)."
)


def summary(r: BackupResult) -> str:
    state = "snapshot" if r.complete else "PARTIAL snapshot"
    return (f"{state} {r.snapshot[:8]} of {r.account} ({r.mode}): {r.messages} messages, {r.new} new, "
            f"{r.changed} changed, {r.deleted} deleted; downloaded {r.bytes_downloaded:,} bytes, "
            f"stored {r.bytes_stored:,} new bytes in {r.duration:.1f}s"
            + (f"; {r.healed} missing or damaged bodies stored again" if r.healed else ""))


def register(app: typer.Typer) -> None:
    @app.command("backup", epilog=JSON_KEYS + "\n\n" + EXIT_CODES_HELP)
    @handle_errors()
    def backup_cmd(
        archive: Annotated[Path | None, typer.Argument(
            help="The archive folder (omit with --account).")] = None,
        source_url: Annotated[str | None, typer.Argument(
            help="imaps://user@imap.gmail.com, imap+starttls://user@host or imap://user@host:port.")] = None,
        account: Annotated[str | None, typer.Option(
            "--account", help="An account of the config file: its archive, source, sign-in and options.")]
        = None,
        config: Annotated[Path | None, typer.Option(
            "--config", help="The config file for --account (default as for `run`).")] = None,
        include_spam: Annotated[bool, typer.Option(
            "--include-spam", help="Also back up Gmail's Spam.")] = False,
        connections: Annotated[int | None, typer.Option(
            min=1, max=15, help="Parallel IMAP connections (default 4, or the config's).")] = None,
        json: JsonFlag = False,
        password_command: PasswordCommand = None,
        oauth2_token_command: OAuth2TokenCommand = None,
        oauth: OAuthAccount = None,
        cacert: CaCert = None,
        insecure: Insecure = False,
        progress: ShowProgress = None,
        init: Annotated[bool, typer.Option(
            "--init", help="Create the archive if it does not exist.")] = False,
        retries: Annotated[int, typer.Option(
            min=1, help="Attempts per batch after throttling or a dropped connection (1: no retry).")] = 6,
    ) -> None:
        """Back up a Gmail account (labels, threads) or any IMAP server (folders become labels).

        Downloads only what the archive lacks, over several connections, and records one new snapshot.
        A long first backup is checkpointed: after an interruption, run it again to continue.
        """
        where: Path | str | None = archive
        if account is not None:
            if archive is not None or source_url is not None:
                raise UsageError("give either --account NAME or ARCHIVE SOURCE_URL, not both")
            try:
                loaded = load_config(config)
                acct = loaded.account(account)
            except KeyError:
                raise UsageError(f"no account {account!r} in the config file",
                                 hint="gmail-archiver config show lists them") from None
            where, source_url = acct.archive, acct.source
            merge_s3_defaults(loaded.s3.endpoint, loaded.s3.region, loaded.s3.path_style)
            include_spam = include_spam or acct.include_spam
            connections = connections or acct.connections
            cacert = cacert or (str(acct.cacert) if acct.cacert else None)
            given = password_command or oauth2_token_command
            creds = (server_credentials(password_command, oauth2_token_command, oauth, source_url)
                     if given or oauth else account_credentials(acct))
        elif where is None or source_url is None:
            raise UsageError("missing ARCHIVE and SOURCE_URL (or --account NAME from the config file)",
                             hint="see `gmail-archiver backup --help`")
        else:
            creds = server_credentials(password_command, oauth2_token_command, oauth, source_url)
        bar = TqdmProgress(enabled=progress)
        result = backup(local_path(where), source_url, credentials=creds, include_spam=include_spam,
                        connections=connections or 4, progress=bar, init=init, cacert=cacert,
                        insecure=insecure, retries=retries)
        bar.finish()
        if json:
            emit_json(backup_json(result))
        else:
            typer.echo(summary(result))
            for p in result.problems:
                err(f"missing: {p}")
            warn(result.warnings)
        if not result.complete:
            raise PartialFailure(f"{len(result.problems)} problem(s): the snapshot is partial",
                                 hint="run the backup again to fetch what is missing")
        if result.problems:  # a complete snapshot, but mail the archive held is lost for good
            raise PartialFailure(f"{len(result.problems)} problem(s): stored messages are lost",
                                 hint="run `gmail-archiver verify` to list the snapshots they affect")
