"""Pure planning for backup: what changed in a folder since the last snapshot, and how the messages seen
in each folder become the records of the next snapshot.  No I/O here, so all of it is unit-tested.

Vocabulary: an *entry* is one copy of a message in one server folder as this run sees it (UID, flags,
Gmail labels, and the blob once known); a *record* (``model.MessageRecord``) is one message of the
snapshot, built from all its entries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from archiver.labels import FOLDER_LABEL, Role
from archiver.model import FolderState, MessageRecord
from archiver.ops.backup.keys import GenericKeys
from archiver.threads import ThreadIndex

TRASH, JUNK, ALL = Role.TRASH, Role.JUNK, Role.ALL


@dataclass(slots=True)
class Entry:
    """One message copy in one folder, as seen in this run."""

    uid: int
    size: int
    internaldate: int
    tz_minutes: int
    flags: tuple[str, ...]
    message_id: str | None = None
    gm_msgid: int | None = None
    gm_thrid: int | None = None
    gm_labels: tuple[str, ...] = ()
    blob_id: str | None = None
    thread_id: str | None = None
    """Known thread key (Gmail: X-GM-THRID; generic: from the previous snapshot or the body)."""

    @property
    def key(self) -> str | None:
        """Gmail identity; generic entries get theirs from the blob at assembly time."""
        return f"gm:{self.gm_msgid}" if self.gm_msgid is not None else None


@dataclass(frozen=True)
class FolderPlan:
    """What to ask the server about one folder, given the last snapshot's view of it."""

    name: str
    remap: bool
    """No usable previous state (new folder or UIDVALIDITY changed): every UID needs its metadata."""
    new_uids: tuple[int, ...]
    kept_uids: tuple[int, ...]
    gone_uids: tuple[int, ...]
    changedsince: int | None
    """Refresh flags/labels of kept UIDs with CHANGEDSINCE this modseq; None: see ``refresh_all``."""
    refresh_all: bool
    """Re-fetch flags/labels of every kept UID (no CONDSTORE)."""


def plan_folder(name: str, prev: FolderState | None, prev_uids: Iterable[int], uidvalidity: int,
                highestmodseq: int | None, current_uids: Iterable[int]) -> FolderPlan:
    """Compare the server's folder now with the previous snapshot's state of it.

    New UIDs are the set difference, not ``>= uidnext``, so a resumed run (whose checkpoint holds only
    part of a folder) fetches exactly what it lacks.
    """
    current = sorted(set(current_uids))
    known = set(prev_uids)
    if prev is None or prev.uidvalidity != uidvalidity:
        return FolderPlan(name, True, tuple(current), (), tuple(sorted(known)), None, False)
    cur = set(current)
    kept = tuple(u for u in current if u in known)
    gone = tuple(sorted(known - cur))
    new = tuple(u for u in current if u not in known)
    changedsince: int | None = None
    refresh_all = False
    if kept:
        if prev.highestmodseq is not None and highestmodseq is not None:
            if highestmodseq != prev.highestmodseq:
                changedsince = prev.highestmodseq
        else:
            refresh_all = True
    return FolderPlan(name, False, new, kept, gone, changedsince, refresh_all)


# -- the previous snapshot ---------------------------------------------------------------------------------

@dataclass
class PreviousState:
    """The last snapshot of the account, indexed the ways planning needs."""

    folders: dict[str, FolderState] = field(default_factory=dict)
    by_key: dict[str, MessageRecord] = field(default_factory=dict)
    by_folder: dict[str, dict[int, MessageRecord]] = field(default_factory=dict)
    _remap_index: dict[str, dict[tuple[str | None, int], dict[str, MessageRecord]]] = field(
        default_factory=dict, repr=False)

    @classmethod
    def build(cls, folders: Iterable[FolderState], records: Iterable[MessageRecord]) -> PreviousState:
        state = cls(folders={f.name: f for f in folders})
        for rec in records:
            state.by_key[rec.key] = rec
            for folder, uid in rec.uids:
                state.by_folder.setdefault(folder, {})[uid] = rec
        return state

    def folder_by_role(self, role: str) -> FolderState | None:
        return next((f for f in self.folders.values() if f.role == role), None)

    def entry(self, folder: str, uid: int, role: str | None = None) -> Entry:
        """The entry a kept UID had, rebuilt from its record (Gmail: the role label taken back off)."""
        rec = self.by_folder[folder][uid]
        labels = rec.labels
        if rec.gm_msgid is not None:
            own = FOLDER_LABEL.get(role or "")
            labels = tuple(lb for lb in labels if lb != own)
        return Entry(uid=uid, size=rec.size, internaldate=rec.internaldate, tz_minutes=rec.tz_minutes,
                     flags=rec.flags, message_id=rec.message_id, gm_msgid=rec.gm_msgid,
                     gm_thrid=rec.gm_thrid, gm_labels=labels, blob_id=rec.blob_id, thread_id=rec.thread_id)

    def match_remapped(self, folder: str, entry: Entry) -> MessageRecord | None:
        """Generic UIDVALIDITY change: the old message this entry must be, or None.

        Matched when exactly one body among the folder's previous messages has this (Message-ID, size); a
        message without Message-ID must also have the same INTERNALDATE.  Anything ambiguous returns None
        and the body is downloaded instead (a record keeps the INTERNALDATE of one of its copies only, so
        dates cannot tell look-alikes apart).
        """
        index = self._remap_index.get(folder)
        if index is None:
            index = self._remap_index[folder] = {}
            for rec in self.by_folder.get(folder, {}).values():
                index.setdefault((rec.message_id, rec.size), {})[rec.blob_id] = rec
        found = index.get((entry.message_id, entry.size), {})
        if len(found) != 1:
            return None
        rec = next(iter(found.values()))
        if entry.message_id is None and rec.internaldate != entry.internaldate:
            return None
        return rec


