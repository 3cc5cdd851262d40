"""Rewrite messages in place on the server, and undo a rewrite.

The run: read the journal and finish what an interrupted run left half-done (before anything else, so that
no message stays off the server longer than one re-run); connect and survey the server; make sure the
archive holds every message the server has (else ``ensure_backup`` makes a snapshot first); pick the
snapshot's messages (labels, dates, search keys), oldest first so that a thread's replies follow their new
root; for each, compute the new bytes from the archived original and, if they differ, replace the message
on the server (``gmail`` / ``generic`` paths), every step journalled before and after it happens.

The output of an earlier run is never selected again, and a transform answers ``Unchanged`` for its own
output: a second run over the same selection changes nothing.  ``undo`` puts run RUN's originals back: the
same replacement, with the archived original as the new bytes and the run's output as the old copy.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import secrets
from collections.abc import Callable

from archiver import mail
from archiver.errors import ArchiverError, Cancelled, ConnectionLost, IntegrityError, UsageError
from archiver.filters import MessageFilter
from archiver.imap import ServerOptions
from archiver.imap.records import MessageMeta
from archiver.model import MessageRecord
from archiver.ops.rewrite.common import Context, Survey, digest
from archiver.ops.rewrite.generic import GenericTarget
from archiver.ops.rewrite.gmail import GmailTarget
from archiver.ops.rewrite.result import RewriteChange, RewriteProblem, RewriteResult
from archiver.ops.rewrite.state import Item, JournalState, journal_name, read_state
from archiver.ops.rewrite.transform import Failed, Rewritten, Transform, Unchanged, apply
from archiver.progress import NullProgress, Progress
from archiver.store import Archive, Snapshot
from archiver.store.rewrite_records import Begin, Done, Finish, Place, Start

log = logging.getLogger(__name__)
Target = GmailTarget | GenericTarget
BackupFirst = Callable[[], str]
"""Makes a snapshot of the account now and returns its id (the runner passes a backup)."""


def new_run_id(now: _dt.datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSS-xxxx``: sorts by time, names one run in ``--undo``."""
    now = now or _dt.datetime.now(_dt.UTC)
    return f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"


def run_rewrite(archive_path: str | os.PathLike[str], server: ServerOptions, transform: Transform | None, *,
                where: MessageFilter | None = None, undo: str | None = None, dry_run: bool = False,
                account: str | None = None, ensure_backup: BackupFirst | None = None,
                progress: Progress | None = None) -> RewriteResult:
    """Rewrite the selected messages with ``transform`` (or, with ``undo``, put run ``undo``'s originals
    back) on the server of ``server``.  Per-message problems are in the result; a server or archive failure
    is raised after the journal recorded every finished step (run again to finish)."""
    if (transform is None) == (undo is None):
        raise UsageError("give a transform or --undo RUN (one of them)")
    run = _Run(Archive.open(archive_path), server, transform, where or MessageFilter(), undo, dry_run,
               account, ensure_backup, progress or NullProgress())
    try:
        return run.execute()
    finally:
        run.archive.close()   # reopened after a backup-first: close the one open now


