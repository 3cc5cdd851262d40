"""`gmail-archiver config check|show`: the config file, checked and shown (it holds no secret to redact:
only the commands that print one)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archiver import UsageError, check_account, load_config
from archiver.cli._common import EXIT_CODES_HELP, emit_json, err, handle_errors

ConfigFile = Annotated[Path | None, typer.Option(
    "--config", help="The config file (default: $GMAIL_ARCHIVER_CONFIG, else "
                     "$XDG_CONFIG_HOME/gmail-archiver/config.toml).")]


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _toml_string(str(value))


def _toml_string(text: str) -> str:
    """A TOML basic string: backslash, quote and control characters escaped."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _toml_key(name: str) -> str:
    return name if name.replace("_", "").replace("-", "").isalnum() and name.isascii() else _toml_string(name)


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(name="config", help="Check or show the config file ([accounts.NAME] tables).",
                             no_args_is_help=True)
    app.add_typer(config_app)

    @config_app.command("check", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def check(config: ConfigFile = None,
              json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False) -> None:
        """Read the config file and check each account without contacting a server or running a password
        command: the URL, the programs and files it names, the archive.  Exit 2 on any problem, each named
        by file, line and key.

        --json keys: config (path), accounts (list of {name, problems}), ok.
        """
        cfg = load_config(config)
        found = {a.name: check_account(a) for a in cfg.accounts}
        if json:
            emit_json({"config": str(cfg.path), "ok": not any(found.values()),
                       "accounts": [{"name": n, "problems": p} for n, p in found.items()]})
            if any(found.values()):
                bad = sum(1 for p in found.values() if p)
                raise UsageError(f"{bad} account(s) of {cfg.path} have problems",
                                 hint="`gmail-archiver config check` without --json shows them as text")
            return
        for name, problems in found.items():
            if problems:
                for p in problems:
                    err(p)
            else:
                typer.echo(f"{name}: ok")
        bad = sum(1 for p in found.values() if p)
        if bad:
            raise UsageError(f"{bad} of {len(found)} accounts in {cfg.path} have problems (listed above)")
        typer.echo(f"{cfg.path}: {len(found)} accounts, no problem found")

    @config_app.command("show", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def show(config: ConfigFile = None,
             json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False) -> None:
        """Print the config as gmail-archiver reads it: every key with its effective value (defaults filled
        in, paths absolute).  A password command is shown, never run.

        --json keys: config (path), accounts (NAME -> {key: value}).
        """
        cfg = load_config(config)
        if json:
            emit_json({"config": str(cfg.path), "accounts": {a.name: a.settings() for a in cfg.accounts}})
            return
        typer.echo(f"# {cfg.path}")
        for a in cfg.accounts:
            typer.echo(f"\n[accounts.{_toml_key(a.name)}]")
            for key, value in a.settings().items():
                typer.echo(f"{key} = {_toml_value(value)}")
