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

from archiver.model import MessageRecord
from archiver.ops.restore.plan import JournalHit, TargetIndex, mid_key, ref
from archiver.store.journal_records import Dedup, Refused, Sent, UploadIntent

Intent = UploadIntent
"""An APPEND of archived message ``key`` into ``folder`` was about to be sent (``store.journal_records``)."""
Slot = tuple[str, str, int]
"""(key, folder, UIDVALIDITY): what a confirmation, ``refused`` or ``dedup`` names to match an intent."""
WATCH_SECONDS = 3600.0
"""How long an orphaned intent's range is checked for a late copy of its APPEND (then it is forgotten)."""


def intent_entry(record: MessageRecord, *, folder: str, uidvalidity: int, uidnext: int,
                 sizes: Sequence[int]) -> UploadIntent:
    """The journal record of one intent (never read as a confirmation)."""
    return UploadIntent(record.key, record.blob_id, folder, uidvalidity, uidnext, tuple(sorted(set(sizes))),
                        time.time())


def sent_entry(folder: str, uidvalidity: int, keys: Sequence[str]) -> Sent:
    """The journal record saying the APPENDs of ``keys`` into ``folder`` were sent (answers not read yet)."""
    return Sent(folder, uidvalidity, tuple(keys), time.time())


def refused_entry(intent_slot: Slot, blob_id: str) -> Refused:
    """The journal record closing an intent whose APPEND the server refused (it stored nothing)."""
    key, folder, uv = intent_slot
    return Refused(key, blob_id, folder, uv, time.time())


def dedup_entry(intent: Intent, uid: int) -> Dedup:
    """The journal record saying the late copy of orphaned ``intent`` at ``uid`` was removed."""
    return Dedup(intent.key, intent.blob_id, intent.folder, intent.uidvalidity, uid, time.time())


class Intents:
    """Open intents by slot, when a ``sent`` record named each, and the orphans: intents a newer one of the
    same slot replaced while open (their APPEND may still land as a second copy)."""

    def __init__(self) -> None:
        self.open: dict[Slot, Intent] = {}
        self.sent: dict[Slot, float] = {}
        """Slot -> unix time its open intent's APPEND was handed whole to the kernel (it may land)."""
        self.orphans: list[Intent] = []

    def add(self, it: Intent) -> None:
        old = self.open.get(it.slot)
        if old is not None:
            self.orphans.append(old)
        self.open[it.slot] = it
        self.sent.pop(it.slot, None)

    def mark_sent(self, s: Sent) -> None:
        """Apply one ``sent`` record to the open intents it names."""
        for key in s.keys:
            if (slot := (key, s.folder, s.uidvalidity)) in self.open:
                self.sent[slot] = s.time

    def close(self, slot: Slot | None) -> None:
        if slot is not None:
            self.open.pop(slot, None)
            self.sent.pop(slot, None)

    def resolve(self, slot: Slot) -> None:
        """A ``dedup`` record: one orphan of ``slot`` is dealt with."""
        for i, o in enumerate(self.orphans):
            if o.slot == slot:
                del self.orphans[i]
                return

    def young_sent(self, now: float, seconds: float) -> list[tuple[Intent, float]]:
        """(open intent, when sent) for those sent less than ``seconds`` before ``now``."""
        return [(self.open[slot], t) for slot, t in self.sent.items() if t > now - seconds]

    def watched(self, now: float | None = None) -> list[Intent]:
        """The orphans young enough to watch (journalled less than ``WATCH_SECONDS`` ago; an intent of an
        older release has no time and is not watched)."""
        cutoff = (now if now is not None else time.time()) - WATCH_SECONDS
        return [o for o in self.orphans if o.time >= cutoff]


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
