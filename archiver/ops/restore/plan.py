"""Restore planning: snapshot records + a survey of the target + the journal -> one action per message.

Pure logic, no I/O: the executors (``restore_gmail``, ``restore_generic``) survey the server, answer the
content questions this module asks (``content_questions``), then call ``plan_gmail`` / ``plan_generic`` and
carry the actions out.  Keeping the decisions here makes each case of gmail-imap.md section 4.4 unit-testable.

Matching rule (both targets): a target copy *is* an archived message when it has the same Message-ID (or
both have none) and the same content: same size, and the SHA-256 of the bytes the server serves equals the
blob id (or the blob's ``served_form``: Dovecot serves bare CR/LF as CRLF and NUL as 0x80).  Each target copy
satisfies at most one record, so byte-identical duplicates in the snapshot come back as duplicates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from archiver.filters import MessageFilter
from archiver.labels import LOCATION_LABELS, SystemLabel
from archiver.mail import fold_ws
from archiver.model import MessageRecord

# -- what the executors tell the planner ----------------------------------------------------------------

ALL, TRASH, SPAM, FOLDER = "all", "trash", "spam", "folder"
"""Kinds of target location: Gmail's All Mail / Trash / Spam, or an ordinary folder of a generic server."""

NEVER_RESTORED_FLAGS = frozenset({"\\Deleted", "\\Recent"})


@dataclass(frozen=True, slots=True)
class TargetCopy:
    """One message the survey found on the target (one UID in one folder)."""

    folder: str
    kind: str
    uid: int
    size: int
    message_id: str | None
    flags: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    """Gmail: X-GM-LABELS (fetched in All Mail; Trash/Spam copies may carry none)."""
    gm_msgid: int | None = None


@dataclass(frozen=True, slots=True)
class JournalHit:
    """A restore-journal entry: this archived message was confirmed on the target as ``ref``."""

    key: str
    blob_id: str
    gm_msgid: int | None = None
    folder: str | None = None
    uidvalidity: int | None = None
    uid: int | None = None


def ref(copy: TargetCopy) -> tuple[str, int]:
    return (copy.folder, copy.uid)


# -- what the planner decides -----------------------------------------------------------------------------

UPLOAD, RELABEL, UNTRASH, PRESENT = "upload", "relabel", "untrash", "present"
CONFLICT, CANNOT = "conflict", "cannot"


@dataclass(slots=True)
class Action:
    """What to do for one archived message.

    kind: ``upload`` (APPEND; ``rewrite_id`` set when the policy rewrites the Message-ID), ``relabel`` (a copy
    in All Mail / a folder lacks labels, folders or flags), ``untrash`` (the only copy is in Trash/Spam),
    ``present`` (nothing to do), ``conflict`` (a different message holds this Message-ID and the policy is
    ``skip``), ``cannot`` (refused before trying: too big, NUL bytes).
    """

    kind: str
    record: MessageRecord
    copy: TargetCopy | None = None
    add_labels: tuple[str, ...] = ()
    add_flags: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    """Generic targets: every folder the message must be in; ``missing`` those it is not in yet."""
    missing: tuple[str, ...] = ()
    location: str = ALL
    """Gmail: where an upload goes (``all``, ``trash``, ``spam``)."""
    conflict_with: TargetCopy | None = None
    rewrite_id: str | None = None
    reason: str = ""
    fix_flags: tuple[tuple[str, int, tuple[str, ...]], ...] = ()
    """Generic targets: (folder, uid, flags to add) for copies already there that lack some flags."""


@dataclass(slots=True)
class Plan:
    actions: list[Action] = field(default_factory=list)

    def of(self, kind: str) -> list[Action]:
        return [a for a in self.actions if a.kind == kind]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for a in self.actions:
            out[a.kind] += 1
        return dict(out)


# -- selection and ordering -------------------------------------------------------------------------------


def select(records: Iterable[MessageRecord], where: MessageFilter | None = None,
           seen_labels: set[str] | None = None) -> list[MessageRecord]:
    """The records ``where`` keeps, oldest INTERNALDATE first (so Gmail threads them as they came); every
    label read is added to ``seen_labels`` when given."""
    out = list((where or MessageFilter()).apply(records, seen_labels))
    out.sort(key=lambda r: (r.internaldate, r.key))
    return out


