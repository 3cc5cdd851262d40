"""What restore learns before it plans: the target's messages, their content where it matters, the journal.

Shared by both executors.  The survey reads metadata only (FETCH of sizes, Message-IDs, labels); bodies are
fetched only to answer the planner's content questions (same Message-ID and size as an archived message).
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from archiver.imap import Session
from archiver.model import MessageRecord
from archiver.ops.restore.intent import Intents, closes
from archiver.ops.restore.plan import JournalHit, TargetCopy, TargetIndex, mid_key, rewritten_message_id
from archiver.ops.restore.rewrite import rewrite_message_id, served_form
from archiver.store import Archive, Journal
from archiver.store.journal_records import Confirmation, Dedup, Refused, Sent, UploadIntent, decode_all


def survey_folder(session: Session, name: str, kind: str) -> tuple[int, list[TargetCopy]]:
    """(UIDVALIDITY, every message of folder ``name`` as a TargetCopy)."""
    status = session.select(name, readonly=True)
    uids = session.search_uids("ALL") if status.exists else []
    metas = session.fetch_meta(uids) if uids else []
    copies = [TargetCopy(folder=name, kind=kind, uid=m.uid, size=m.size, message_id=mid_key(m.message_id),
                         flags=tuple(m.flags), labels=tuple(m.gm_labels or ()), gm_msgid=m.gm_msgid)
              for m in metas]
    return status.uidvalidity, copies


def digests_of(session: Session, copies: Iterable[TargetCopy], content_id: Callable[[bytes], str]
               ) -> dict[tuple[str, int], str]:
    """The blob id (``Archive.content_id``: keyed in an encrypted archive) of the bytes the server serves for
    each copy (one FETCH per folder)."""
    by_folder: dict[str, set[int]] = defaultdict(set)
    for c in copies:
        by_folder[c.folder].add(c.uid)
    out: dict[tuple[str, int], str] = {}
    for folder, uids in by_folder.items():
        session.select(folder, readonly=True)
        for uid, data in session.fetch_bodies(sorted(uids)):
            out[(folder, uid)] = content_id(data)
    return out


@dataclass
class Alternates:
    """Other forms of an archived message that count as "the same content" on a target."""

    ids: dict[str, frozenset[str]]
    sizes: dict[str, int]


def alternates(archive: Archive, records: Sequence[MessageRecord], index: TargetIndex,
               *, rewrite: bool) -> Alternates:
    """For records whose Message-ID (or rewritten one) the target holds: the digests and sizes of the
    served form (``served_form``: Dovecot's line-ending and NUL rewrite) and of the Message-ID-rewritten
    bytes."""
    wanted = [r for r in records
              if (r.message_id is not None and mid_key(r.message_id) in index.by_mid)
              or (r.message_id is None and _maybe_crlf(index, r.size))
              or (rewrite and r.message_id is not None and rewritten_message_id(r) in index.by_mid)]
    ids: dict[str, frozenset[str]] = {}
    sizes: dict[str, int] = {}
    by_blob = {r.blob_id: r for r in wanted}
    for blob_id, data in archive.iter_blobs(list(by_blob), {}):  # a damaged one fails at its upload
        r = by_blob[blob_id]
        served = served_form(data)
        forms = {served}
        if rewrite and r.message_id is not None:
            forms.add(rewrite_message_id(data, rewritten_message_id(r)))
        ids[blob_id] = frozenset(archive.content_id(f) for f in forms)
        if len(served) != len(data):
            sizes[blob_id] = len(served)
    return Alternates(ids, sizes)


def _maybe_crlf(index: TargetIndex, size: int) -> bool:
    """Could a Message-ID-less copy on the target be this message's CRLF form (at most twice as big)?"""
    sizes = index.none_sizes
    i = bisect.bisect_left(sizes, size)
    return i < len(sizes) and sizes[i] <= 2 * size


# -- the restore journal ----------------------------------------------------------------------------------


def journal_name(account: str) -> str:
    """The journal of one target account (``restore-<user>_<host>_<port>``, file-name safe)."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in account)
    return f"restore-{safe}"[:120]


def read_journal(journal: Journal) -> tuple[dict[str, list[JournalHit]], list[tuple[float, int]], Intents]:
    """(hits by record key, (time, bytes) of every upload, the intents: open ones no confirmation or refusal
    closed, when each was sent, and the orphans) from a journal; unknown entries are skipped."""
    hits: dict[str, list[JournalHit]] = defaultdict(list)
    uploads: list[tuple[float, int]] = []
    intents = Intents()
    records, _skipped = decode_all(journal)
    for r in records:
        if isinstance(r, UploadIntent):
            intents.add(r)
        elif isinstance(r, Sent):
            intents.mark_sent(r)
        elif isinstance(r, Refused):
            intents.close(r.slot)
        elif isinstance(r, Dedup):
            intents.resolve(r.slot)
        elif isinstance(r, Confirmation):
            hit = hit_of(r)
            hits[r.key].append(hit)
            intents.close(closes(hit))
            if r.op == "upload":
                uploads.append((r.time, r.nbytes))
    return dict(hits), uploads, intents


def hit_of(c: Confirmation) -> JournalHit:
    """What the planner learns from a confirmation."""
    return JournalHit(key=c.key, blob_id=c.blob_id, gm_msgid=c.gm_msgid, folder=c.folder,
                      uidvalidity=c.uidvalidity, uid=c.uid)


def entry(op: str, record: MessageRecord, *, nbytes: int = 0, gm: int | None = None,
          folder: str | None = None, uidvalidity: int | None = None,
          uid: int | None = None) -> Confirmation:
    """One journal record: archived message ``record`` is confirmed on the target as (gm | folder/uid)."""
    return Confirmation(op, record.key, record.blob_id, time.time(), nbytes, gm, folder, uidvalidity, uid)


def uploaded_last_day(uploads: Iterable[tuple[float, int]], now: float | None = None) -> int:
    """Bytes uploaded to this target in the last 24 hours (for --max-upload-per-day)."""
    cutoff = (now if now is not None else time.time()) - 86400
    return sum(n for t, n in uploads if t >= cutoff)
