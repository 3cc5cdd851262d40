"""Keys of non-Gmail messages: ``n:<number>``, numbered in the order the archive first sees them.

A key names one message across snapshots (formats/snapshot.md "Keys").  The message is the n-th byte-identical
copy of a blob in a folder (plan.assemble_generic); it keeps the key the previous snapshot gave that
(blob, n), whatever that key looks like (``h:<blob>``, ``h:<blob>#n`` of format v1, or ``n:...``); a message
never seen gets the account's next number, written in ten digits so that key order is number order.  The
manifest is a tree ordered by key, so new mail lands in its last leaves instead of all over it (hash keys),
and checkpoints of a first run rewrite only the tree's right edge.  Numbers are never given twice: the
snapshot record carries the next one (``key_seq``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from archiver.model import MessageRecord

PREFIX = "n:"
WIDTH = 10
_NUMBERED = re.compile(r"n:([0-9]{10,})")
_V1 = re.compile(r"h:[0-9a-f]{64}(?:#([0-9]+))?")


def format_key(number: int) -> str:
    return f"{PREFIX}{number:0{WIDTH}d}"


def _rank(key: str) -> tuple[int, int, str]:
    """Copies of one blob in the order their n was given: v1 keys by their ``#n``, then others by key."""
    m = _V1.fullmatch(key)
    if m is not None:
        return (0, int(m.group(1) or 1), key)
    return (1, 0, key)


class GenericKeys:
    """Gives each (blob, n) of this run its key: the previous snapshot's, or the next number."""

    def __init__(self, previous: Mapping[str, MessageRecord], key_seq: int = 0) -> None:
        self._previous = previous
        self._by_blob: dict[str, str | list[str]] | None = None
        self._given: dict[tuple[str, int], str] = {}
        top = max((int(m.group(1)) for k in previous if (m := _NUMBERED.fullmatch(k))), default=-1)
        self.next_seq = max(key_seq, top + 1)
        """The next number to give (stored in the snapshot record as ``key_seq``)."""

    def key(self, blob_id: str, n: int) -> str:
        """The key of the ``n``-th byte-identical copy (n >= 1) of ``blob_id``."""
        given = self._given.get((blob_id, n))
        if given is None:
            found = self._index().get(blob_id, ())
            earlier = (found,) if isinstance(found, str) else found
            if n <= len(earlier):
                given = earlier[n - 1]
            else:
                given = format_key(self.next_seq)
                self.next_seq += 1
            self._given[(blob_id, n)] = given
        return given

    def _index(self) -> dict[str, str | list[str]]:
        """Blob id -> the previous snapshot's key(s) of it (a list, in copy order, only for several)."""
        if self._by_blob is None:
            index: dict[str, str | list[str]] = {}
            for rec in self._previous.values():
                had = index.setdefault(rec.blob_id, rec.key)
                if had is not rec.key:  # a second copy of these bytes
                    copies = [had] if isinstance(had, str) else had
                    index[rec.blob_id] = sorted([*copies, rec.key], key=_rank)
            self._by_blob = index
        return self._by_blob