def restorable_flags(record: MessageRecord) -> tuple[str, ...]:
    """The flags an upload carries: never ``\\Deleted`` (Gmail deletes it right after) nor ``\\Recent``."""
    return tuple(f for f in record.flags if f not in NEVER_RESTORED_FLAGS)


def rewritten_message_id(record: MessageRecord) -> str:
    """The deterministic Message-ID of policy ``rewrite-message-id``: ``<restored.<blob16>.<original>>``."""
    original = (record.message_id or "").strip()
    if original.startswith("<") and original.endswith(">"):
        original = original[1:-1]
    original = "".join(original.split()) or "none"
    return f"<restored.{record.blob_id[:16]}.{original}>"


# -- the target index ---------------------------------------------------------------------------------------


class TargetIndex:
    """The survey, indexed by Message-ID and by identity, with a record of which copies are taken."""

    def __init__(self, copies: Iterable[TargetCopy]) -> None:
        self.copies = list(copies)
        self.by_mid: dict[str | None, list[TargetCopy]] = defaultdict(list)
        self.by_size: dict[tuple[str | None, int], list[TargetCopy]] = defaultdict(list)
        self.by_ref: dict[tuple[str, int], TargetCopy] = {}
        self.by_gm: dict[int, list[TargetCopy]] = defaultdict(list)
        for c in self.copies:
            self.by_mid[mid_key(c.message_id)].append(c)
            self.by_size[(mid_key(c.message_id), c.size)].append(c)
            self.by_ref[ref(c)] = c
            if c.gm_msgid is not None:
                self.by_gm[c.gm_msgid].append(c)
        self.none_sizes = sorted(c.size for c in self.by_mid.get(None, ()))
        """Sizes of the copies without a Message-ID, sorted."""
        self.taken: set[tuple[str, int]] = set()
        self.taken_gm: set[int] = set()

    def candidates(self, message_id: str | None, sizes: Iterable[int]) -> list[TargetCopy]:
        """Copies with this Message-ID (or none) and one of these sizes (no scan of all copies)."""
        mid = mid_key(message_id)
        return [c for size in dict.fromkeys(sizes) for c in self.by_size.get((mid, size), ())]

    def free(self, copy: TargetCopy) -> bool:
        if copy.gm_msgid is not None:
            return copy.gm_msgid not in self.taken_gm
        return ref(copy) not in self.taken

    def take(self, copy: TargetCopy) -> None:
        self.taken.add(ref(copy))
        if copy.gm_msgid is not None:
            self.taken_gm.add(copy.gm_msgid)


def mid_key(message_id: str | None) -> str | None:
    """How Message-IDs are compared with the target's: whitespace folded (``mail.fold_ws``); None if empty."""
    return fold_ws(message_id) or None if message_id is not None else None


def content_questions(records: Sequence[MessageRecord], index: TargetIndex,
                      alt_sizes: Mapping[str, int] | None = None,
                      rewrite: bool = False) -> list[tuple[MessageRecord, TargetCopy]]:
    """The (record, copy) pairs whose content must be compared (same Message-ID, compatible size).

    The executor fetches those copies' bodies and hashes them: ``digests[(folder, uid)] = blob id``
    (``Archive.content_id``).
    With ``rewrite`` it also asks about copies holding a record's rewritten Message-ID (a previous run's).
    """
    out: list[tuple[MessageRecord, TargetCopy]] = []
    for r in records:
        for c in index.candidates(r.message_id, _sizes(r, alt_sizes or {})):
            out.append((r, c))
        if rewrite and r.message_id is not None:
            for c in index.by_mid.get(rewritten_message_id(r), ()):
                out.append((r, c))
    return out


def _sizes(r: MessageRecord, alt_sizes: Mapping[str, int]) -> tuple[int, ...]:
    alt = alt_sizes.get(r.blob_id)
    return (r.size,) if alt is None else (r.size, alt)


