"""Restore into Gmail (X-GM-EXT-1): survey All Mail/Trash/Spam, plan, then untrash, relabel and upload.

Every upload is checked against what the server then holds (APPENDUID -> X-GM-MSGID and size; an OK without
APPENDUID is resolved by a search) before it is journalled and counted; an upload Gmail silently merged into
a message it already had (same Message-ID) is reported, never counted.  Labels go on in batches per label
set with ``UID STORE +X-GM-LABELS.SILENT``, nested parents created first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from archiver.errors import CapabilityMissing
from archiver.imap import Session
from archiver.imap.records import AppendRefused, MessageMeta
from archiver.labels import Role
from archiver.model import MessageRecord
from archiver.ops.restore.executor import RunContext, Upload, announced_appendlimit, cannot_reason, chunks
from archiver.ops.restore.plan import (
    ALL,
    CONFLICT,
    PRESENT,
    RELABEL,
    SPAM,
    TRASH,
    UNTRASH,
    UPLOAD,
    Action,
    Evidence,
    TargetCopy,
    TargetIndex,
    content_questions,
    plan_gmail,
)
from archiver.ops.restore.rewrite import gmail_labels_for, label_parents, rewrite_message_id
from archiver.ops.restore.survey import alternates, digests_of, entry, survey_folder

BATCH = 50
GMAIL_APPENDLIMIT = 35651584


def run_gmail(session: Session, ctx: RunContext, records: Sequence[MessageRecord]) -> None:
    """Restore ``records`` (oldest first) into the Gmail account of ``session``."""
    ctx.rw_selected = None
    listed = session.folders()
    folders = {f.role: f.name for f in listed if f.role and f.selectable}
    all_mail = folders.get(Role.ALL)
    if all_mail is None:
        raise CapabilityMissing("the target shows no All Mail folder (\\All)",
                                hint="enable 'Show in IMAP' for All Mail in Gmail's label settings")
    places = {ALL: all_mail, TRASH: folders.get(Role.TRASH), SPAM: folders.get(Role.JUNK)}
    ctx.existing_folders = {f.name for f in listed}
    copies: list[TargetCopy] = []
    for kind, name in places.items():
        if name is not None:
            copies.extend(survey_folder(session, name, kind)[1])
    index = TargetIndex(copies)
    rewrite = ctx.policy == "rewrite-message-id"
    unsure = [r for r in records if not any(h.blob_id == r.blob_id and h.gm_msgid in index.by_gm
                                            for h in ctx.journal_hits.get(r.key, ()))]
    alts = alternates(ctx.archive, unsure, index, rewrite=rewrite)
    questions = content_questions(unsure, index, alts.sizes, rewrite=rewrite)
    digests = digests_of(session, {c for _, c in questions}, ctx.archive.content_id)
    roles = {f.name: f.role for f in ctx.snapshot.folders}
    wanted = {r.key: gmail_labels_for(r, roles) for r in records}
    evidence = Evidence(digests, alts.ids, ctx.journal_hits, alts.sizes)
    plan = plan_gmail(records, index, evidence, wanted_labels=wanted, policy=ctx.policy)
    ctx.report_conflicts(plan)
    if ctx.dry_run:
        ctx.report_plan(plan, appendlimit=_appendlimit(session), refuses_nul=True)
        return
    known = {c.gm_msgid for c in copies if c.gm_msgid is not None}
    ctx.progress.start("restore", total=len(plan.actions))
    for a in plan.of(PRESENT) + plan.of(CONFLICT):
        if a.kind == PRESENT and not ctx.found_own(a.record.key):
            ctx.result.already_present += 1
        ctx.done(a.record.key)
        ctx.progress.advance()
    _untrash(session, ctx, plan.of(UNTRASH), all_mail)
    _relabel(session, ctx, [(a, a.copy.uid) for a in plan.of(RELABEL) if a.copy is not None], all_mail)
    _upload(session, ctx, plan.of(UPLOAD), places, known)
    ctx.progress.finish()


def _open(session: Session, ctx: RunContext, folder: str) -> None:
    """Select ``folder`` read-write unless this session already has it so (re-selecting All Mail is slow)."""
    current = session.selected
    if current is None or current.name != folder or ctx.rw_selected != (id(session), folder):
        session.select(folder, readonly=False)
        ctx.rw_selected = (id(session), folder)


def _appendlimit(session: Session) -> int:
    announced = announced_appendlimit(session.capabilities)
    return GMAIL_APPENDLIMIT if announced is None else announced


# -- labels, flags, Trash ----------------------------------------------------------------------------------


def _ensure_labels(session: Session, ctx: RunContext, labels: Sequence[str]) -> None:
    for name in label_parents(labels):
        if name not in ctx.existing_folders:
            session.create_folder(name)
            ctx.existing_folders.add(name)


def _apply(session: Session, ctx: RunContext, items: Sequence[tuple[Action, int]]) -> None:
    """Add each action's labels and flags to its UID in the selected folder, batched per label/flag set."""
    by_labels: dict[tuple[str, ...], list[int]] = defaultdict(list)
    by_flags: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for a, uid in items:
        if a.add_labels:
            by_labels[tuple(sorted(a.add_labels))].append(uid)
        if a.add_flags:
            by_flags[tuple(sorted(a.add_flags))].append(uid)
    _ensure_labels(session, ctx, sorted({x for labels in by_labels for x in labels}))
    for labels, uids in by_labels.items():
        session.store_labels(uids, labels, "+")
    for flags, uids in by_flags.items():
        session.store_flags(uids, flags, "+")


