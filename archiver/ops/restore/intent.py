"""Upload intents: what closes the window between an APPEND and the journal entry confirming it.

Before a batch of APPENDs to a folder of a generic server, restore journals one *intent* per message: the
folder, its UIDVALIDITY and UIDNEXT, and the sizes the server may report (the bytes sent; for a message
without Message-ID also their ``served_form``, the only case matched by size).  The confirmation
(``upload``/``copy``/``reconcile`` entry for the same key, folder and UIDVALIDITY) closes the intent.  An
intent still open when restore surveys the target again (after a kill, a crash or a lost connection) means the
APPEND may have landed: a copy in that folder at or above the recorded UIDNEXT that no journal entry claims,
with the message's Message-ID (without one: one of the sizes), is that upload, so it is journalled and not
sent again (see ``reconcile``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from archiver.model import MessageRecord
from archiver.ops.restore.plan import JournalHit, TargetIndex, mid_key, ref
from archiver.store.journal_records import UploadIntent

Intent = UploadIntent
"""An APPEND of archived message ``key`` into ``folder`` was about to be sent (``store.journal_records``)."""


def intent_entry(record: MessageRecord, *, folder: str, uidvalidity: int, uidnext: int,
                 sizes: Sequence[int]) -> UploadIntent:
    """The journal record of one intent (never read as a confirmation)."""
    return UploadIntent(record.key, record.blob_id, folder, uidvalidity, uidnext, tuple(sorted(set(sizes))))


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