class _Run:
    def __init__(self, archive: Archive, server: ServerOptions, transform: Transform | None,
                 where: MessageFilter, undo: str | None, dry_run: bool, account: str | None,
                 ensure_backup: BackupFirst | None, progress: Progress) -> None:
        self.archive, self.server, self.transform, self.where = archive, server, transform, where
        self.undo, self.dry_run, self.account, self.ensure_backup = undo, dry_run, account, ensure_backup
        self.progress = progress
        ep = server.endpoint
        self.journal = archive.journal(journal_name(f"{ep.user}@{ep.host}:{ep.port}"))
        self.ctx = Context(self.journal)
        self.state: JournalState = read_state(self.journal)
        self.connected = False
        self.mine: set[object] = set()
        """Keys, X-GM-MSGIDs and places this run changed or produced (not counted as ``already``)."""
        self.moved: dict[str, tuple[int | None, int | None]] = {}
        """Message-ID -> (old, new) thread (X-GM-THRID; None: not known) of each message this run replaced on
        Gmail: an unchanged message replying to one of them, left in the old thread, is uploaded again after
        it (``_split``)."""
        self.snap_uv: dict[str, int] = {}
        """Folder -> UIDVALIDITY of the snapshot selected from."""
        self.result = RewriteResult(run=new_run_id(), mode="undo" if undo else "rewrite",
                                    transform=transform.name if transform else "undo", target=ep.display(),
                                    account=account or "", dry_run=dry_run)

    def execute(self) -> RewriteResult:
        """Run; after a dropped connection, reconnect and go on (the journal says where), as long as each
        attempt changed something or fewer than ``retry.max_attempts`` in a row changed nothing.  The first
        connection is not retried: a refused port or a wrong password reach the user at once."""
        retry, fruitless, first = self.server.retry, 0, True
        while True:
            mark = len(self.result.changed)
            try:
                return self._attempt()
            except ConnectionLost as exc:
                if self.dry_run or (first and not self.connected):
                    raise
                fruitless = 0 if len(self.result.changed) > mark else fruitless + 1
                if fruitless >= retry.max_attempts:
                    raise
                delay = retry.delay(max(1, fruitless))
                self.progress.note(f"{exc}; reconnecting in {delay:.1f} s ({len(self.result.changed)} "
                                   "changed so far)")
                retry.sleep(delay)
                self.state = read_state(self.journal)
                first = False

    def _attempt(self) -> RewriteResult:
        session = self.server.connect()   # the first connection: errors go to the user as they are
        self.connected = True
        r = self.result   # counts start afresh each attempt (the journal tells what is done)
        r.failed.clear()
        r.warnings.clear()
        r.unchanged = r.already = r.gone = 0
        try:
            target: Target = GmailTarget(session) if session.is_gmail else GenericTarget(session)
            if not self.dry_run:
                self._start()
                self._finish_interrupted(target)
            if self.undo is not None:
                self._undo(target, self.undo)
            else:
                self._rewrite(target)
        except KeyboardInterrupt as stop:
            session.abort()
            r = self.result
            raise Cancelled(f"rewrite interrupted after {len(r.changed)} message(s) changed (each finished "
                            "step journalled)",
                            hint="run the same command again: it finishes the message it was changing "
                                 "first and changes nothing twice") from stop
        except BaseException:
            session.logout()
            raise
        session.logout()
        if not self.dry_run:
            self.ctx.log(Finish(self.result.run, self.ctx.clock()))
        return self.result

    def _start(self) -> None:
        """Journal the run's start, or continue the same run an interruption left unfinished."""
        r = self.result
        selection = f"undo:{self.undo}" if self.undo is not None else repr(
            (self.where.labels, self.where.since, self.where.until, self.where.account,
             sorted(self.where.keys) if self.where.keys is not None else None))
        earlier = self.state.unfinished(r.mode, r.transform, selection)
        if earlier is not None:
            r.run = earlier
            self.progress.note(f"continuing run {earlier}, which was interrupted")
            return
        self.ctx.log(Start(r.run, r.mode, r.transform, selection, self.ctx.clock()))

    def _carry(self, target: Target, item: Item, data: bytes) -> Done:
        done = target.carry_out(self.ctx, item, data)
        self.mine.add(item.begin.key)
        for p in done.new:
            self.mine.add((p.folder, p.uidvalidity, p.uid))
            if p.gm_msgid is not None:
                self.mine.add(p.gm_msgid)
        return done

    # -- an interrupted run's messages --------------------------------------------------------------------
    def _finish_interrupted(self, target: Target) -> None:
        for item in self.state.open_items():
            b = item.begin
            data = self._new_bytes(b)
            if isinstance(data, str):
                self.result.failed.append(RewriteProblem(b.key, b.message_id, data))
                continue
            self.progress.note(f"finishing {b.key}, which run {b.run} left half-done")
            done = self._carry(target, item, data)
            self.result.changed.append(RewriteChange(b.key, b.message_id, f"{b.note} (run {b.run}, resumed)",
                                                     b.freed, done.new[0].gm_msgid if done.new else None,
                                                     done.thread, resumed=True))

    def _new_bytes(self, b: Begin) -> bytes | str:
        """The bytes ``b`` promised (recomputed from the archived original), or why they cannot be had."""
        try:
            original = self.archive.get_blob(b.blob_id)
        except (IntegrityError, KeyError, OSError) as exc:
            return f"the archived original {b.blob_id[:16]} cannot be read ({exc})"
        if b.mode == "undo":
            data = original
        elif self.transform is None or self.transform.name != b.transform:
            return (f"run {b.run} was changing this message with the transform {b.transform!r} when it "
                    "stopped: run a rewrite with that transform again to finish it first")
        else:
            out = apply(self.transform, original, blob_id=b.blob_id, internaldate=b.internaldate,
                        tz_minutes=b.tz_minutes)
            data = out.data if isinstance(out, Rewritten) else original   # carried along (``_split``)
        if digest(data) != b.new_sha:
            return (f"the new version of this message cannot be made again as run {b.run} journalled it "
                    f"(the transform's output changed)")
        return data

    # -- rewrite ------------------------------------------------------------------------------------------
    def _rewrite(self, target: Target) -> None:
        assert self.transform is not None
        survey = target.survey()
        snap = self._snapshot(target, survey)
        r = self.result
        records = sorted(self.where.apply(snap), key=lambda m: (m.internaldate, m.key))
        r.selected = len(records)
        gms, places, keys = self.state.live_outputs()
        if isinstance(target, GmailTarget):     # this run's replacements before an interruption count too
            for i in self.state.of_run(r.run):
                if i.done is not None and i.begin.mode == "rewrite" and i.begin.message_id:
                    self.moved[i.begin.message_id] = (None, i.done.thread)
        self.progress.start("rewrite", len(records))
        for rec in records:
            self.progress.advance()
            mine = self._places(rec, survey) if rec.gm_msgid is None else []
            if rec.key in keys or (rec.gm_msgid is not None and rec.gm_msgid in gms) or (
                    mine and all(p in places for p in mine)):
                if not (rec.key in self.mine or rec.gm_msgid in self.mine
                        or (mine and all(p in self.mine for p in mine))):
                    r.already += 1          # an earlier run's (this run's own are in ``changed``)
                continue
            old, meta = self._locate(target, rec, survey)
            if meta is None:
                r.gone += 1
                continue
            self._one(target, rec, old, meta, survey)

    def _one(self, target: Target, rec: MessageRecord, old: tuple[Place, ...], meta: MessageMeta,
             survey: Survey) -> None:
        assert self.transform is not None
        r = self.result
        try:
            original = self.archive.get_blob(rec.blob_id)
        except (IntegrityError, KeyError, OSError) as exc:
            r.failed.append(RewriteProblem(rec.key, rec.message_id, f"the archived original cannot be read "
                                                                    f"({exc}); left as it is"))
            return
        out = apply(self.transform, original, blob_id=rec.blob_id, internaldate=rec.internaldate,
                    tz_minutes=rec.tz_minutes)
        if isinstance(out, Unchanged) or (isinstance(out, Rewritten) and out.data == original):
            parent = self._split(target, original, meta)
            if parent is None:
                r.unchanged += 1
                return
            out = Rewritten(original, f"unchanged; uploaded again after {parent} (rewritten) so that "
                                      "it stays in its thread")
        if isinstance(out, Failed):
            r.failed.append(RewriteProblem(rec.key, rec.message_id, out.reason))
            return
        mid_before, mid_after = mail.message_id(original), mail.message_id(out.data)
        reason = target.refuse(out.data, meta, survey)
        if mid_before is not None and mid_after != mid_before:
            reason = (f"the transform changed the Message-ID ({mid_before} -> {mid_after}); replies would "
                      "lose it")
        if reason is not None:
            r.failed.append(RewriteProblem(rec.key, rec.message_id, f"{reason}; left as it is"))
            return
        if self.dry_run:
            if isinstance(target, GmailTarget) and mid_after is not None:
                self.moved[mid_after] = (meta.gm_thrid, None)
            r.changed.append(RewriteChange(rec.key, rec.message_id, out.note, out.freed))
            return
        trashed = isinstance(target, GmailTarget) and old[0].folder == target.trash
        labels = target.labels_of(meta) if isinstance(target, GmailTarget) else ()
        begin = Begin(r.run, rec.key, rec.blob_id, "rewrite", old, labels, meta.flags, meta.internaldate,
                      meta.tz_minutes, trashed, len(out.data), digest(out.data), message_id=mid_after,
                      transform=self.transform.name, note=out.note, freed=out.freed, time=self.ctx.clock())
        self.ctx.log(begin)
        item = Item(begin)
        self.state.items[(r.run, rec.key)] = item
        done = self._carry(target, item, out.data)
        if isinstance(target, GmailTarget) and mid_after is not None:
            self.moved[mid_after] = (meta.gm_thrid, done.thread)
        r.changed.append(RewriteChange(rec.key, mid_after, out.note, out.freed,
                                       done.new[0].gm_msgid if done.new else None, done.thread))

    def _split(self, target: Target, original: bytes, meta: MessageMeta) -> str | None:
        """The Message-ID of a message this run replaced on Gmail that ``original`` (unchanged by the
        transform) replies to, when this message was in its thread and the new version is in another one,
        else None.

        Gmail threads a message by the earlier messages its References name, never the other way round: a
        replaced thread root starts a new thread and its replies stay in the old one.  Uploaded again after
        it (same bytes, labels, flags, INTERNALDATE), a reply joins it; replies are selected after their
        parents (oldest first), so a whole thread follows its new root."""
        if not isinstance(target, GmailTarget):
            return None
        for ref in mail.references(original):
            old, new = self.moved.get(ref, (-1, -1))
            if old != -1 and old in (None, meta.gm_thrid) and (self.dry_run or new != meta.gm_thrid):
                return ref
        return None

    def _places(self, rec: MessageRecord, survey: Survey) -> list[tuple[str, int, int]]:
        """(folder, UIDVALIDITY, UID) of the record's copies, in folders whose UIDVALIDITY is still the
        snapshot's (else the UID may name another message)."""
        out = []
        for folder, uid in rec.uids:
            uv = survey.uidvalidity.get(folder)
            if uv is not None and uv == self.snap_uv.get(folder):
                out.append((folder, uv, uid))
        return out

    def _locate(self, target: Target, rec: MessageRecord,
                survey: Survey) -> tuple[tuple[Place, ...], MessageMeta | None]:
        """The copies of ``rec`` on the server now, and the metadata of the first."""
        if isinstance(target, GmailTarget):
            hit = survey.by_gm.get(rec.gm_msgid) if rec.gm_msgid is not None else None
            if hit is None:
                return (), None
            folder, uv, meta = hit
            return (Place(folder, uv, meta.uid, rec.gm_msgid),), meta
        found = [p for p in self._places(rec, survey) if p in survey.by_place]
        if not found:
            return (), None
        return tuple(Place(*p) for p in found), survey.by_place[found[0]]

    def _snapshot(self, target: Target, survey: Survey) -> Snapshot:
        """The snapshot to select from: the latest complete one of the account, after a backup when the
        server holds messages it lacks."""
        acct = self._account()
        try:
            info = self.archive.resolve("latest", acct)
        except UsageError:
            info = None
        missing = -1 if info is None else self._missing(self.archive.load(info.id), survey)
        if missing:
            what = ("the archive has no complete snapshot of this account" if missing < 0 else
                    f"the server holds {missing} message(s) the latest snapshot lacks")
            if self.dry_run or self.ensure_backup is None:
                if info is None:
                    raise UsageError(f"{what}: rewrite works from the archived originals",
                                     hint="run `gmail-archiver backup` first (a real rewrite does it itself)")
                self.result.warnings.append(f"{what}: a real run backs up first")
            else:
                self.progress.note(f"{what}: backing up first")
                sid = self.ensure_backup()
                self.result.backed_up = sid
                self.archive.close()
                self.archive = Archive.open(self.archive.path)
                info = next(i for i in self.archive.snapshots() if i.id == sid)
                if info.partial:
                    raise ArchiverError(f"the backup before the rewrite is partial (snapshot {sid[:8]}): the "
                                        "archive may not hold every original; nothing was changed",
                                        hint="run `gmail-archiver backup` until it completes, then rewrite")
        assert info is not None
        self.result.snapshot, self.result.account = info.id, info.account
        snap = self.archive.load(info.id)
        self.snap_uv = {f.name: f.uidvalidity for f in snap.folders}
        return snap

    def _missing(self, snap: Snapshot, survey: Survey) -> int:
        records = list(snap)
        if survey.by_gm:
            have = {r.gm_msgid for r in records}
            return len(set(survey.by_gm) - have)
        uvs = {f.name: f.uidvalidity for f in snap.folders}
        have_p = {(folder, uvs.get(folder), uid) for r in records for folder, uid in r.uids}
        return len([p for p in survey.by_place if p not in have_p])

    def _account(self) -> str | None:
        if self.account is not None:
            return self.account
        names = self.archive.accounts()
        if len(names) <= 1:
            return names[0] if names else None
        user = self.server.endpoint.user.lower()
        mine = [a for a in names if a.rsplit("@", 1)[0].lower() == user]
        if len(mine) == 1:
            return mine[0]
        raise UsageError(f"the archive holds {len(names)} accounts ({', '.join(names)}) and not exactly one "
                         f"of them is the server's user {user!r}",
                         hint=f"add --account {names[0]} (or another)")

    # -- undo ---------------------------------------------------------------------------------------------
    def _undo(self, target: Target, run: str) -> None:
        items = [i for i in self.state.of_run(run) if i.begin.mode == "rewrite"]
        if not items:
            known = [x for x in self.state.runs()] or ["none"]
            raise UsageError(f"the journal of {self.result.target} has no rewrite run {run!r}",
                             hint=f"runs it holds: {', '.join(known)}")
        survey = target.survey()
        undone = self.state.undone_runs()
        r = self.result
        r.selected = len(items)
        self.progress.start("undo", len(items))
        for i in items:
            self.progress.advance()
            b = i.begin
            if (run, b.key) in undone:
                r.already += 0 if b.key in self.mine else 1
                continue
            if i.done is None:
                r.failed.append(RewriteProblem(b.key, b.message_id,
                                               "its rewrite is not finished (see above)"))
                continue
            old = tuple(p for p in i.done.new if self._present(p, survey))
            if not old:
                r.gone += 1
                r.warnings.append(f"{b.key}: the rewritten version is no longer on the server; not put back "
                                  "(`gmail-archiver restore` brings the original back)")
                continue
            try:
                original = self.archive.get_blob(b.blob_id)
            except (IntegrityError, KeyError, OSError) as exc:
                r.failed.append(RewriteProblem(b.key, b.message_id, f"the archived original cannot be read "
                                                                    f"({exc})"))
                continue
            if self.dry_run:
                r.changed.append(RewriteChange(b.key, b.message_id, "original put back"))
                continue
            if isinstance(target, GmailTarget) and old[0].gm_msgid is not None:
                folder, uv, meta = survey.by_gm[old[0].gm_msgid]
                old = (Place(folder, uv, meta.uid, old[0].gm_msgid),)
            begin = Begin(r.run, b.key, b.blob_id, "undo", old, b.labels, b.flags, b.internaldate,
                          b.tz_minutes, b.trashed, len(original), digest(original), message_id=b.message_id,
                          undo_of=run,
                          note="original put back", time=self.ctx.clock())
            self.ctx.log(begin)
            item = Item(begin)
            self.state.items[(r.run, b.key)] = item
            done = self._carry(target, item, original)
            r.changed.append(RewriteChange(b.key, b.message_id, "original put back", 0,
                                           done.new[0].gm_msgid if done.new else None, done.thread))

    @staticmethod
    def _present(p: Place, survey: Survey) -> bool:
        if p.gm_msgid is not None:
            return p.gm_msgid in survey.by_gm
        return (p.folder, p.uidvalidity, p.uid) in survey.by_place