# -- records -------------------------------------------------------------------------------------------------

def clean_flags(flags: Iterable[str]) -> tuple[str, ...]:
    """Sorted, de-duplicated, without ``\\Recent`` (a session property, not the message's)."""
    return tuple(sorted({f for f in flags if f.lower() != "\\recent"}))


def assemble_gmail(folders: Mapping[str, tuple[str | None, Sequence[Entry]]]) -> list[MessageRecord]:
    """Gmail records: one per X-GM-MSGID over All Mail / Trash / Spam; only entries with a known blob.

    ``folders`` maps folder name -> (SPECIAL-USE role, entries).  Labels are the X-GM-LABELS plus
    ``\\Trash`` / ``\\Spam`` for a copy in those folders; flags are the union over copies.
    """
    copies: dict[str, list[tuple[str, str | None, Entry]]] = defaultdict(list)
    for name, (role, entries) in folders.items():
        for e in entries:
            if e.blob_id is not None and e.key is not None:
                copies[e.key].append((name, role, e))
    records = []
    for key, seen in copies.items():
        first = min(seen, key=lambda c: (c[1] != ALL, c[0]))[2]
        labels: set[str] = set()
        flags: set[str] = set()
        for _name, role, e in seen:
            labels.update(e.gm_labels)
            if role in FOLDER_LABEL:
                labels.add(FOLDER_LABEL[role].value)
            flags.update(e.flags)
        assert first.blob_id is not None
        records.append(MessageRecord(
            key=key, blob_id=first.blob_id, size=first.size, internaldate=first.internaldate,
            tz_minutes=first.tz_minutes, flags=clean_flags(flags), labels=tuple(sorted(labels)),
            thread_id=str(first.gm_thrid) if first.gm_thrid is not None else key,
            message_id=first.message_id, uids=tuple(sorted((n, e.uid) for n, _r, e in seen)),
            gm_msgid=first.gm_msgid, gm_thrid=first.gm_thrid))
    return sorted(records, key=lambda r: r.key)


def generic_key(blob_id: str, n: int) -> str:
    """``h:<blob>`` for the first byte-identical copy in a folder, ``h:<blob>#n`` for the n-th."""
    return f"h:{blob_id}" if n == 1 else f"h:{blob_id}#{n}"


