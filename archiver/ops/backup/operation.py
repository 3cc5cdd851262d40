"""Backup: read a Gmail account (or any IMAP server) into the archive as one new snapshot.

One run: connect, find the folders and compare each with the last snapshot of the account, complete or
partial (backup_scan, backup_plan); treat bodies whose stored copies are missing or known damaged as
lacking (formats/snapshot.md "Healing"); download the bodies the archive lacks over several connections while
hashing and compressing on other threads (backup_fetch); commit the snapshot.  While downloading, the
stored bodies are made durable and journaled every few MB, and a partial snapshot is written every minute
(backup_checkpoint), so a kill or a lost connection costs at most a few MB: the next run reads the journal
and continues.  A run that could not read everything still commits what it has, as a partial snapshot,
and says what is missing in ``BackupResult.problems``; ``complete`` is True only when nothing is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from archiver.errors import ArchiveNotFound, ArchiverError, AuthError, IntegrityError, RemoteError, UsageError
from archiver.imap import Credentials, MessageMeta, ServerOptions, Session
from archiver.imap.retry import Reconnecting, RetryPolicy
from archiver.model import MessageRecord
from archiver.ops.backup.checkpoint import Checkpointer, CheckpointPolicy, Durable, Found, read_journal
from archiver.ops.backup.fetch import Downloader, Job, Stored, make_jobs
from archiver.ops.backup.keys import GenericKeys
from archiver.ops.backup.plan import (
    Entry,
    LiveRecords,
    PreviousState,
    assemble_generic,
    assemble_gmail,
    diff_counts,
)
from archiver.ops.backup.scan import (
    DeferredMeta,
    FolderScan,
    carried_over,
    choose_folders,
    entry_from_meta,
    scan_folder,
)
from archiver.progress import NullProgress, Progress
from archiver.store import Archive, ArchiveWriter
from archiver.store.journal_records import StoredBlob, encode
from archiver.threads import ThreadIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackupProblem:
    """Something this run could not back up: a folder, or some UIDs of one."""

    folder: str
    uids: tuple[int, ...]
    reason: str

    def __str__(self) -> str:
        what = f"{len(self.uids)} message(s) of {self.folder!r}" if self.uids else f"folder {self.folder!r}"
        return f"{what}: {self.reason}"


@dataclass
class BackupResult:
    """What a run did.  ``complete`` False: the snapshot is partial and ``problems`` says what is missing."""

    snapshot: str
    account: str
    mode: str
    """``gmail`` (X-GM-EXT-1) or ``imap``."""
    messages: int
    new: int
    changed: int
    deleted: int
    bytes_downloaded: int
    bytes_stored: int
    duration: float
    problems: list[BackupProblem] = field(default_factory=list)
    complete: bool = True
    checkpoints: int = 0
    """Checkpoints made during the download (points a killed run resumes from)."""
    healed: int = 0
    """Messages whose stored body was missing or damaged and was downloaded and stored again."""
    warnings: list[str] = field(default_factory=list)
    """Damage the run routed around without losing anything (e.g. a damaged previous snapshot)."""


DEFER_OVER = 200
"""A folder with more new UIDs than this reads their metadata while the bodies download (when all of
them are downloaded anyway: off Gmail, or a Gmail account's first backup)."""
GUESSED_SIZE = 16 << 10
"""Size assumed for a message whose metadata has not come yet (to cut download batches)."""


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


@dataclass(frozen=True, slots=True)
class BackupOptions:
    """What a backup run does beyond reaching the server (``ServerOptions``)."""

    include_spam: bool = False
    init: bool = False
    """Create the archive when the path does not hold one."""
    checkpoint: CheckpointPolicy = field(default_factory=CheckpointPolicy)
    clock: Callable[[], _dt.datetime] = _utcnow
    """The snapshot's time (tests pin it)."""


def backup(archive_path: str | os.PathLike[str], source_url: str, *, credentials: Credentials,
           include_spam: bool = False, connections: int = 4, progress: Progress | None = None,
           clock: Callable[[], _dt.datetime] = _utcnow, init: bool = False, cacert: str | None = None,
           insecure: bool = False, checkpoint: CheckpointPolicy | None = None,
           retry: RetryPolicy | None = None, retries: int | None = None) -> BackupResult:
    """Back up the account at ``source_url`` into the archive at ``archive_path`` as a new snapshot.

    ``init`` creates the archive when the path does not hold one.  ``retry`` is the back-off policy after
    throttling or a dropped connection; ``retries`` overrides its number of attempts (1: never retry).
    Raises AuthError, ArchiveNotFound, ArchiveLocked, or RemoteError when the server cannot be used at
    all; everything smaller ends up in ``BackupResult.problems``.
    """
    policy = retry or RetryPolicy()
    if retries is not None:
        policy = dataclasses.replace(policy, max_attempts=max(1, retries))
    server = ServerOptions.from_url(source_url, credentials, cacert=cacert, insecure=insecure, retry=policy,
                                    connections=connections)
    options = BackupOptions(include_spam=include_spam, init=init,
                            checkpoint=checkpoint or CheckpointPolicy(), clock=clock)
    return run_backup(archive_path, server, options, progress)


def run_backup(archive_path: str | os.PathLike[str], server: ServerOptions, options: BackupOptions,
               progress: Progress | None = None) -> BackupResult:
    """``backup`` with its options as objects (what the library's internals pass around)."""
    archive = _open_archive(archive_path, options.init)
    return _Run(archive, server, options, progress or NullProgress()).execute()


def _open_archive(path: str | os.PathLike[str], init: bool) -> Archive:
    """Open the archive; with ``init``, create it when missing.  Race-safe: another ``--init`` creating it
    at the same moment makes this one open what that one wrote (never "no archive")."""
    if not init:
        return Archive.open(path)
    try:
        return Archive.open(path)
    except ArchiveNotFound:
        pass
    try:
        return Archive.init(path)
    except UsageError:  # not empty any more: another init finished first (else open says what it is)
        return Archive.open(path)


class _Run:
    """The state of one backup run."""

    def __init__(self, archive: Archive, server: ServerOptions, options: BackupOptions,
                 progress: Progress) -> None:
        self.archive = archive
        self.server = server
        self.endpoint = server.endpoint
        self.include_spam = options.include_spam
        self.connections = max(1, server.connections)
        self.progress = progress
        self.clock = options.clock
        self.checkpoint = options.checkpoint
        self.retry = server.retry
        self.account = server.endpoint.account
        self.problems: list[BackupProblem] = []
        self.warnings: list[str] = []
        self.scans: list[FolderScan] = []
        self.refs: dict[str, tuple[str, ...]] = {}
        self.gmail = False
        self.prev = PreviousState()
        self.keys = GenericKeys({})
        self.threads = ThreadIndex()
        self.checkpoints = 0
        self._lock = threading.RLock()
        self.unusable: dict[str, str] = {}
        self.lost: list[BackupProblem] = []
        self.healed = 0
        self._by_uid: dict[tuple[str, int, int], Found] = {}
        self._live: LiveRecords | None = None

    def connect(self) -> Session:
        return self.server.connect()

    # -- the run ------------------------------------------------------------------------------------------
    def execute(self) -> BackupResult:
        started = time.monotonic()
        rc = Reconnecting(self.connect, policy=self.retry, note=self.progress.note)
        handed_off = False
        try:
            self.gmail = rc.session.is_gmail
            with self.archive.writer(self.account) as writer:
                self._load_previous()
                self._scan(rc)
                self._resume_from_journal()
                self._heal(writer)
                first, handed_off = rc.session, True  # the download owns it from here
                downloaded, stored = self._download(first, writer)
                self._live = None  # the checkpoints' records: not needed any more
                records = self._records()
                counts = diff_counts(self.prev.by_key, records)
                self._release()
                complete = not any(p for p in self.problems if p not in self.lost)
                stats = {"new": counts.new, "changed": counts.changed, "deleted": counts.deleted,
                         "bytes_downloaded": downloaded, "bytes_stored": stored,
                         "problems": len(self.problems)}
                info = writer.commit(records, [s.state for s in self.scans], source=self.endpoint.display(),
                                     time=self.clock(), partial=not complete, stats=stats,
                                     key_seq=self.keys.next_seq)
                log.info("snapshot %s written: %d messages of %s (%d new, %d changed, %d deleted)%s",
                         info.id[:8], len(records), self.account, counts.new, counts.changed, counts.deleted,
                         "" if complete else f"; PARTIAL, {len(self.problems)} problem(s)")
                if complete:  # the snapshot now holds all the journal knew; the next run starts a new one
                    self.archive.remove_journal(self.journal_name)
        finally:
            if not handed_off:
                with contextlib.suppress(ArchiverError, OSError):
                    rc.close()
        return BackupResult(
            snapshot=info.id, account=self.account, mode="gmail" if self.gmail else "imap",
            messages=len(records), new=counts.new, changed=counts.changed, deleted=counts.deleted,
            bytes_downloaded=downloaded, bytes_stored=stored, duration=time.monotonic() - started,
            problems=list(self.problems), complete=complete, checkpoints=self.checkpoints,
            healed=self.healed, warnings=list(self.warnings))

    def _load_previous(self) -> None:
        snaps = self.archive.snapshots(self.account)
        complete = [s for s in snaps if not s.partial]
        base = complete[-1].id[:16] if complete else "none"
        self.journal_name = f"backup-{hashlib.sha256(self.account.encode()).hexdigest()[:16]}-{base}"
        self.journal = self.archive.journal(self.journal_name)
        for sid, why in self.archive.unreadable_of(self.account).items():
            self._warn(f"snapshot record {sid[:12]} is unreadable ({why}); if it was this account's, the run "
                       f"builds on an older snapshot (`gmail-archiver forget ARCHIVE {sid[:12]}` removes it)")
        seq = self.archive.key_seq(self.account)  # past numbers a newer, damaged snapshot gave too
        for info in reversed(snaps):  # the newest snapshot whose manifest reads whole
            try:
                snap = self.archive.load(info.id)
                self.prev = PreviousState.build(snap.folders, snap)
                self.keys = GenericKeys(self.prev.by_key, seq)
                break
            except IntegrityError as exc:
                self._warn(f"snapshot {info.short_id} is damaged ({exc}); building on an older snapshot "
                           f"(`gmail-archiver forget ARCHIVE {info.short_id}` removes it)")
                self.prev = PreviousState()
                self.keys = GenericKeys({}, seq)
        if snaps and not any(r.gm_msgid is not None for r in self.prev.by_key.values()):
            self.threads = ThreadIndex((r.message_id, r.thread_id) for r in self.prev.by_key.values())

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        self.progress.note(text)

    def _scan(self, rc: Reconnecting) -> None:
        """The metadata pass over every folder (commands retried over new connections); a folder that
        keeps failing keeps its previous state and is reported."""
        folders = rc.run(lambda s: choose_folders(s, gmail=self.gmail, include_spam=self.include_spam))
        self.progress.start("scan", total=len(folders), unit="folder")
        for name, role in folders:
            try:
                self.scans.append(scan_folder(rc, name, role, self.prev, gmail=self.gmail,
                                              defer_over=DEFER_OVER))
            except AuthError:
                raise
            except RemoteError as exc:
                self.problems.append(BackupProblem(name, (), f"could not be read: {exc}"))
                self.progress.note(str(self.problems[-1]))
                kept = carried_over(name, role, self.prev, gmail=self.gmail)
                if kept is not None:
                    self.scans.append(kept)
            self.progress.advance(1)
        self.progress.finish()
        if not self._reusable():
            self._materialize()
        log.info("scanned %d folders of %s (%s)", len(self.scans), self.account,
                 "Gmail" if self.gmail else "IMAP")

    def _materialize(self) -> None:
        """Every folder's entries, including those an unchanged folder deferred (``FolderScan.kept``)."""
        for scan in self.scans:
            scan.materialize(self.prev)

    def _reusable(self) -> bool:
        """Every folder of the last snapshot read again and found as it was, no other folder and no
        problem: the last snapshot's records will do (unless a stored body needs healing)."""
        return (bool(self.prev.by_key) and all(s.unchanged for s in self.scans) and not self.problems
                and sorted(s.name for s in self.scans) == sorted(self.prev.folders))

    def _resume_from_journal(self) -> None:
        """Bodies an interrupted run since the last complete snapshot already stored are not downloaded
        again: the journal maps them to their blobs (a UID under its UIDVALIDITY, or an X-GM-MSGID)."""
        self._by_uid, by_gm = read_journal(self.journal)
        if not self._by_uid:
            return
        for scan in self.scans:
            for uid, e in scan.entries.items():
                if e.blob_id is not None:
                    continue
                hit = by_gm.get(e.gm_msgid) if e.gm_msgid is not None else None
                hit = hit or self._by_uid.get((scan.name, scan.state.uidvalidity, uid))
                if hit is not None and self.archive.has_blob(hit[0]):
                    e.blob_id = hit[0]
                    self.refs[hit[0]] = hit[2]

    def _heal(self, writer: ArchiveWriter) -> None:
        """A backup never builds on damage it can see: bodies whose stored copies are missing or known
        damaged (``Archive.unusable_blobs``: a cheap presence check, and what ``verify`` recorded) are
        downloaded and stored again when the server still has them; the previous snapshot's messages
        that the server no longer has are reported as lost (the snapshot itself is complete)."""
        ids = {e.blob_id for s in self.scans for e in s.entries.values() if e.blob_id is not None}
        ids.update(r.blob_id for r in self.prev.by_key.values())
        self.unusable = self.archive.unusable_blobs(ids) if ids else {}
        if not self.unusable:
            return
        self._materialize()
        writer.renew(self.unusable)
        on_server: set[str] = set()
        for scan in self.scans:
            for e in scan.entries.values():
                if e.blob_id in self.unusable:
                    on_server.add(e.blob_id)
                    e.blob_id = None
                    self.healed += 1
        if on_server:
            self.progress.note(f"{len(on_server)} message bodies are missing or damaged in the archive: "
                               "downloading them again")
        gone: dict[str, list[MessageRecord]] = {}
        for r in self.prev.by_key.values():
            if r.blob_id in self.unusable and r.blob_id not in on_server:
                gone.setdefault(r.uids[0][0] if r.uids else "", []).append(r)
        for folder, recs in sorted(gone.items()):
            why = self.unusable[recs[0].blob_id]
            problem = BackupProblem(folder, tuple(sorted(u for r in recs for f, u in r.uids if f == folder)),
                                    f"stored body lost ({why}) and no longer on the server: earlier "
                                    "snapshots cannot give it back (`gmail-archiver verify` lists them)")
            self.lost.append(problem)
            self.problems.append(problem)
            self.progress.note(str(problem))

    # -- bodies --------------------------------------------------------------------------------------------
    def _download(self, session: Session, writer: ArchiveWriter) -> tuple[int, int]:
        """Download every body the archive lacks (deferred metadata read alongside on ``session``);
        returns (bytes downloaded, bytes of new blobs)."""
        wanted = self._wanted()
        pairs = {s.name: [(uid, s.entries[uid].size) for uid in wanted.get(s.name, ())] for s in self.scans}
        deferred = self._deferred()
        for name, uids in deferred.items():
            pairs.setdefault(name, []).extend((u, GUESSED_SIZE) for u in uids if (name, u) not in self._early)
        total = sum(size for p in pairs.values() for _u, size in p)
        log.info("%d new messages to download (about %d bytes)", sum(len(p) for p in pairs.values()), total)
        if not deferred and not any(pairs.values()):  # nothing to read: no connection, no checkpoint
            session.logout()
            return 0, 0
        self._materialize()  # (done already when something changed: then nothing was deferred)
        # batches: small enough that a kill loses little in flight, big enough for few round trips
        batch = max(256 << 10, min(2 << 20, total // 128))
        jobs: list[Job] = [j for name, p in pairs.items() for j in make_jobs(name, p, max_bytes=batch)]
        self.progress.start("download", total=sum(len(j.uids) for j in jobs), unit="msg")
        self._writer = writer
        self._live = LiveRecords({s.name: (s.role, s.entries) for s in self.scans}, gmail=self.gmail,
                                 threads=self.threads, refs=self.refs, keys=self.keys)
        self._uidvalidity = {s.name: s.state.uidvalidity for s in self.scans}
        self._checkpointer = Checkpointer(self._make_durable, self._write_checkpoint, self.checkpoint, total)
        stored_before = self.archive.stats().blob_stored_bytes
        self._by_folder = {s.name: s.entries for s in self.scans}
        self._by_key: dict[str, list[Entry]] = {}
        if self.gmail:
            for s in self.scans:
                for e in s.entries.values():
                    if e.key is not None and e.blob_id is None:
                        self._by_key.setdefault(e.key, []).append(e)
        meta: DeferredMeta | None = None
        if deferred:
            pending = [session]
            rc = Reconnecting(lambda: pending.pop() if pending else self.connect(), policy=self.retry,
                              note=self.progress.note)
            meta = DeferredMeta(rc, deferred, self._on_meta, self._uidvalidity)
            meta.start()
        dl = Downloader(self.connect, writer, connections=min(self.connections, max(1, total >> 20)),
                        on_stored=self._on_stored, retry=self.retry,
                        first_session=None if meta is not None else session,
                        parse_refs=not self.gmail, note=self.progress.note, uidvalidity=self._uidvalidity)
        try:
            failed = [(f.folder, f.uids, f.reason) for f in dl.run(jobs)]
        except BaseException:  # Ctrl-C, a fatal error: keep what was stored for the next run
            with contextlib.suppress(Exception):
                self._checkpointer.drain()
            raise
        finally:
            if meta is not None:
                failed_meta = meta.join()
            self.progress.finish()
            self._checkpointer.close()
            self.checkpoints = self._checkpointer.flushes
        if meta is not None:
            failed += failed_meta
        for folder, uids, reason in failed:
            self.problems.append(BackupProblem(folder, uids, reason))
            self.progress.note(str(self.problems[-1]))
        writer.flush()  # blobs still buffered for dictionary training count too
        return dl.bytes_downloaded, self.archive.stats().blob_stored_bytes - stored_before

    def _release(self) -> None:
        """Let go of the per-message state once the records are built, before the commit: the entries, the
        previous snapshot's indexes, the references read from bodies.  The folder states stay (the commit
        writes them)."""
        for scan in self.scans:
            scan.entries = {}
        self._by_folder = self._by_key = None  # type: ignore[assignment]
        self.prev = PreviousState(folders=self.prev.folders)
        self.refs = {}
        self._by_uid = {}
        self.threads = ThreadIndex()

    def _unchanged(self) -> bool:
        """Every folder of the last snapshot read again and found as it was (same UIDs, flags and labels),
        no other folder, nothing downloaded, healed or missing: the records cannot differ."""
        return (self._reusable() and not self.healed and not self.refs
                and all(e.blob_id is not None for s in self.scans for e in s.entries.values()))

    def _deferred(self) -> dict[str, tuple[int, ...]]:
        """Folder -> new UIDs whose metadata comes during the download; bodies a killed run journaled
        are noted in ``_early`` and not downloaded again."""
        self._early: dict[tuple[str, int], tuple[str, tuple[str, ...]]] = {}
        out = {}
        for scan in self.scans:
            if scan.deferred:
                out[scan.name] = scan.deferred
                for uid in scan.deferred:
                    hit = self._by_uid.get((scan.name, scan.state.uidvalidity, uid))
                    if hit is not None and self.archive.has_blob(hit[0]) and hit[0] not in self.unusable:
                        self._early[(scan.name, uid)] = (hit[0], hit[2])
        return out

    def _on_meta(self, folder: str, metas: list[MessageMeta]) -> None:
        """Metadata thread: new entries; a body that came first is attached now."""
        with self._lock:
            entries = self._by_folder[folder]
            for meta in metas:
                entry = entry_from_meta(meta)
                entries[meta.uid] = entry
                early = self._early.pop((folder, meta.uid), None)
                if early is not None:
                    entry.blob_id = early[0]
                    self.refs[early[0]] = early[1]
                    self._live_records().stored(folder, entry)

    def _wanted(self) -> dict[str, list[int]]:
        """Folder -> UIDs to download: Gmail, one copy per X-GM-MSGID; others, every unknown body."""
        wanted: dict[str, list[int]] = {}
        seen: set[str] = set()
        for scan in self.scans:
            for uid in sorted(u for u, e in scan.entries.items() if e.blob_id is None):
                key = scan.entries[uid].key
                if self.gmail and key is not None:
                    if key in seen:
                        continue
                    seen.add(key)
                wanted.setdefault(scan.name, []).append(uid)
        return wanted

    def _on_stored(self, item: Stored) -> None:
        """Store thread: note the blob on every entry it belongs to; commit a checkpoint when due."""
        with self._lock:
            if not self.gmail:
                self.refs[item.blob_id] = item.refs
            entry = self._by_folder[item.folder].get(item.uid)
            if entry is None:  # its metadata has not come yet
                self._early[(item.folder, item.uid)] = (item.blob_id, item.refs)
            else:
                same = self._by_key.get(entry.key, [entry]) if entry.key is not None else [entry]
                for e in same:
                    e.blob_id = item.blob_id
                self._live_records().stored(item.folder, entry)
            self.progress.advance(1, item.size)
            durable = StoredBlob(item.folder, self._uidvalidity[item.folder], item.uid, item.blob_id,
                                 item.message_id, tuple(item.refs),
                                 entry.gm_msgid if entry is not None else None)
            self._checkpointer.offer(item.size, durable, self._live_records().records)

    def _live_records(self) -> LiveRecords:
        assert self._live is not None, "only while bodies download"
        return self._live

    def _make_durable(self, items: Sequence[Durable]) -> None:
        """Checkpoint thread: seal the packs, then journal which messages the new blobs are."""
        self._writer.flush()
        if items:
            self.journal.append(encode(items))

    def _write_checkpoint(self, records: Sequence[MessageRecord]) -> None:
        """Checkpoint thread: commit what is known so far as a partial snapshot."""
        self._writer.commit(records, [s.state for s in self.scans], source=self.endpoint.display(),
                            time=self.clock(), partial=True, stats={"checkpoint": 1},
                            key_seq=self.keys.next_seq)

    def _records(self) -> list[MessageRecord]:
        if self._unchanged():  # nothing to assemble: the last snapshot's records, as they were
            return sorted(self.prev.by_key.values(), key=lambda r: r.key)
        self._materialize()
        if self.gmail:
            return assemble_gmail({s.name: (s.role, list(s.entries.values())) for s in self.scans})
        folders = {s.name: list(s.entries.values()) for s in self.scans}
        return assemble_generic(folders, self.threads, self.refs, self.keys)

