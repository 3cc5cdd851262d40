"""Upload intents: what closes the window between an APPEND and the journal entry confirming it.

Before a batch of APPENDs to a folder of a generic server, restore journals one *intent* per message: the
folder, its UIDVALIDITY and UIDNEXT, and the sizes the server may report (the bytes sent; for a message
without Message-ID also their ``served_form``, the only case matched by size).  The confirmation
(``upload``/``copy``/``reconcile`` entry for the same key, folder and UIDVALIDITY) closes the intent.  An
intent still open when restore surveys the target again (after a kill, a crash or a lost connection) means the
APPEND may have landed: a copy in that folder at or above the recorded UIDNEXT that no journal entry claims,
with the message's Message-ID (without one: one of the sizes), is that upload, so it is journalled and not
sent again (see ``reconcile``).

An interrupted APPEND can also land *later*: a killed client's kernel still sends what it had queued, and the
server stores and commits the batch seconds afterwards, while the next run is already surveying.  So a run
first waits (``strays.settle``) for young open intents, and an intent a newer one of the same slot replaced
while still open becomes an *orphan*: for an hour (``WATCH_SECONDS``) each run looks in its range for a
second, byte-identical copy of that message that no journal entry claims, removes it
(``strays.remove_strays``) and journals ``dedup``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from archiver.model import MessageRecord
from archiver.ops.restore.plan import JournalHit, TargetIndex, mid_key, ref

JOURNAL_VERSION = 1
WATCH_SECONDS = 3600.0
"""How long an orphaned intent's range is checked for a late copy of its APPEND (then it is forgotten)."""


@dataclass(frozen=True, slots=True)
class Intent:
    """An APPEND of archived message ``key`` into ``folder`` was about to be sent."""

    key: str
    blob_id: str
    folder: str
    uidvalidity: int
    uidnext: int
    sizes: tuple[int, ...]
    t: float = 0.0
    """When the intent (or its ``sent`` entry) was journalled (0: an older entry, which had no time)."""
    sent: bool = False
    """A ``sent`` entry says its APPEND was handed whole to the kernel: it may land even if we died."""

    @property
    def slot(self) -> tuple[str, str, int]:
        """What a confirmation must name to close this intent: (key, folder, UIDVALIDITY)."""
        return (self.key, self.folder, self.uidvalidity)


def intent_entry(record: MessageRecord, *, folder: str, uidvalidity: int, uidnext: int,
                 sizes: Sequence[int]) -> dict[str, object]:
    """The journal entry of one intent (``op`` ``intent``; never read as a confirmation)."""
    return {"v": JOURNAL_VERSION, "op": "intent", "key": record.key, "blob": record.blob_id,
            "folder": folder, "uidvalidity": uidvalidity, "uidnext": uidnext,
            "sizes": sorted(set(sizes)), "t": time.time()}


def parse_intent(e: Mapping[str, object]) -> Intent | None:
    key, blob, folder = e.get("key"), e.get("blob"), e.get("folder")
    uv, nxt, sizes, t = e.get("uidvalidity"), e.get("uidnext"), e.get("sizes"), e.get("t")
    if not (isinstance(key, str) and isinstance(blob, str) and isinstance(folder, str)
            and isinstance(uv, int) and isinstance(nxt, int) and isinstance(sizes, list | tuple)):
        return None
    return Intent(key, blob, folder, uv, nxt, tuple(s for s in sizes if isinstance(s, int)),
                  float(t) if isinstance(t, int | float) else 0.0)


def sent_entry(folder: str, uidvalidity: int, keys: Sequence[str]) -> dict[str, object]:
    """The journal entry saying the APPENDs of ``keys`` into ``folder`` were sent (answers not read yet)."""
    return {"v": JOURNAL_VERSION, "op": "sent", "folder": folder, "uidvalidity": uidvalidity,
            "keys": list(keys), "t": time.time()}


def mark_sent(open_intents: dict[tuple[str, str, int], Intent], e: Mapping[str, object]) -> None:
    """Apply one ``sent`` entry to the open intents it names."""
    folder, uv, keys, t = e.get("folder"), e.get("uidvalidity"), e.get("keys"), e.get("t")
    if not (isinstance(folder, str) and isinstance(uv, int) and isinstance(keys, list | tuple)):
        return
    for key in keys:
        it = open_intents.get((key, folder, uv)) if isinstance(key, str) else None
        if it is not None:
            open_intents[it.slot] = replace(it, sent=True, t=float(t) if isinstance(t, int | float) else it.t)


