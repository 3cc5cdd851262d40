"""Everything the CLI shows: the one writer of ``--json`` documents (results and errors alike) and the
progress bars on a terminal (tqdm on stderr, nothing when stderr is not a TTY unless asked)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import os
import sys
from typing import Any

from tqdm import tqdm

_emitted = 0
"""How many JSON documents this invocation printed (the exit path prints no second one after an error)."""


def _jsonable(value: Any) -> Any:
    """What ``json`` cannot encode by itself: times as ISO 8601, paths as text, dataclasses as objects,
    enums by value, sets sorted."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def emit_json(document: Any) -> None:
    """Print one ``--json`` document on stdout: indented, keys sorted, one encoding for every command."""
    global _emitted
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=_jsonable) + "\n")
    sys.stdout.flush()
    _emitted += 1


def error_document(kind: str, message: str, hint: str | None, exit_code: int) -> dict[str, Any]:
    """The ``--json`` document of a failed command: ``{"error": {type, message, hint, exit_code}}``."""
    return {"error": {"type": kind, "message": message, "hint": hint, "exit_code": exit_code}}


def json_emitted() -> bool:
    """True once this invocation printed a ``--json`` document."""
    return _emitted > 0


def reset() -> None:
    """A new invocation starts (the test runner invokes many in one process)."""
    global _emitted
    _emitted = 0


class TqdmProgress:
    """Implements ``archiver.progress.Progress`` with one tqdm bar per phase."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: tqdm[Any] | None = None
        self.notes: list[str] = []

    def start(self, phase: str, total: int | None = None, unit: str = "msg") -> None:
        self.finish()
        if self.enabled:
            self._bar = tqdm(total=total, desc=phase, unit=unit, file=sys.stderr, dynamic_ncols=True,
                             smoothing=0.1)

    def advance(self, n: int = 1, nbytes: int = 0) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def note(self, message: str) -> None:
        self.notes.append(message)
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        elif self.enabled:
            print(message, file=sys.stderr)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
