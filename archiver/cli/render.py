"""Progress on a terminal (tqdm on stderr), nothing when stderr is not a TTY unless asked."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


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
