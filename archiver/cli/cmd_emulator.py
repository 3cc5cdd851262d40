"""`gmail-archiver emulator`: run the Gmail-compatible test server on loopback until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from archiver import UsageError
from archiver.cli._common import EXIT_CODES_HELP, emit_json, err, handle_errors


def register(app: typer.Typer) -> None:
    @app.command("emulator", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def emulator(
        port: Annotated[int, typer.Option(
            "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: a free one).")] = 1993,
        user: Annotated[str, typer.Option("--user", help="Account name.")] = "me@gmail.com",
        password: Annotated[str, typer.Option(
            "--password", help="Its app password (LOGIN).")] = "app-password-16c",
        oauth_token: Annotated[str | None, typer.Option(
            "--oauth-token", help="Accept this XOAUTH2 token.")] = None,
        seed_messages: Annotated[int, typer.Option(
            "--seed-messages", help="Synthetic messages to seed.")] = 0,
        seed_corpus: Annotated[Path | None, typer.Option(
            "--seed-corpus", help="Also seed every *.eml file under this folder.")] = None,
        seed: Annotated[int, typer.Option("--seed", help="Random seed of the synthetic mail.")] = 0,
        locale: Annotated[str, typer.Option("--locale", help="Folder names: en, en-GB or de.")] = "en",
        oauth_client: Annotated[Path | None, typer.Option(
            "--oauth-client", metavar="FILE",
            help="Also serve Google's OAuth endpoints on loopback HTTP and write a new client_secret.json "
                 "for them to FILE (for trying 'gmail-archiver auth login'; consent is simulated).")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document once listening.")] = False,
    ) -> None:
        """Serve a Gmail-compatible IMAP account (X-GM-EXT-1, labels, threads, CONDSTORE, Gmail's APPEND
        de-duplication) on 127.0.0.1, seeded with deterministic synthetic mail, until Ctrl-C.

        Plain IMAP, loopback only; the URL to back up from is printed on stderr.

        --json keys: url, host, port, user, messages (how many were seeded), oauth_url and oauth_client
        (null without --oauth-client).
        """
        from archiver import EmulatorConfig, GmailEmulator, populate_emulator  # imported when needed

        if seed_messages < 0:
            raise UsageError("--seed-messages must be 0 or more")
        if locale not in ("en", "en-GB", "de"):
            raise UsageError("--locale must be en, en-GB or de")
        if oauth_client is not None and oauth_client.exists():
            raise UsageError(f"{oauth_client} exists already: not replacing it")
        emu = GmailEmulator(EmulatorConfig(port=port, locale=locale, oauth=oauth_client is not None))
        try:
            emu.start()
        except OSError as exc:
            raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
        try:
            emu.add_account(user, password=password, oauth_token=oauth_token)
            try:
                count = populate_emulator(emu, user, messages=seed_messages, seed=seed, corpus=seed_corpus)
            except FileNotFoundError as exc:
                raise UsageError(str(exc)) from None
            url = f"imap://{user}@127.0.0.1:{emu.port}"
            oauth_url = None
            if oauth_client is not None and emu.oauth is not None:
                emu.oauth.consent_user = user
                emu.oauth.write_client_file(oauth_client)  # never replaces a file
                oauth_url = emu.oauth.url
            stop = threading.Event()
            # Ctrl-C / SIGTERM are the normal way to stop a server: set a flag instead of raising anywhere
            previous = {sig: signal.signal(sig, lambda *_: stop.set())
                        for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                if json:
                    emit_json({"url": url, "host": "127.0.0.1", "port": emu.port, "user": user,
                               "messages": count, "oauth_url": oauth_url,
                               "oauth_client": str(oauth_client) if oauth_client else None})
                err(f"emulator: {count} messages for {user}; serving {url} (plain IMAP, loopback); "
                    "Ctrl-C stops")
                if oauth_client is not None:
                    err(f"emulator: OAuth endpoints at {oauth_url}; try: gmail-archiver auth login {user} "
                        f"--client-secret {oauth_client}, then backup with --oauth {user}")
                while not stop.wait(0.5):
                    pass
                err("emulator: stopped")
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        finally:
            emu.stop()
