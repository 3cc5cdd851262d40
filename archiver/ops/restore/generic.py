"""Restore into an ordinary IMAP server (Dovecot, Cyrus...): labels become folders.

Each message is APPENDed once, into the first folder it belongs in (an intent journalled first), checked
(APPENDUID -> size), journalled, then COPYed into its other folders (COPYUID journalled too).  A message
already in a folder (journal hit with the folder's current UIDVALIDITY, a copy an open intent left there, or
same Message-ID and content) is not sent again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from archiver.imap import Session
from archiver.imap.records import AppendRefused
from archiver.imap.upload import append_many, fetch_sizes
from archiver.model import MessageRecord
from archiver.ops.restore.executor import RunContext, Upload, announced_appendlimit, cannot_reason, chunks
from archiver.ops.restore.intent import intent_entry, reconcile, refused_entry
from archiver.ops.restore.parallel import abort_all, close_all, extra_sessions, run_streams, split
from archiver.ops.restore.plan import (
    FOLDER,
    PRESENT,
    RELABEL,
    UPLOAD,
    Action,
    Evidence,
    TargetCopy,
    TargetIndex,
    content_questions,
    plan_generic,
)
from archiver.ops.restore.rewrite import generic_folders_for, served_form
from archiver.ops.restore.strays import remove_strays, settle
from archiver.ops.restore.survey import alternates, digests_of, entry, survey_folder
from archiver.store.journal_records import Confirmation

BATCH = 500


def run_generic(session: Session, ctx: RunContext, records: Sequence[MessageRecord]) -> None:
    """Restore ``records`` (oldest first) into the folders of a non-Gmail server."""
    if not ctx.dry_run:
        settle(session, ctx)   # an interrupted attempt's batch may still be landing
    listed = session.folders()
    delimiter = next((f.delimiter for f in listed if f.delimiter), "/")
    target_roles = {f.role: f.name for f in listed if f.role and f.selectable}
    selectable = {f.name for f in listed if f.selectable}
    source_roles = {f.name: f.role for f in ctx.snapshot.folders}
    wanted = {r.key: generic_folders_for(r, source_roles=source_roles, target_roles=target_roles,
                                         delimiter=delimiter, default_folder=ctx.default_folder)
              for r in records}
    needed = sorted({f for folders in wanted.values() for f in folders})
    copies: list[TargetCopy] = []
    uidvalidity: dict[str, int] = {}
    for name in needed:
        if name in selectable:
            uidvalidity[name], found = survey_folder(session, name, FOLDER)
            copies.extend(found)
    index = TargetIndex(copies)
    hits = {k: [h for h in hs if h.folder is not None and uidvalidity.get(h.folder) == h.uidvalidity]
            for k, hs in ctx.journal_hits.items()}
    landed = reconcile(records, ctx.intents.open.values(), index, hits, uidvalidity)
    if landed and not ctx.dry_run:   # APPENDs an interrupted attempt sent but did not confirm
        ctx.journal_batch([entry("reconcile", rec, folder=hit.folder, uidvalidity=hit.uidvalidity,
                                 uid=hit.uid) for rec, hit in landed])
    for rec, hit in landed:
        hits.setdefault(rec.key, []).append(hit)
    unsure = [r for r in records  # the journal does not vouch for every folder: compare contents
              if not set(wanted[r.key]) <= {h.folder for h in hits.get(r.key, ())
                                            if h.blob_id == r.blob_id and (h.folder, h.uid) in index.by_ref}]
    alts = alternates(ctx.archive, unsure, index, rewrite=False)
    questions = content_questions(unsure, index, alts.sizes)
    digests = digests_of(session, {c for _, c in questions}, ctx.archive.content_id)
    plan = plan_generic(records, index, Evidence(digests, alts.ids, hits, alts.sizes), wanted_folders=wanted)
    if ctx.dry_run:
        ctx.report_plan(plan, appendlimit=announced_appendlimit(session.capabilities), refuses_nul=False)
        return
    ctx.progress.start("restore", total=len(plan.actions))
    for a in plan.of(PRESENT):
        if not ctx.found_own(a.record.key):
            ctx.result.already_present += 1
        ctx.done(a.record.key)
        ctx.progress.advance()
    for name in needed:
        if name not in selectable:
            session.create_folder(name)
        if name not in uidvalidity:
            uidvalidity[name] = session.select(name, readonly=True).uidvalidity
    relabel = [(a, a.copy.folder, a.copy.uid) for a in plan.of(RELABEL) if a.copy is not None]
    _add_flags(session, plan.of(RELABEL))          # first, so that the COPYs below carry them
    _copy_to_missing(session, ctx, relabel, uidvalidity)
    for a, *_ in relabel:
        if not ctx.found_own(a.record.key):
            ctx.result.relabelled += 1
        ctx.done(a.record.key)
        ctx.progress.advance()
    _upload(session, ctx, plan.of(UPLOAD), uidvalidity)
    remove_strays(session, ctx)
    ctx.progress.finish()


def _add_flags(session: Session, actions: Sequence[Action]) -> None:
    """Add the flags that copies already on the target lack (restore never removes one)."""
    groups: dict[tuple[str, tuple[str, ...]], list[int]] = defaultdict(list)
    for a in actions:
        for folder, uid, flags in a.fix_flags:
            groups[(folder, flags)].append(uid)
    for (folder, flags), uids in sorted(groups.items()):
        session.select(folder, readonly=False)
        session.store_flags(uids, flags, "+")


def _copy_to_missing(session: Session, ctx: RunContext, items: Sequence[tuple[Action, str, int]],
                     uidvalidity: dict[str, int]) -> None:
    """COPY each (action, folder, uid) into the action's folders it is not in yet; journal the COPYUIDs."""
    groups: dict[tuple[str, str], list[tuple[Action, int]]] = defaultdict(list)
    for a, src, uid in items:
        for dest in a.missing:
            if dest != src:
                groups[(src, dest)].append((a, uid))
    for (src, dest), members in groups.items():
        session.select(src, readonly=True)
        mapping = session.copy([uid for _, uid in members], dest)
        with ctx.lock:
            ctx.journal_batch([entry("copy", a.record, folder=dest, uidvalidity=uidvalidity.get(dest),
                                     uid=mapping.get(uid)) for a, uid in members])


