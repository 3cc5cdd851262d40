"""How the library reports progress and events to whatever UI runs it; the library itself never prints."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Implemented by the CLI (tqdm on a terminal, nothing on cron) and by tests."""

    def start(self, phase: str, total: int | None = None, unit: str = "msg") -> None:
        """A new phase begins (e.g. "download"); ``total`` items expected, if known."""

    def advance(self, n: int = 1, nbytes: int = 0) -> None:
        """``n`` items (``nbytes`` bytes) of the current phase are done."""

    def note(self, message: str) -> None:
        """Something the user should read (a warning, a retry); never contains secrets."""

    def finish(self) -> None:
        """The current phase is over."""


class NullProgress:
    """Reports nothing: the default for library callers."""

    def start(self, phase: str, total: int | None = None, unit: str = "msg") -> None:
        return None

    def advance(self, n: int = 1, nbytes: int = 0) -> None:
        return None

    def note(self, message: str) -> None:
        return None

    def finish(self) -> None:
        return None