def refused_entry(intent_slot: tuple[str, str, int], blob_id: str) -> dict[str, object]:
    """The journal entry closing an intent whose APPEND the server refused (it stored nothing)."""
    key, folder, uv = intent_slot
    return {"v": JOURNAL_VERSION, "op": "refused", "key": key, "blob": blob_id, "folder": folder,
            "uidvalidity": uv, "t": time.time()}


def slot_of(e: Mapping[str, object]) -> tuple[str, str, int] | None:
    """(key, folder, UIDVALIDITY) named by a ``refused`` or ``dedup`` entry."""
    key, folder, uv = e.get("key"), e.get("folder"), e.get("uidvalidity")
    if isinstance(key, str) and isinstance(folder, str) and isinstance(uv, int):
        return (key, folder, uv)
    return None


def dedup_entry(intent: Intent, uid: int) -> dict[str, object]:
    """The journal entry saying the late copy of orphaned ``intent`` at ``uid`` was removed."""
    return {"v": JOURNAL_VERSION, "op": "dedup", "key": intent.key, "blob": intent.blob_id,
            "folder": intent.folder, "uidvalidity": intent.uidvalidity, "uid": uid, "t": time.time()}


class Intents:
    """Open intents by slot, and the orphans: intents a newer one of the same slot replaced while open."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, str, int], Intent] = {}
        self.orphans: list[Intent] = []

    def add(self, it: Intent) -> None:
        old = self.open.get(it.slot)
        if old is not None:
            self.orphans.append(old)
        self.open[it.slot] = it

    def close(self, slot: tuple[str, str, int] | None) -> None:
        if slot is not None:
            self.open.pop(slot, None)

    def resolve(self, slot: tuple[str, str, int]) -> None:
        """A ``dedup`` entry: one orphan of ``slot`` is dealt with."""
        for i, o in enumerate(self.orphans):
            if o.slot == slot:
                del self.orphans[i]
                return

    def watched(self, now: float | None = None) -> list[Intent]:
        """The orphans young enough to watch (``WATCH_SECONDS``)."""
        cutoff = (now if now is not None else time.time()) - WATCH_SECONDS
        return [o for o in self.orphans if o.t >= cutoff]


def closes(hit: JournalHit) -> tuple[str, str, int] | None:
    """The intent slot a confirmed hit closes (None for Gmail hits, which carry no folder UID)."""
    if hit.folder is None or hit.uidvalidity is None or hit.uid is None:
        return None
    return (hit.key, hit.folder, hit.uidvalidity)


def reconcile(records: Sequence[MessageRecord], intents: Iterable[Intent], index: TargetIndex,
              hits: Mapping[str, Sequence[JournalHit]],
              uidvalidity: Mapping[str, int]) -> list[tuple[MessageRecord, JournalHit]]:
    """The copies open intents left on the target: (record, hit to journal) for each one found.

    A candidate is in the intent's folder (same UIDVALIDITY), at or above its UIDNEXT, claimed by no journal
    hit, and has the record's Message-ID; a record without one needs a copy without one of a recorded size.
    Intents are matched oldest record first, each copy at most once (byte-identical duplicates stay two).
    """
    by_key: dict[str, list[Intent]] = {}
    for it in intents:
        by_key.setdefault(it.key, []).append(it)
    claimed = {(h.folder, h.uid) for hs in hits.values() for h in hs if h.folder is not None}
    out: list[tuple[MessageRecord, JournalHit]] = []
    for r in records:
        for it in by_key.get(r.key, ()):
            if it.blob_id != r.blob_id or uidvalidity.get(it.folder) != it.uidvalidity:
                continue
            if r.message_id is not None:
                pool = index.by_mid.get(mid_key(r.message_id), [])
            else:
                pool = index.candidates(None, it.sizes)
            c = min((c for c in pool if c.folder == it.folder and c.uid >= it.uidnext
                     and ref(c) not in claimed), key=lambda c: c.uid, default=None)
            if c is None:
                continue
            claimed.add(ref(c))
            out.append((r, JournalHit(key=r.key, blob_id=r.blob_id, folder=c.folder,
                                      uidvalidity=it.uidvalidity, uid=c.uid)))
    return out