def _upload(session: Session, ctx: RunContext, actions: Sequence[Action],
            uidvalidity: dict[str, int]) -> None:
    """APPEND ``actions`` in batches per first folder, over up to ``ctx.connections`` connections
    (``restore_parallel``: the streams split by Message-ID; one connection without UIDPLUS)."""
    by_first: dict[str, list[Action]] = defaultdict(list)
    for a in actions:
        by_first[a.missing[0]].append(a)
    limit = announced_appendlimit(session.capabilities)
    wanted = ctx.connections if "UIDPLUS" in session.capabilities else 1
    wanted = min(wanted, max(1, -(-len(actions) // BATCH)))
    extra = extra_sessions(ctx.open_session, wanted - 1)
    try:
        n = 1 + len(extra)
        streams: list[list[tuple[str, Sequence[Action]]]] = [[] for _ in range(n)]
        for folder, group in by_first.items():
            for k, share in enumerate(split(group, lambda a: a.record.message_id, n)):
                streams[k].extend((folder, part) for part in chunks(share, BATCH))
        run_streams([session, *extra], streams,
                    lambda s, job: _upload_batch(s, ctx, job[0], job[1], uidvalidity, limit))
    except KeyboardInterrupt:  # streams may be mid-command: drop their connections, wait for no answer
        abort_all(extra)
        raise
    except BaseException:
        close_all(extra)
        raise
    close_all(extra)


def _upload_batch(session: Session, ctx: RunContext, folder: str, part: Sequence[Action],
                  uidvalidity: dict[str, int], limit: int | None) -> None:
    """One batch: intents journalled, APPENDs sent, answers checked (``_verify``); ``ctx`` under its lock."""
    with ctx.lock:
        if ctx.budget_exhausted:
            ctx.leave(part)
            return
        blobs = ctx.read_blobs([a.record.blob_id for a in part])
        sendable: list[tuple[Action, bytes]] = []
        for a in part:
            data = blobs.get(a.record.blob_id)
            if data is None:
                ctx.fail(a.record, ctx.unreadable_reason(a.record.blob_id))
                continue
            reason = cannot_reason(data, limit, refuses_nul=False)
            if reason is not None:
                ctx.fail(a.record, reason)
            elif not ctx.budget_allows(len(data)):
                ctx.leave([a])
            else:
                sendable.append((a, data))
    if not sendable:
        return
    status = session.select(folder, readonly=True)
    with ctx.lock:
        uidvalidity[folder] = status.uidvalidity
        ctx.journal_intents([intent_entry(a.record, folder=folder, uidvalidity=status.uidvalidity,
                                          uidnext=status.uidnext, sizes=_sizes(a.record, d))
                             for a, d in sendable])
    items = [(d, list(a.add_flags), a.record.date) for a, d in sendable]

    def sent(start: int, end: int) -> None:
        with ctx.lock:
            ctx.journal_sent(folder, status.uidvalidity, [a.record.key for a, _ in sendable[start:end]])
            ctx.unconfirmed.update((a.record.key, len(d)) for a, d in sendable[start:end])

    answers = append_many(session, folder, items, sent)
    ups: list[Upload] = []
    with ctx.lock:
        ctx.journal_batch([refused_entry((a.record.key, folder, status.uidvalidity), a.record.blob_id)
                           for (a, _), answer in zip(sendable, answers, strict=True)
                           if isinstance(answer, AppendRefused)])
        for (a, data), answer in zip(sendable, answers, strict=True):
            if isinstance(answer, AppendRefused):
                ctx.fail(a.record, f"refused by the server: {answer.reason}")
                ctx.progress.advance()
            else:
                ctx.spent(len(data))
                ups.append(Upload(a, data, answer))
    _verify(session, ctx, folder, ups, uidvalidity)


def _sizes(record: MessageRecord, data: bytes) -> tuple[int, ...]:
    """The sizes an intent records: ``reconcile`` matches by size only messages without a Message-ID, so
    only theirs pay for ``served_form`` (a scan of every byte sent)."""
    return (len(data), len(served_form(data))) if record.message_id is None else (len(data),)


def _verify(session: Session, ctx: RunContext, folder: str, ups: Sequence[Upload],
            uidvalidity: dict[str, int]) -> None:
    if not ups:
        return
    status = session.select(folder, readonly=True)
    sizes = fetch_sizes(session, [u.result.uid for u in ups if u.result.uid is not None])
    with ctx.lock:
        uidvalidity[folder] = status.uidvalidity
        copied = _confirm(session, ctx, folder, status.uidvalidity, ups, sizes)
    _same_size_changes(session, ctx, ups, {a.record.key: uid for a, _, uid in copied}, sizes)
    _copy_to_missing(session, ctx, copied, uidvalidity)
    with ctx.lock:
        for a, _, _ in copied:
            ctx.done(a.record.key)
            ctx.progress.advance(1, a.record.size)


def _confirm(session: Session, ctx: RunContext, folder: str, uidvalidity: int, ups: Sequence[Upload],
             sizes: dict[int, int]) -> list[tuple[Action, str, int]]:
    """Journal the uploads the server holds (size compared); fail the others; (action, folder, uid) each."""
    entries: list[Confirmation] = []
    copied: list[tuple[Action, str, int]] = []
    taken: set[int] = set(sizes)
    for u in ups:
        a = u.action
        uid: int | None = u.result.uid
        size = sizes.get(uid) if uid is not None else None
        if uid is None and (found := _resolve(session, u, taken)) is not None:
            uid, size = found
        if uid is None or size is None:
            ctx.fail(a.record, "the server answered OK but holds no such message (APPEND not confirmed)")
            ctx.progress.advance()
            continue
        taken.add(uid)
        if size != len(u.data):
            ctx.alter(a.record, f"the server holds {size} bytes, the upload had {len(u.data)} "
                                "(it rewrote the message, e.g. its line endings)")
        entries.append(entry("upload", a.record, nbytes=len(u.data), folder=folder,
                             uidvalidity=uidvalidity, uid=uid))
        ctx.uploaded(a.record.key, len(u.data))
        copied.append((a, folder, uid))
    ctx.journal_batch(entries)
    return copied


def _same_size_changes(session: Session, ctx: RunContext, ups: Sequence[Upload], uids: dict[str, int],
                       sizes: dict[int, int]) -> None:
    """Uploads with NUL bytes held at the same size: compare the bytes the server serves (Dovecot turns NUL
    into 0x80, which a size check cannot see) and list a changed one as altered."""
    suspects = {uids[u.action.record.key]: u for u in ups if b"\0" in u.data
                and u.action.record.key in uids and sizes.get(uids[u.action.record.key]) == len(u.data)}
    if not suspects:
        return
    for uid, served in session.fetch_bodies(sorted(suspects)):
        u = suspects[uid]
        if served != u.data:
            nul = " (its NUL bytes turned into 0x80)" if served == u.data.replace(b"\0", b"\x80") else ""
            with ctx.lock:
                ctx.alter(u.action.record, f"the server holds other bytes at the same size{nul}")


def _resolve(session: Session, u: Upload, taken: set[int]) -> tuple[int, int] | None:
    """An OK without APPENDUID: (uid, size) of the newest unclaimed message with this Message-ID and size."""
    mid = u.message_id
    uids = session.search_message_id(mid) if mid else session.search_uids("ALL")[-20:]
    metas = session.fetch_meta([x for x in uids if x not in taken]) if uids else []
    return next(((m.uid, m.size) for m in reversed(metas) if m.size == len(u.data)), None)