@dataclass(frozen=True, slots=True)
class Evidence:
    """The answers to the content questions, and the journal."""

    digests: Mapping[tuple[str, int], str] = field(default_factory=dict)
    """SHA-256 of the bytes the target serves for (folder, uid)."""
    alt_ids: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Other digests that count as the same content as a blob (its CRLF form; its rewritten form)."""
    journal: Mapping[str, Sequence[JournalHit]] = field(default_factory=dict)
    """Journal hits by record key."""
    alt_sizes: Mapping[str, int] = field(default_factory=dict)
    """The size of a blob's CRLF form where it differs (what Dovecot would report)."""

    def sizes(self, r: MessageRecord) -> tuple[int, ...]:
        return _sizes(r, self.alt_sizes)

    def same(self, r: MessageRecord, c: TargetCopy) -> bool:
        d = self.digests.get(ref(c))
        return d is not None and (d == r.blob_id or d in self.alt_ids.get(r.blob_id, frozenset()))


# -- Gmail --------------------------------------------------------------------------------------------------


def gmail_location(labels: Iterable[str]) -> str:
    s = set(labels)
    return TRASH if SystemLabel.TRASH in s else SPAM if SystemLabel.SPAM in s else ALL


def plan_gmail(records: Sequence[MessageRecord], index: TargetIndex, evidence: Evidence, *,
               wanted_labels: Mapping[str, tuple[str, ...]], policy: str) -> Plan:
    """One action per record for a Gmail target (see module docstring for the matching rule).

    ``wanted_labels[key]``: the target labels of a record (mapped; ``\\Trash``/``\\Spam`` say where it goes).
    Restore only adds: it never removes a label or a flag, and never trashes a message the target keeps.
    """
    plan = Plan()
    uploading: dict[str, Action] = {}  # Message-ID -> the upload of this plan that will hold it
    for r in records:
        wanted = wanted_labels.get(r.key, ())
        location = gmail_location(wanted)
        labels = tuple(x for x in wanted if x not in LOCATION_LABELS)
        copy = _journal_copy_gmail(r, index, evidence) or _find_same(r, index, evidence)
        if copy is None and policy == "rewrite-message-id":
            copy = _find_rewritten(r, index, evidence)
        if copy is not None:
            index.take(copy)
            plan.actions.append(_existing_gmail(r, copy, index, labels, location))
            continue
        held = _held_gmail(r, index, evidence)
        if held is not None:  # a byte-identical duplicate of a message there: Gmail holds it once
            plan.actions.append(_existing_gmail(r, held, index, labels, location))
            continue
        other = _conflicting(r, index, evidence)
        first = uploading.get(r.message_id) if r.message_id is not None else None
        if other is None and first is not None and first.record.blob_id == r.blob_id:
            # a byte-identical copy of a message this plan uploads: Gmail keeps one; merge the labels
            first.add_labels = tuple(dict.fromkeys((*first.add_labels, *labels)))
            plan.actions.append(Action(PRESENT, r, reason=f"byte-identical duplicate of {first.record.key}"))
            continue
        action = Action(UPLOAD, r, add_labels=labels, add_flags=restorable_flags(r), location=location)
        if other is None and first is not None:
            other = TargetCopy(folder="", kind="planned", uid=0, size=first.record.size,
                               message_id=r.message_id)
        if other is None and r.message_id is not None:
            uploading[r.message_id] = action
        if other is not None:
            action.conflict_with = other
            if policy == "skip":
                action.kind = CONFLICT
                action.reason = "a different message with this Message-ID is on the target"
            elif policy == "rewrite-message-id":
                action.rewrite_id = rewritten_message_id(r)
                action.reason = "uploaded with a rewritten Message-ID (original kept in a header)"
            else:
                action.reason = "uploaded as is although the target holds this Message-ID (force)"
        plan.actions.append(action)
    return plan


def _journal_copy_gmail(r: MessageRecord, index: TargetIndex, ev: Evidence) -> TargetCopy | None:
    for hit in ev.journal.get(r.key, ()):
        if hit.blob_id == r.blob_id and hit.gm_msgid is not None:
            copies = index.by_gm.get(hit.gm_msgid, [])
            if copies and index.free(copies[0]):
                return _best(copies)
    return None


def _best(copies: Sequence[TargetCopy]) -> TargetCopy:
    """The All Mail copy of a Gmail message if any (labels are fetched there), else the first."""
    return next((c for c in copies if c.kind == ALL), copies[0])


def _find_same(r: MessageRecord, index: TargetIndex, ev: Evidence) -> TargetCopy | None:
    for c in index.candidates(r.message_id, ev.sizes(r)):
        if index.free(c) and ev.same(r, c):
            return _best(index.by_gm[c.gm_msgid]) if c.gm_msgid is not None else c
    return None


