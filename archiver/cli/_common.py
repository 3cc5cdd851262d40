"""What every command shares: the error -> exit-code mapping (the only one), output helpers, secrets input."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer

from archiver.errors import ArchiverError, Cancelled

P = ParamSpec("P")
R = TypeVar("R")

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 error, 2 usage, 3 partial (some messages failed; listed), 10 no archive, "
    "11 locked, 12 authentication failed, 13 verify found damage, 130 interrupted."
)


def err(message: str) -> None:
    """One line to stderr (never stdout, which is for results)."""
    typer.echo(message, err=True)


def emit_json(document: Any) -> None:
    """The one JSON document a --json command prints on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def handle_errors(json_flag: str = "json") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn library errors into a one-line message (or a JSON error object) and the class's exit code."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            as_json = bool(kwargs.get(json_flag, False))
            try:
                try:
                    return fn(*args, **kwargs)
                except KeyboardInterrupt as exc:
                    raise Cancelled("interrupted") from exc
            except ArchiverError as exc:
                if as_json:
                    emit_json({"error": {"type": type(exc).__name__, "message": str(exc),
                                         "hint": exc.hint, "exit_code": exc.exit_code}})
                else:
                    err(f"error: {exc}")
                    if exc.hint:
                        err(f"hint: {exc.hint}")
                raise typer.Exit(exc.exit_code) from None

        return wrapper

    return decorate