def assemble_generic(folders: Mapping[str, Sequence[Entry]], threads: ThreadIndex,
                     refs: Mapping[str, Sequence[str]], keys: GenericKeys | None = None
                     ) -> list[MessageRecord]:
    """Generic records: copies of the same bytes in different folders are one message labelled with
    every folder name; the n-th identical copy within one folder (by UID order) is message ``#n``.

    ``refs`` gives the References/In-Reply-To ids of blobs read in this run, for entries without a
    known thread; ``threads`` is seeded with the previous snapshot's threads.  ``keys`` names each
    (blob, n) (keys.py: ``n:<number>``); without it, messages are named ``h:<blob>#n`` as in format v1.
    """
    grouped: dict[str, list[tuple[str, Entry]]] = defaultdict(list)
    named: dict[str, str] = {}
    for name in sorted(folders):
        per_blob: dict[str, int] = defaultdict(int)
        for e in sorted(folders[name], key=lambda x: x.uid):
            if e.blob_id is None:
                continue
            per_blob[e.blob_id] += 1
            group = generic_key(e.blob_id, per_blob[e.blob_id])
            if keys is not None and group not in named:
                named[group] = keys.key(e.blob_id, per_blob[e.blob_id])
            grouped[group].append((name, e))
    # thread keys: known ones kept; new messages oldest first, so parents usually come first
    thread_of: dict[str, str] = {}
    for key, seen in grouped.items():
        known = next((e.thread_id for _n, e in seen if e.thread_id), None)
        if known:
            thread_of[key] = known
    unknown = [(k, v) for k, v in grouped.items() if k not in thread_of]
    for key, seen in sorted(unknown, key=lambda kv: (kv[1][0][1].internaldate, kv[0])):
        e = seen[0][1]
        assert e.blob_id is not None
        thread_of[key] = threads.assign(e.message_id, refs.get(e.blob_id, ()), e.blob_id)
    records = []
    for key, seen in grouped.items():
        name, e = seen[0]
        assert e.blob_id is not None
        flags: tuple[str, ...]
        labels: tuple[str, ...]
        uids: tuple[tuple[str, int], ...]
        if len(seen) == 1:  # the common case: one copy, its flags already clean
            flags, labels, uids = e.flags, (name,), ((name, e.uid),)
        else:
            flags = clean_flags(f for _n, c in seen for f in c.flags)
            labels = tuple(sorted({n for n, _c in seen}))
            uids = tuple(sorted((n, c.uid) for n, c in seen))
        records.append(MessageRecord(
            key=named.get(key, key), blob_id=e.blob_id, size=e.size, internaldate=e.internaldate,
            tz_minutes=e.tz_minutes,
            flags=flags, labels=labels, thread_id=thread_of[key], message_id=e.message_id, uids=uids))
    records.sort(key=lambda r: r.key)
    return records


@dataclass(frozen=True)
class Counts:
    """How the new snapshot differs from the previous one, by key."""

    new: int
    changed: int
    deleted: int


def diff_counts(prev: Mapping[str, MessageRecord], records: Iterable[MessageRecord]) -> Counts:
    """New / changed (labels, flags or thread) / deleted messages between two snapshots."""
    new = changed = 0
    seen = set()
    for rec in records:
        seen.add(rec.key)
        old = prev.get(rec.key)
        if old is None:
            new += 1
        elif (old.labels, old.flags, old.thread_id) != (rec.labels, rec.flags, rec.thread_id):
            changed += 1
    return Counts(new, changed, len(set(prev) - seen))


class LiveRecords:
    """The records of every entry whose body is known, kept current as bodies arrive, so a checkpoint
    costs no full re-assembly.  A message is recomputed alone: its X-GM-MSGID (Gmail) or its blob (others:
    all copies of the same bytes, whose ``#n`` keys depend on each other)."""

    def __init__(self, folders: Mapping[str, tuple[str | None, Mapping[int, Entry]]], *, gmail: bool,
                 threads: ThreadIndex, refs: Mapping[str, Sequence[str]],
                 keys: GenericKeys | None = None) -> None:
        self._gmail = gmail
        self._names = keys
        self._roles = {name: role for name, (role, _e) in folders.items()}
        self._threads = threads
        self._refs = refs
        self._groups: dict[str, list[tuple[str, Entry]]] = defaultdict(list)
        for name, (_role, entries) in folders.items():
            for e in entries.values():
                group = self._group(e)
                if group is not None:
                    self._groups[group].append((name, e))
        self._keys: dict[str, list[str]] = defaultdict(list)
        self._records: dict[str, MessageRecord] = {}
        self._dirty: set[str] = set(self._groups)  # rebuilt only when records() is asked for

    def _group(self, e: Entry) -> str | None:
        return e.key if self._gmail else e.blob_id

    def stored(self, folder: str, entry: Entry) -> None:
        """``entry`` (of ``folder``) just got its blob: refresh the records of its message."""
        group = self._group(entry)
        if group is None:
            return
        members = self._groups[group]
        if not any(e is entry for _n, e in members):
            members.append((folder, entry))
        self._dirty.add(group)

    def _rebuild(self, group: str) -> None:
        for key in self._keys.pop(group, []):
            self._records.pop(key, None)
        members = self._groups[group]
        recs: list[MessageRecord]
        if self._gmail:
            by_folder: dict[str, tuple[str | None, list[Entry]]] = {}
            for name, e in members:
                by_folder.setdefault(name, (self._roles.get(name), []))[1].append(e)
            recs = assemble_gmail(by_folder)
        else:
            plain: dict[str, list[Entry]] = defaultdict(list)
            for name, e in members:
                plain[name].append(e)
            recs = assemble_generic(plain, self._threads, self._refs, self._names)
        for rec in recs:
            self._records[rec.key] = rec
            self._keys[group].append(rec.key)

    def records(self) -> list[MessageRecord]:
        # in folder and UID order: new keys are numbered so (keys.py), neighbours share a manifest leaf
        for group in sorted(self._dirty, key=lambda g: min((n, e.uid) for n, e in self._groups[g])):
            self._rebuild(group)
        self._dirty.clear()
        return list(self._records.values())
