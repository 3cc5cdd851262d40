"""``gmail-archiver auth login|status|logout``: Google sign-in for Gmail over IMAP (OAuth 2.0, XOAUTH2)."""

from __future__ import annotations

import sys
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

import archiver
from archiver import ArchiverError, AuthError
from archiver.cli._common import EXIT_CODES_HELP, JsonFlag, emit_json, err, handle_errors

Account = Annotated[str, typer.Argument(
    help="A name for the sign-in: the Gmail address, or the account's name in the config.")]


def register(app: typer.Typer) -> None:
    auth = typer.Typer(no_args_is_help=True,
                       help="Sign in with Google once; backups then use OAuth (XOAUTH2), no password.")
    app.add_typer(auth, name="auth")

    @auth.command("login", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def login_cmd(
        account: Account,
        client_secret: Annotated[Path | None, typer.Option(
            "--client-secret", metavar="FILE",
            help="Your OAuth client's JSON (Google Cloud console > Credentials > OAuth client ID > Desktop "
                 "app > Download JSON).  Default: client_secret.json in the config directory.")] = None,
        headless: Annotated[bool, typer.Option(
            "--headless", help="No browser here: open the URL on any machine, then paste the address the "
                               "browser was sent to.")] = False,
        no_browser: Annotated[bool, typer.Option(
            "--no-browser", help="Print the URL but do not open a browser.")] = False,
        timeout: Annotated[float, typer.Option(help="Seconds to wait for the browser.")] = 300.0,
        json: JsonFlag = False,
    ) -> None:
        """Sign in with Google (loopback redirect with PKCE) and keep the refresh token (0600 file).

        Then back up with --oauth ACCOUNT.  Works for personal Gmail and Workspace users; a Workspace
        admin can use a service account instead (see the README).
        """

        def show(url: str) -> None:
            err("Open this address in a browser, sign in and allow access to Gmail:")
            err(f"\n  {url}\n")
            if headless:
                err("Then copy the address the browser was sent to (it starts with http://127.0.0.1; the "
                    "page itself will not load, that is expected) and paste it here:")
            elif not no_browser and sys.stderr.isatty():
                webbrowser.open(url, new=1)
            else:
                err("Waiting for the browser...")

        def paste() -> str:
            line = sys.stdin.readline()
            if not line.strip():
                raise AuthError("no address pasted", hint=f"gmail-archiver auth login {account} --headless")
            return line

        hint = account if "@" in account else None
        result = archiver.auth_login(account, client_secret, show_url=show,
                                     read_redirect=paste if headless else None, timeout=timeout,
                                     login_hint=hint)
        if json:
            emit_json({"account": result.account, "client_id": result.client_id, "path": str(result.path)})
        else:
            typer.echo(f"signed in: {result.account} (refresh token kept in {result.path}); back up with "
                       f"--oauth {result.account}")

    @auth.command("status", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def status_cmd(
        accounts: Annotated[list[str] | None, typer.Argument(help="Accounts (default: all stored).")] = None,
        offline: Annotated[bool, typer.Option(
            "--offline", help="Do not ask Google whether the sign-ins still work.")] = False,
        json: JsonFlag = False,
    ) -> None:
        """List the stored sign-ins and check each with Google (exit 12 if one was refused, 1 if a check
        could not be made).

        --json keys: signins (list of {account, client_id, token_uri, created, path, valid, problem}).
        """
        found = archiver.auth_status(accounts or None, check=not offline)
        if json:
            emit_json({"signins": [{"account": s.account, "client_id": s.client_id, "token_uri": s.token_uri,
                                    "created": s.created, "path": str(s.path), "valid": s.valid,
                                    "problem": s.problem} for s in found]})
        else:
            if not found:
                typer.echo("no stored sign-ins (gmail-archiver auth login ACCOUNT)")
            for s in found:
                unknown = "UNCHECKED" if s.problem else "not checked"
                state = {True: "ok", False: "REFUSED", None: unknown}[s.valid]
                typer.echo(f"{s.account}: {state}; client {s.client_id}; since {s.created}; {s.path}")
                if s.problem:
                    err(f"  {s.problem}")
                    err(f"  hint: gmail-archiver auth login {s.account}")
        refused = [s.account for s in found if s.valid is False]
        if refused:
            raise AuthError(f"Google refuses the stored sign-in of {', '.join(refused)}",
                            hint=f"gmail-archiver auth login {refused[0]}")
        unchecked = [s.account for s in found if s.problem]
        if unchecked:
            raise ArchiverError(f"could not check the sign-in of {', '.join(unchecked)}",
                                hint="the lines above say why; try again when Google can be reached")

    @auth.command("logout", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def logout_cmd(
        account: Account,
        local: Annotated[bool, typer.Option(
            "--local", help="Only delete the stored token; do not revoke it with Google.")] = False,
        json: JsonFlag = False,
    ) -> None:
        """Revoke the stored sign-in with Google and delete it."""
        result = archiver.auth_logout(account, local_only=local)
        if json:
            emit_json({"account": result.account, "revoked": result.revoked, "path": str(result.path)})
        else:
            what = "revoked and removed" if result.revoked else "removed (Google held it void already)"
            typer.echo(f"{result.account}: sign-in {what if not local else 'removed (not revoked)'}")
