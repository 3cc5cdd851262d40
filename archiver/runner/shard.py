"""``run --shard I/N``: which configured accounts worker I of N backs up (rendezvous hashing on the name).

Each account goes to the worker ``i`` in ``0..N-1`` with the highest ``sha256("<i>\\0<account name>")``.  The
choice depends only on the account's own name and N, so adding or removing other accounts never moves an
account; changing N moves only the accounts the new (or removed) worker wins or held, about 1/N of them.
Workers are numbered from 0, as a Kubernetes indexed Job's ``JOB_COMPLETION_INDEX``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from archiver.errors import UsageError

_FORM = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
SHARD_HINT = "write --shard I/N with 0 <= I < N, e.g. --shard 0/3, 1/3 and 2/3 on three workers"


@dataclass(frozen=True, slots=True)
class Shard:
    """Worker ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, name: str) -> bool:
        return shard_of(name, self.count) == self.index


def parse_shard(text: str) -> Shard:
    """``"I/N"`` as a Shard; UsageError (exit 2) saying what is wrong otherwise."""
    m = _FORM.fullmatch(text)
    if m is None:
        raise UsageError(f"--shard {text!r} is not of the form I/N", hint=SHARD_HINT)
    index, count = int(m.group(1)), int(m.group(2))
    if count == 0:
        raise UsageError(f"--shard {text}: N (the number of workers) must be at least 1", hint=SHARD_HINT)
    if index >= count:
        raise UsageError(f"--shard {text}: I must be below N (workers are numbered 0 to {count - 1})",
                         hint=SHARD_HINT)
    return Shard(index, count)


def _score(worker: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{worker}\0{name}".encode()).digest()[:8], "big")


def shard_of(name: str, count: int) -> int:
    """The worker (0-based, of ``count``) that backs up the account called ``name``."""
    return max(range(count), key=lambda worker: _score(worker, name))


def select(names: Sequence[str], shard: Shard) -> list[str]:
    """The names ``shard`` owns, in their order."""
    return [n for n in names if shard.owns(n)]
