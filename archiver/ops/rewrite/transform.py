"""What a rewrite does to one message's bytes: the contract between the transforms (pgp, headers, slim)
and the operation that puts their output on the server."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Protocol

from archiver.model import aware_date


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


def apply(transform: Transform, data: bytes, *, blob_id: str, internaldate: int, tz_minutes: int) -> Outcome:
    """``transform(data, blob_id=...)``, with the message's INTERNALDATE as an aware datetime for a
    transform that takes an ``internaldate`` keyword (fix-headers dates a message without a usable Date
    header by it).  A resumed run calls this with the journalled date, so it computes the same bytes."""
    try:
        takes_date = "internaldate" in inspect.signature(transform).parameters
    except (TypeError, ValueError):  # a callable without a signature Python can read
        takes_date = False
    if not takes_date:
        return transform(data, blob_id=blob_id)
    when = aware_date(internaldate, tz_minutes)
    call: Any = transform
    out: Outcome = call(data, blob_id=blob_id, internaldate=when)
    return out
