"""Thread keys for servers that give none (everything but Gmail), rebuilt from References/In-Reply-To.

A thread is named after its root: the oldest ancestor a message names (first References id, else its
In-Reply-To id), or the message's own Message-ID when it names none.  Every id a message mentions (its
own and its ancestors') is remembered with the thread key it got, so a later message naming any of them
joins the same thread, whatever order messages arrive in, and keys stay stable across incremental runs
(the index is seeded with the previous snapshot's ``message_id -> thread_id``).  Messages with neither a
Message-ID nor references form a thread of their own, keyed by their content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from archiver.mail import normalize_id

PREFIX = "r:"


def root_key(message_id: str) -> str:
    """The thread key of a thread whose root has ``message_id``: short, stable, opaque."""
    return PREFIX + hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def lone_key(fallback: str) -> str:
    """The thread key of a message with no ids at all (``fallback`` is e.g. its blob id)."""
    return "x:" + fallback[:16]


class ThreadIndex:
    """Assigns thread keys; remembers which id belongs to which thread."""

    def __init__(self, known: Iterable[tuple[str | None, str]] = ()) -> None:
        self._by_id: dict[str, str] = {}
        for mid, thread in known:
            norm = normalize_id(mid)
            if norm:
                self._by_id.setdefault(norm, thread)

    def assign(self, message_id: str | None, refs: Sequence[str], fallback: str) -> str:
        """The thread key for a message with ``message_id`` and ancestors ``refs`` (oldest first)."""
        own = normalize_id(message_id)
        ids = [*refs, *([own] if own else [])]
        thread = next((self._by_id[i] for i in ids if i in self._by_id), None)
        if thread is None:
            thread = root_key(ids[0]) if ids else lone_key(fallback)
        for i in ids:
            self._by_id.setdefault(i, thread)
        return thread

    def lookup(self, message_id: str | None) -> str | None:
        """The thread a Message-ID was given (or mentioned in), if any."""
        norm = normalize_id(message_id)
        return self._by_id.get(norm) if norm else None