def _held_gmail(r: MessageRecord, index: TargetIndex, ev: Evidence) -> TargetCopy | None:
    """A claimed copy with this record's Message-ID and content: Gmail holds one message per Message-ID."""
    if r.message_id is None:
        return None
    for hit in ev.journal.get(r.key, ()):
        if hit.blob_id == r.blob_id and hit.gm_msgid is not None and index.by_gm.get(hit.gm_msgid):
            return _best(index.by_gm[hit.gm_msgid])
    for c in index.candidates(r.message_id, ev.sizes(r)):
        if ev.same(r, c):
            return _best(index.by_gm[c.gm_msgid]) if c.gm_msgid is not None else c
    return None


def _find_rewritten(r: MessageRecord, index: TargetIndex, ev: Evidence) -> TargetCopy | None:
    if r.message_id is None:
        return None
    for c in index.by_mid.get(rewritten_message_id(r), ()):
        if index.free(c) and ev.same(r, c):
            return _best(index.by_gm[c.gm_msgid]) if c.gm_msgid is not None else c
    return None


def _conflicting(r: MessageRecord, index: TargetIndex, ev: Evidence) -> TargetCopy | None:
    """A copy with the record's Message-ID but other content (Gmail would drop our upload for it)."""
    if r.message_id is None:
        return None
    for c in index.by_mid.get(mid_key(r.message_id), ()):
        if not ev.same(r, c):
            return c
    return None


def _existing_gmail(r: MessageRecord, copy: TargetCopy, index: TargetIndex, labels: tuple[str, ...],
                    location: str) -> Action:
    all_copies = index.by_gm.get(copy.gm_msgid, [copy]) if copy.gm_msgid is not None else [copy]
    kinds = {c.kind for c in all_copies}
    have_labels = set().union(*(c.labels for c in all_copies))
    have_flags = set().union(*(c.flags for c in all_copies))
    add_labels = tuple(x for x in labels if x not in have_labels)
    add_flags = tuple(f for f in restorable_flags(r) if f not in have_flags)
    if location == ALL and ALL not in kinds:
        return Action(UNTRASH, r, copy=copy, add_labels=labels, add_flags=restorable_flags(r))
    if add_labels or add_flags:
        return Action(RELABEL, r, copy=copy, add_labels=add_labels, add_flags=add_flags)
    return Action(PRESENT, r, copy=copy)


# -- generic servers ---------------------------------------------------------------------------------------


def plan_generic(records: Sequence[MessageRecord], index: TargetIndex, evidence: Evidence, *,
                 wanted_folders: Mapping[str, tuple[str, ...]]) -> Plan:
    """One action per record for an ordinary IMAP server: labels are folders.

    A message is in a folder when a copy there matches (journal hit with a live UID, or same Message-ID and
    content).  ``upload`` = APPEND to the first missing folder and COPY to the rest; ``relabel`` = COPY from a
    folder that has it into the missing ones.  Generic servers do not de-duplicate, so there is no conflict.
    """
    plan = Plan()
    for r in records:
        folders = wanted_folders.get(r.key, ())
        present: dict[str, TargetCopy] = {}
        for hit in evidence.journal.get(r.key, ()):
            if hit.folder is None or hit.uid is None or hit.folder in present or hit.blob_id != r.blob_id:
                continue
            c = index.by_ref.get((hit.folder, hit.uid))
            if c is not None and index.free(c):
                present[hit.folder] = c
        for c in index.candidates(r.message_id, evidence.sizes(r)):
            if c.folder in folders and c.folder not in present and index.free(c) and evidence.same(r, c):
                present[c.folder] = c
        for c in present.values():
            index.take(c)
        missing = tuple(f for f in folders if f not in present)
        wanted_flags = restorable_flags(r)
        fix = tuple((c.folder, c.uid, lack) for c in present.values()
                    if (lack := tuple(f for f in wanted_flags if f not in c.flags)))
        if not missing and not fix:
            plan.actions.append(Action(PRESENT, r, copy=next(iter(present.values()), None), folders=folders))
        elif present:
            src = next(iter(present.values()))
            plan.actions.append(Action(RELABEL, r, copy=src, folders=folders, missing=missing, fix_flags=fix))
        else:
            plan.actions.append(Action(UPLOAD, r, folders=folders, missing=missing,
                                       add_flags=restorable_flags(r)))
    return plan
