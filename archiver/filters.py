"""The one message filter of ``ls``, ``export``, ``restore`` and the library.

A :class:`MessageFilter` says which messages of a snapshot a command works on: any of some labels (matched by
``labels.label_filter``, so ``Inbox`` finds ``\\Inbox``), an INTERNALDATE range (``since`` inclusive,
``until`` exclusive; naive times are UTC), the account whose snapshot is read, and the message keys a
search query chose (``--query``: ``archiver.search`` answers it; the filter only keeps those keys).
Building one checks it: an empty or inverted date range is a usage error, not a silent "0 messages".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from archiver.errors import UsageError
from archiver.labels import label_filter, label_matches
from archiver.model import MessageRecord


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """Which messages of a snapshot to take; the default takes them all."""

    labels: tuple[str, ...] = ()
    """Keep a message carrying any of these (empty: no label condition)."""
    since: dt.datetime | None = None
    """Keep INTERNALDATE at or after this."""
    until: dt.datetime | None = None
    """Keep INTERNALDATE before this."""
    account: str | None = None
    """The account (``user@host``) whose snapshot is read; None: the snapshot spec alone decides."""
    keys: frozenset[str] | None = None
    """Keep only messages with these keys (the answer of a search query); None: no such condition."""
    _carries: Callable[[Iterable[str]], bool] | None = field(default=None, init=False, repr=False,
                                                             compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "since", _utc(self.since))
        object.__setattr__(self, "until", _utc(self.until))
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise UsageError(f"--since {self.since.isoformat()} is not before --until "
                             f"{self.until.isoformat()}: no message can match", hint="swap the two dates")
        object.__setattr__(self, "_carries", label_filter(self.labels) if self.labels else None)

    @classmethod
    def of(cls, labels: Iterable[str] | None = None, since: dt.datetime | None = None,
           until: dt.datetime | None = None, account: str | None = None,
           keys: Iterable[str] | None = None) -> MessageFilter:
        """The filter of the public functions' ``labels=``, ``since=``, ``until=``, ``account=``, ``keys=``
        keywords."""
        return cls(tuple(labels or ()), since, until, account, None if keys is None else frozenset(keys))

    @property
    def since_ts(self) -> float | None:
        """``since`` as unix seconds."""
        return self.since.timestamp() if self.since is not None else None

    @property
    def until_ts(self) -> float | None:
        """``until`` as unix seconds."""
        return self.until.timestamp() if self.until is not None else None

    def matches(self, record: MessageRecord) -> bool:
        """Whether ``record`` passes every condition."""
        if self.keys is not None and record.key not in self.keys:
            return False
        if self._carries is not None and not self._carries(record.labels):
            return False
        lo, hi = self.since_ts, self.until_ts
        return (lo is None or record.internaldate >= lo) and (hi is None or record.internaldate < hi)

    def apply(self, records: Iterable[MessageRecord], seen_labels: set[str] | None = None
              ) -> Iterator[MessageRecord]:
        """The records that match, in their order; every label of every record read is added to
        ``seen_labels`` when given (for ``unknown_labels`` without a second pass)."""
        for r in records:
            if seen_labels is not None:
                seen_labels.update(r.labels)
            if self.matches(r):
                yield r

    def unknown_labels(self, present: Iterable[str]) -> list[str]:
        """The wanted labels that name none of the ``present`` ones (a typo, or another account's label)."""
        names = set(present)
        return [w for w in self.labels if not any(label_matches(w, label) for label in names)]

    def warnings(self, present: Iterable[str]) -> list[str]:
        """One warning per wanted label the snapshot does not have, listing the labels it has."""
        names = sorted(set(present))
        unknown = self.unknown_labels(names)
        have = ", ".join(names) if names else "(none)"
        return [f"--label {w!r} matches no label of this snapshot; its labels: {have}" for w in unknown]
