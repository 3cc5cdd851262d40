"""Late APPENDs of an interrupted restore on a non-Gmail server: wait for them, and remove the second copies.

A restore killed (or cut off) right after sending a batch leaves APPENDs the server is still storing: the
killed client's kernel still delivers what it had queued, and the server commits the batch seconds later.
A run that surveys before then does not see them, uploads those messages again, and the late batch then
adds a second copy of each (seen: +500 to +2,000 copies on Dovecot).  Two defences, both bounded by what the
journal says this tool sent:

- ``settle``: before surveying, while open intents whose APPENDs were sent (a ``sent`` entry) less than
  ``SETTLE_SECONDS`` ago are unconfirmed, look in their ranges every half second until each has its copy
  (``reconcile`` then claims it), or the time is up.  An APPEND never sent cannot land: no wait for it.
- ``remove_strays``: after uploading, for each orphaned intent (``intent.Intents``), a copy in its folder at
  or above its UIDNEXT, claimed by no journal entry, with the message's Message-ID (or, without one, a
  recorded size) and byte-identical to the copy the journal confirms for that message, is this tool's second
  upload: it is removed (UID STORE \\Deleted + UID EXPUNGE of that UID only) and ``dedup`` is journalled.
  Nothing else is ever removed: not a message below the range, not one that differs by a byte, not one of a
  message the journal does not confirm elsewhere in that folder, and at most one copy per orphaned intent.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Sequence

from archiver.imap import Session
from archiver.imap.upload import remove_uids
from archiver.model import MessageRecord
from archiver.ops.restore.executor import RunContext
from archiver.ops.restore.intent import Intent, dedup_entry, reconcile
from archiver.ops.restore.plan import FOLDER, TargetCopy, TargetIndex, mid_key
from archiver.ops.restore.result import RestoreProblem

SETTLE_SECONDS = 15.0
"""How long after its intent an interrupted batch may still land (seen: 2.7 s after a kill on loopback)."""
POLL_SECONDS = 0.5


def settle(session: Session, ctx: RunContext) -> None:
    """Wait while young open intents (an attempt interrupted moments ago) may still land; stop as soon as
    every one of them has its copy on the server."""
    now = time.time()
    sent = ctx.intents.young_sent(now, SETTLE_SECONDS)
    if not sent:
        return
    young = [it for it, _ in sent]
    deadline = max(t for _, t in sent) + SETTLE_SECONDS
    records = _records(ctx, young)
    ctx.progress.note(f"an interrupted run sent {len(young)} message(s) moments ago: waiting up to "
                      f"{deadline - now:.0f} s for the server to store them, so that none is sent twice")
    while True:
        landed = _landed(session, ctx, young, records)
        if landed >= len(young) or time.time() >= deadline:
            return
        ctx.sleep(min(POLL_SECONDS, max(0.0, deadline - time.time())))


def _records(ctx: RunContext, intents: Sequence[Intent]) -> list[MessageRecord]:
    out = []
    for key in dict.fromkeys(it.key for it in intents):
        rec = ctx.snapshot.get(key)
        if rec is not None:
            out.append(rec)
    return out


def _landed(session: Session, ctx: RunContext, intents: Sequence[Intent], records: Sequence[MessageRecord]
            ) -> int:
    """How many of ``intents`` have a copy in their range that no journal entry claims."""
    copies: list[TargetCopy] = []
    uidvalidity: dict[str, int] = {}
    for folder in sorted({it.folder for it in intents}):
        uidvalidity[folder], found = _range(session, folder, min(it.uidnext for it in intents
                                                                   if it.folder == folder), readonly=True)
        copies.extend(found)
    return len(reconcile(records, intents, TargetIndex(copies), ctx.journal_hits, uidvalidity))


def _range(session: Session, folder: str, lowest: int, *, readonly: bool) -> tuple[int, list[TargetCopy]]:
    """(UIDVALIDITY, the copies of ``folder`` at UID ``lowest`` or above)."""
    status = session.select(folder, readonly=readonly)
    if status.uidnext and status.uidnext <= lowest:
        return status.uidvalidity, []
    uids = [u for u in session.search_uids(f"UID {lowest}:*") if u >= lowest] if status.exists else []
    metas = session.fetch_meta(uids) if uids else []
    return status.uidvalidity, [TargetCopy(folder=folder, kind=FOLDER, uid=m.uid, size=m.size,
                                           message_id=mid_key(m.message_id)) for m in metas]


def remove_strays(session: Session, ctx: RunContext) -> None:
    """Remove the second copies orphaned intents' late APPENDs left (see the module docstring)."""
    by_folder: dict[str, list[Intent]] = defaultdict(list)
    for o in ctx.intents.watched():
        by_folder[o.folder].append(o)
    for folder, orphans in sorted(by_folder.items()):
        _remove_in(session, ctx, folder, orphans)


def _remove_in(session: Session, ctx: RunContext, folder: str, orphans: Sequence[Intent]) -> None:
    lowest = min(o.uidnext for o in orphans)
    uv, copies = _range(session, folder, lowest, readonly=False)
    orphans = [o for o in orphans if o.uidvalidity == uv]
    claimed = {(h.folder, h.uid) for hs in ctx.journal_hits.values() for h in hs if h.uidvalidity == uv}
    free = [c for c in copies if (folder, c.uid) not in claimed]
    pairs: list[tuple[Intent, MessageRecord, TargetCopy, int]] = []  # (orphan, record, stray, kept uid)
    used: set[int] = set()
    for o in orphans:
        rec = ctx.snapshot.get(o.key)
        kept = [h.uid for h in ctx.journal_hits.get(o.key, ()) if h.folder == folder and h.uidvalidity == uv
                and h.blob_id == o.blob_id and h.uid is not None]
        if rec is None or not kept:
            continue
        mid = mid_key(rec.message_id)
        stray = min((c for c in free if c.uid >= o.uidnext and c.uid not in used and c.message_id == mid
                     and (mid is not None or c.size in o.sizes)), key=lambda c: c.uid, default=None)
        if stray is not None:
            used.add(stray.uid)
            pairs.append((o, rec, stray, kept[0]))
    if not pairs:
        return
    digests = {uid: hashlib.sha256(data).hexdigest() for uid, data in
               session.fetch_bodies(sorted({p[2].uid for p in pairs} | {p[3] for p in pairs}))}
    same = [(o, rec, c) for o, rec, c, kept in pairs
            if c.uid in digests and digests.get(c.uid) == digests.get(kept)]
    if not same:
        return
    if "UIDPLUS" not in session.capabilities:
        for _o, rec, c in same:
            ctx.result.duplicates.append(RestoreProblem(
                rec.key, rec.message_id, f"a second copy an interrupted run uploaded is left in {folder} "
                f"(UID {c.uid}): the server lacks UIDPLUS, so it cannot be removed alone; delete it by hand"))
        return
    remove_uids(session, [c.uid for _, _, c in same])
    with ctx.lock:
        ctx.journal_batch([dedup_entry(o, c.uid) for o, _, c in same])
        for _o, rec, c in same:   # each dedup record resolved its orphan (RunContext._remember)
            ctx.result.duplicates.append(RestoreProblem(
                rec.key, rec.message_id, f"removed: a second copy an interrupted run uploaded ({folder} UID "
                f"{c.uid}); the copy the journal confirms stays"))
