"""State shared by the restore executors across reconnects: the result, the journal, the upload budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from archiver import mail
from archiver.imap import Session
from archiver.imap.records import AppendResult
from archiver.model import MessageRecord
from archiver.ops.restore.intent import Intent, Intents, closes, sent_entry
from archiver.ops.restore.options import RestoreOptions
from archiver.ops.restore.plan import CONFLICT, UPLOAD, Action, JournalHit, Plan
from archiver.ops.restore.result import PlannedAction, RestoreProblem, RestoreResult
from archiver.ops.restore.rewrite import rewrite_message_id
from archiver.ops.restore.survey import hit_of, uploaded_last_day
from archiver.progress import Progress
from archiver.store import Archive, Journal, Snapshot
from archiver.store.journal_records import Confirmation, Dedup, Refused, encode

T = TypeVar("T")

NUL_REASON = ("contains NUL bytes, which Gmail refuses; not uploaded (stripping them would change the "
              "message)")


def chunks(items: Sequence[T], n: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def announced_appendlimit(capabilities: Iterable[str]) -> int | None:
    """The ``APPENDLIMIT=N`` a server announces (RFC 7889), or None."""
    for cap in capabilities:
        if cap.upper().startswith("APPENDLIMIT=") and cap.split("=", 1)[1].isdigit():
            return int(cap.split("=", 1)[1])
    return None


def cannot_reason(data: bytes, appendlimit: int | None, *, refuses_nul: bool) -> str | None:
    """Why ``data`` cannot be uploaded at all, or None."""
    if appendlimit is not None and len(data) > appendlimit:
        return f"{len(data)} bytes is over the server's APPENDLIMIT of {appendlimit} bytes"
    if refuses_nul and b"\0" in data:
        return NUL_REASON
    return None


@dataclass
class Upload:
    """One APPEND sent and not yet checked."""

    action: Action
    data: bytes
    result: AppendResult

    @property
    def message_id(self) -> str | None:
        return mail.message_id(self.data)


@dataclass
class RunContext:
    """Everything one restore run carries from attempt to attempt (a reconnect re-surveys and re-plans)."""

    archive: Archive
    snapshot: Snapshot
    journal: Journal
    journal_hits: dict[str, list[JournalHit]]
    upload_log: list[tuple[float, int]]
    result: RestoreResult
    progress: Progress
    options: RestoreOptions = field(default_factory=RestoreOptions)
    existing_folders: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    """Keys this run is through with (restored, present, failed, skipped): a re-plan leaves them out."""
    budget_exhausted: bool = False
    rw_selected: tuple[int, str] | None = None
    """(id of the session, folder) last selected read-write by the Gmail executor."""
    intents: Intents = field(default_factory=Intents)
    """Open upload intents by (key, folder, UIDVALIDITY): APPENDs that may have landed unconfirmed; when
    each was sent; the orphans, intents a newer one of the same slot replaced while open, whose APPEND may
    still land as a second copy (``strays.remove_strays`` looks for it)."""
    sleep: Callable[[float], None] = time.sleep
    unconfirmed: dict[str, int] = field(default_factory=dict)
    """Key -> bytes of each APPEND this run sent that no check confirmed yet (the connection dropped first):
    when a re-survey finds it on the target, it counts as uploaded, not as already present."""
    unreadable: dict[str, str] = field(default_factory=dict)
    """Blob id -> why the archive cannot give its bytes: each such message fails, the others go on."""
    connections: int = 1
    """Non-Gmail targets: how many connections upload side by side (``restore_parallel``)."""
    open_session: Callable[[], Session] | None = None
    """Opens one more connection to the target (None: only the one the executor was given)."""
    lock: threading.RLock = field(default_factory=threading.RLock)
    """Held by upload streams while they touch this context (the journal, the result, the progress)."""
    _conflict_keys: set[str] = field(default_factory=set)

    @property
    def policy(self) -> str:
        return self.options.policy

    @property
    def dry_run(self) -> bool:
        return self.options.dry_run

    @property
    def max_upload_bytes_per_day(self) -> int | None:
        return self.options.max_upload_bytes_per_day

    @property
    def default_folder(self) -> str:
        return self.options.default_folder

    # -- outcomes --------------------------------------------------------------------------------------
    def done(self, key: str) -> None:
        self.finished.add(key)

    def fail(self, record: MessageRecord, reason: str) -> None:
        self.result.failed.append(RestoreProblem(record.key, record.message_id, reason))
        self.finished.add(record.key)
        self.unconfirmed.pop(record.key, None)

    def uploaded(self, key: str, nbytes: int) -> None:
        """Count one upload the server was seen to hold."""
        self.unconfirmed.pop(key, None)
        self.result.uploaded += 1
        self.result.uploaded_bytes += nbytes

    def found_own(self, key: str) -> bool:
        """A re-survey found ``key`` on the target: True (and counted as uploaded) when it is this run's own
        APPEND whose check a dropped connection cut off."""
        nbytes = self.unconfirmed.get(key)
        if nbytes is None:
            return False
        self.uploaded(key, nbytes)
        return True

    def read_blobs(self, blob_ids: Sequence[str]) -> dict[str, bytes]:
        """The bytes of ``blob_ids`` (read in pack order); a damaged one is left out and noted in
        ``unreadable`` (the caller fails its messages with ``unreadable_reason``)."""
        return dict(self.archive.iter_blobs(blob_ids, self.unreadable))

    def unreadable_reason(self, blob_id: str) -> str:
        return f"unreadable in the archive: {self.unreadable[blob_id]}"

    def alter(self, record: MessageRecord, reason: str) -> None:
        self.result.altered.append(RestoreProblem(record.key, record.message_id, reason))

    def journal_append(self, e: Confirmation | Refused | Dedup) -> None:
        """Make one confirmed fact durable (and known to a re-plan after a reconnect)."""
        self.journal.append(encode([e]))
        self._remember(e)

    def journal_batch(self, entries: Sequence[Confirmation | Refused | Dedup]) -> None:
        """Several confirmed facts in one durable write (one fsync)."""
        if entries:
            self.journal.append(encode(entries))
            for e in entries:
                self._remember(e)

    def journal_intents(self, entries: list[Intent]) -> None:
        """Before APPENDs: their intents, durable in one write (``restore_intent``)."""
        if entries:
            self.journal.append(encode(entries))
            for it in entries:
                self.intents.add(it)

    def journal_sent(self, folder: str, uidvalidity: int, keys: Sequence[str]) -> None:
        """After handing APPENDs whole to the kernel: say so durably (``strays.settle`` waits only for
        those: an APPEND never sent cannot land)."""
        if keys:
            s = sent_entry(folder, uidvalidity, keys)
            self.journal.append(encode([s]))
            self.intents.mark_sent(s)

    def _remember(self, e: Confirmation | Refused | Dedup) -> None:
        if isinstance(e, Refused):
            self.intents.close(e.slot)
        elif isinstance(e, Dedup):
            self.intents.resolve(e.slot)
        else:
            hit = hit_of(e)
            self.journal_hits.setdefault(hit.key, []).append(hit)
            self.intents.close(closes(hit))

    # -- the daily upload budget ------------------------------------------------------------------------
    def budget_allows(self, nbytes: int) -> bool:
        if self.result.stopped is not None:   # the server refused further uploads (quota)
            self.budget_exhausted = True
            return False
        if self.max_upload_bytes_per_day is None:
            return True
        if uploaded_last_day(self.upload_log) + nbytes > self.max_upload_bytes_per_day:
            self.budget_exhausted = True
            return False
        return True

    def spent(self, nbytes: int) -> None:
        self.upload_log.append((time.time(), nbytes))

    def leave(self, actions: Sequence[Action]) -> None:
        """The budget (or the server's quota) ran out: these uploads are left for a later run."""
        self.result.left += len(actions)
        self.finished.update(a.record.key for a in actions)
        why = "the server's quota is reached" if self.result.stopped else "daily upload budget reached"
        self.progress.note(f"{why}: {len(actions)} message(s) left for a later run")

    # -- reporting --------------------------------------------------------------------------------------
    def report_conflicts(self, plan: Plan) -> None:
        for a in plan.actions:
            if a.conflict_with is None or a.record.key in self._conflict_keys:
                continue
            self._conflict_keys.add(a.record.key)
            if a.kind == CONFLICT:
                reason = "skipped: a different message with this Message-ID is on the target (policy skip)"
            elif a.rewrite_id is not None:
                reason = (f"a different message has this Message-ID: uploaded as {a.rewrite_id}, "
                          "the original kept in X-Archiver-Original-Message-ID")
            else:
                reason = "a different message has this Message-ID: uploaded as is (policy force)"
            self.result.conflicts.append(RestoreProblem(a.record.key, a.record.message_id, reason))

    def report_plan(self, plan: Plan, *, appendlimit: int | None, refuses_nul: bool) -> None:
        """Dry run: one PlannedAction per message, uploads checked for what the server would refuse."""
        uploads = {a.record.blob_id: a for a in plan.actions if a.kind == UPLOAD}
        cannot: dict[str, str] = {}
        for blob_id, data in self.archive.iter_blobs(list(uploads), self.unreadable):
            a = uploads[blob_id]
            if a.rewrite_id is not None:
                data = rewrite_message_id(data, a.rewrite_id)
            reason = cannot_reason(data, appendlimit, refuses_nul=refuses_nul)
            if reason is not None:
                cannot[blob_id] = reason
        cannot.update((b, self.unreadable_reason(b)) for b in uploads if b in self.unreadable)
        for a in plan.actions:
            kind, detail = a.kind, a.reason
            if kind == UPLOAD and a.record.blob_id in cannot:
                kind, detail = "cannot", cannot[a.record.blob_id]
            elif kind == UPLOAD:
                where = ", ".join(a.missing) if a.missing else a.location
                detail = "; ".join(x for x in (f"into {where}", a.reason) if x)
            elif a.add_labels or a.missing or a.add_flags or a.fix_flags:
                flags = sorted({f for _, _, fs in a.fix_flags for f in fs} | set(a.add_flags))
                detail = "add " + ", ".join([*(a.add_labels or a.missing), *flags])
            self.result.planned.append(PlannedAction(kind, a.record.key, a.record.message_id, detail))
