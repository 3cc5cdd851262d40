"""What a rewrite does to one message's bytes: the contract between the transforms (pgp, headers, slim)
and the operation that puts their output on the server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Rewritten:
    """The message's new bytes, and what changed, for people."""

    data: bytes
    note: str
    freed: int = 0
    """Bytes the server no longer stores for this message (``--slim-attachments``); 0 otherwise."""


@dataclass(frozen=True)
class Unchanged:
    """Nothing to do for this message (not encrypted, headers sound, no part over the limit)."""

    reason: str


@dataclass(frozen=True)
class Failed:
    """The transform could not be applied (no secret key, broken PGP data): the message is left as it is."""

    reason: str


Outcome = Rewritten | Unchanged | Failed


class Transform(Protocol):
    """A pure function of a message's bytes (and its blob id in the archive, which a transform may cite)."""

    @property
    def name(self) -> str:
        """The transform's name in reports and journals (``decrypt-pgp``, ``fix-headers``, ``slim``)."""
        ...

    def __call__(self, data: bytes, *, blob_id: str) -> Outcome:
        ...