def _relabel(session: Session, ctx: RunContext, items: Sequence[tuple[Action, int]], folder: str) -> None:
    if not items:
        return
    _open(session, ctx, folder)
    for part in chunks(list(items), 500):
        _apply(session, ctx, part)
        for a, _ in part:
            gm = a.copy.gm_msgid if a.copy is not None else None
            ctx.journal_append(entry("relabel", a.record, gm=gm))
            if not ctx.found_own(a.record.key):
                ctx.result.relabelled += 1
            ctx.done(a.record.key)
            ctx.progress.advance()


def _untrash(session: Session, ctx: RunContext, actions: Sequence[Action], all_mail: str) -> None:
    """Bring Trash/Spam copies back to All Mail (COPY into All Mail is how Gmail un-trashes), then label."""
    by_folder: dict[str, list[Action]] = defaultdict(list)
    for a in actions:
        if a.copy is not None:
            by_folder[a.copy.folder].append(a)
    moved: list[tuple[Action, int]] = []
    for folder, group in by_folder.items():
        session.select(folder, readonly=False)
        session.copy([a.copy.uid for a in group if a.copy is not None], all_mail)
    if not by_folder:
        return
    _open(session, ctx, all_mail)
    session.noop()
    for a in actions:
        gm = a.copy.gm_msgid if a.copy is not None else None
        uids = session.search_uids(f"X-GM-MSGID {gm}") if gm is not None else []
        if not uids:
            ctx.fail(a.record, "the copy in Trash/Spam did not come back to All Mail")
            continue
        moved.append((a, uids[-1]))
    _apply(session, ctx, moved)
    for a, _ in moved:
        ctx.journal_append(entry("untrash", a.record, gm=a.copy.gm_msgid if a.copy else None))
        if not ctx.found_own(a.record.key):
            ctx.result.untrashed += 1
        ctx.done(a.record.key)
        ctx.progress.advance()


# -- uploads -----------------------------------------------------------------------------------------------


def _upload(session: Session, ctx: RunContext, actions: Sequence[Action], places: dict[str, str | None],
            known: set[int]) -> None:
    limit = _appendlimit(session)
    for start in range(0, len(actions), BATCH):
        part = actions[start:start + BATCH]
        blobs = ctx.read_blobs([a.record.blob_id for a in part])
        by_dest: dict[str, list[Upload]] = defaultdict(list)
        for i, a in enumerate(part):
            data = blobs.get(a.record.blob_id)
            if data is None:
                ctx.fail(a.record, ctx.unreadable_reason(a.record.blob_id))
                ctx.progress.advance()
                continue
            if a.rewrite_id is not None:
                data = rewrite_message_id(data, a.rewrite_id)
            reason = cannot_reason(data, limit, refuses_nul=True)
            if reason is not None:
                ctx.fail(a.record, reason)
                ctx.progress.advance()
                continue
            if not ctx.budget_allows(len(data)):
                ctx.leave(actions[start + i:])
                break
            dest = places.get(a.location) or places[ALL] or ""
            try:
                res = session.append(dest, data, flags=list(a.add_flags), date=a.record.date)
            except AppendRefused as exc:
                ctx.fail(a.record, f"refused by the server: {exc.reason}")
                ctx.progress.advance()
                continue
            ctx.spent(len(data))
            ctx.unconfirmed[a.record.key] = len(data)
            by_dest[dest].append(Upload(a, data, res))
        for dest, ups in by_dest.items():
            _verify(session, ctx, dest, ups, known)
        if ctx.budget_exhausted:
            return


def _verify(session: Session, ctx: RunContext, folder: str, ups: Sequence[Upload], known: set[int]) -> None:
    """Check what the server holds for each upload; journal and count only what is really there."""
    _open(session, ctx, folder)
    session.noop()
    metas = {m.uid: m for m in session.fetch_meta([u.result.uid for u in ups if u.result.uid is not None])}
    good: list[tuple[Action, int]] = []
    for u in ups:
        meta = metas.get(u.result.uid) if u.result.uid is not None else _resolve(session, u, known)
        a = u.action
        if meta is None:
            ctx.fail(a.record, "the server answered OK but holds no such message (APPEND not confirmed)")
        elif meta.gm_msgid is not None and meta.gm_msgid in known:
            ctx.fail(a.record, "Gmail kept the message it already had with this Message-ID and dropped the "
                               "upload (silent de-duplication)")
        else:
            if meta.gm_msgid is not None:
                known.add(meta.gm_msgid)
            if meta.size != len(u.data):
                ctx.alter(a.record, f"the server holds {meta.size} bytes, the upload had {len(u.data)}")
            ctx.journal_append(entry("upload", a.record, nbytes=len(u.data), gm=meta.gm_msgid, folder=folder,
                                     uid=meta.uid))
            ctx.uploaded(a.record.key, len(u.data))
            ctx.done(a.record.key)
            good.append((a, meta.uid))
        ctx.progress.advance(1, len(u.data))
    _apply(session, ctx, [(a, uid) for a, uid in good if a.add_labels])


def _resolve(session: Session, u: Upload, known: set[int]) -> MessageMeta | None:
    """An OK without APPENDUID: find the new message by Message-ID (or, without one, among the newest)."""
    mid = u.message_id
    uids = session.search_message_id(mid) if mid else session.search_uids("ALL")[-20:]
    metas = session.fetch_meta(uids) if uids else []
    for m in reversed(metas):
        if m.size == len(u.data) and (m.gm_msgid is None or m.gm_msgid not in known):
            return m
    # only a known message answers: the server merged the upload into it
    return next((m for m in metas if m.gm_msgid in known), None) if mid else None

