"""The metadata pass of backup: which folders to read, and what each holds now compared with the last
snapshot (new UIDs with full metadata, flag/label changes via CONDSTORE, deletions by UID SEARCH ALL).

Gmail (X-GM-EXT-1): All Mail, Trash (and Spam on request) found by SPECIAL-USE, never by name; a message
is its X-GM-MSGID, so a body already in the archive under that id is never downloaded again, even after a
move to Trash or a UIDVALIDITY change.  Other servers: every selectable folder; bodies are identified by
their hash, so new UIDs are downloaded, except after a UIDVALIDITY change where the old message is found
again by (Message-ID, size, INTERNALDATE) when that is unambiguous.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from archiver.errors import ArchiverError, AuthError, CapabilityMissing, RemoteError
from archiver.imap import MessageMeta, Session
from archiver.imap.retry import Reconnecting
from archiver.model import FolderState
from archiver.ops.backup.plan import ALL, JUNK, TRASH, Entry, PreviousState, clean_flags, plan_folder


@dataclass
class FolderScan:
    """One folder after the metadata pass."""

    name: str
    role: str | None
    state: FolderState
    entries: dict[int, Entry] = field(default_factory=dict)
    new: int = 0
    gone: int = 0
    deferred: tuple[int, ...] = ()
    """New UIDs whose metadata is read while their bodies download (see DeferredMeta)."""
    unchanged: bool = False
    """Same folder, UIDVALIDITY, UIDs, flags and labels as in the last snapshot: its records stay as they
    were (a no-change run reuses them instead of assembling them again)."""
    kept: tuple[str, tuple[int, ...]] | None = None
    """(previous folder, UIDs) whose entries are still to be rebuilt from the last snapshot: an unchanged
    folder (same HIGHESTMODSEQ) defers that work to ``materialize``, which a no-change run never needs."""

    def materialize(self, prev: PreviousState) -> None:
        """Rebuild the deferred entries of kept UIDs from the last snapshot (no-op when none are)."""
        if self.kept is not None:
            pname, uids = self.kept
            for uid in uids:
                self.entries[uid] = prev.entry(pname, uid, self.role)
            self.kept = None


def choose_folders(session: Session, *, gmail: bool, include_spam: bool) -> list[tuple[str, str | None]]:
    """(name, role) of the folders to back up, in a stable order.

    Off Gmail, every selectable folder except a ``\\All`` one: there it is a virtual view (Dovecot's
    virtual plugin) whose name would become a label of every message.
    """
    folders = session.folders()
    if not gmail:
        real = [(f.name, f.role) for f in folders if f.selectable and f.role != ALL]
        return sorted(real or [(f.name, f.role) for f in folders if f.selectable])
    wanted = [ALL, TRASH, *([JUNK] if include_spam else [])]
    by_role = {f.role: f for f in folders if f.selectable and f.role}
    if ALL not in by_role:
        raise CapabilityMissing(
            "the server offers no All Mail folder (SPECIAL-USE \\All): a complete Gmail backup needs it",
            hint="in Gmail settings, Labels: tick 'Show in IMAP' for All Mail")
    return [(by_role[r].name, r) for r in wanted if r in by_role]


def entry_from_meta(meta: MessageMeta) -> Entry:
    return Entry(uid=meta.uid, size=meta.size, internaldate=meta.internaldate, tz_minutes=meta.tz_minutes,
                 flags=clean_flags(meta.flags), message_id=meta.message_id, gm_msgid=meta.gm_msgid,
                 gm_thrid=meta.gm_thrid, gm_labels=tuple(meta.gm_labels or ()))


def previous_name(prev: PreviousState, name: str, role: str | None, gmail: bool) -> str | None:
    """The folder of the last snapshot this one continues (Gmail: same role, names are localised)."""
    if gmail and role is not None:
        fs = prev.folder_by_role(role)
        return fs.name if fs is not None else None
    return name if name in prev.folders else None


def scan_folder(rc: Reconnecting, name: str, role: str | None, prev: PreviousState, *,
                gmail: bool, defer_over: int | None = None) -> FolderScan:
    """SELECT one folder and work out its entries; bodies not yet known have ``blob_id`` None.

    Every command goes through ``rc``: after a lost connection it reconnects, re-selects (refusing a
    changed UIDVALIDITY) and goes on from the chunk it was reading.  When more than ``defer_over`` UIDs
    are new and every body is to be downloaded anyway (off Gmail; on Gmail, the account's first backup),
    their metadata is not read here but left in ``deferred``, so it can be read during the download.
    """
    status = rc.select(name, readonly=True)
    uids = rc.run(_search_all)
    pname = previous_name(prev, name, role, gmail)
    pstate = prev.folders.get(pname) if pname else None
    pmap = prev.by_folder.get(pname, {}) if pname else {}
    plan = plan_folder(name, pstate, pmap.keys(), status.uidvalidity, status.highestmodseq, uids)
    scan = FolderScan(name, role, FolderState(name, status.uidvalidity, status.uidnext,
                                              status.highestmodseq, role),
                      new=len(plan.new_uids), gone=len(plan.gone_uids))
    assert pname is not None or not plan.kept_uids
    same = pname == name and not plan.remap and not plan.new_uids and not plan.gone_uids
    if same and plan.changedsince is None and not plan.refresh_all:  # CONDSTORE says nothing changed
        scan.unchanged, scan.kept = True, (name, plan.kept_uids)
        return scan
    for uid in plan.kept_uids:
        scan.entries[uid] = prev.entry(pname or name, uid, role)
    if plan.kept_uids and (plan.changedsince is not None or plan.refresh_all):
        for meta in _metas(rc, plan.kept_uids, plan.changedsince):
            entry = scan.entries.get(meta.uid)
            if entry is not None:
                flags = clean_flags(meta.flags)
                labels = entry.gm_labels if meta.gm_labels is None else tuple(meta.gm_labels)
                same = same and flags == entry.flags and labels == entry.gm_labels
                entry.flags, entry.gm_labels = flags, labels
    scan.unchanged = same
    new_uids = plan.new_uids
    # Gmail needs the X-GM-MSGIDs first to skip known bodies, unless the account has none yet
    can_defer = not (plan.remap and pname is not None) and (not gmail or not prev.by_key)
    if can_defer and defer_over is not None and len(new_uids) > defer_over:
        scan.deferred, new_uids = new_uids, ()
    for meta in _metas(rc, new_uids, None):
        entry = entry_from_meta(meta)
        if gmail and entry.key is not None:
            known = prev.by_key.get(entry.key)
            if known is not None:
                entry.blob_id = known.blob_id
                entry.message_id = known.message_id
        elif plan.remap and pname is not None:
            match = prev.match_remapped(pname, entry)
            if match is not None:
                entry.blob_id, entry.thread_id = match.blob_id, match.thread_id
        scan.entries[meta.uid] = entry
    return scan


def _metas(rc: Reconnecting, uids: Sequence[int], changedsince: int | None,
           chunk: int = 5000) -> Iterator[MessageMeta]:
    """Metadata in chunks (each retried alone), so a big folder's responses are never all held at once."""
    for i in range(0, len(uids), chunk):
        yield from rc.run(functools.partial(_fetch_meta, uids=uids[i:i + chunk], changedsince=changedsince))


def _search_all(session: Session) -> list[int]:
    return session.search_uids("ALL")


def carried_over(name: str, role: str | None, prev: PreviousState, *, gmail: bool) -> FolderScan | None:
    """A folder that could not be read this run keeps its previous state and messages (nothing lost)."""
    pname = previous_name(prev, name, role, gmail)
    if pname is None:
        return None
    scan = FolderScan(name, role, replace(prev.folders[pname], name=name, role=role))
    for uid in prev.by_folder.get(pname, {}):
        scan.entries[uid] = prev.entry(pname, uid, role)
    return scan


def _fetch_meta(session: Session, *, uids: Sequence[int], changedsince: int | None = None
                ) -> list[MessageMeta]:
    return session.fetch_meta(uids, changedsince=changedsince)


class DeferredMeta:
    """Reads the metadata of deferred UIDs on its own connection, in chunks, while bodies download;
    ``on_meta(folder, metas)`` merges each chunk.  What cannot be read is reported by ``join``."""

    def __init__(self, rc: Reconnecting, folders: dict[str, tuple[int, ...]],
                 on_meta: Callable[[str, list[MessageMeta]], None], uidvalidity: Mapping[str, int],
                 chunk: int = 1000) -> None:
        self._rc = rc
        self._uidvalidity = uidvalidity
        self._folders = folders
        self._on_meta = on_meta
        self._chunk = chunk
        self._failed: list[tuple[str, tuple[int, ...], str]] = []
        self._fatal: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="backup-meta", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            for folder, uids in self._folders.items():
                done = 0
                try:
                    self._rc.select(folder, readonly=True, uidvalidity=self._uidvalidity.get(folder))
                    for i in range(0, len(uids), self._chunk):
                        part = uids[i:i + self._chunk]
                        self._on_meta(folder, self._rc.run(functools.partial(_fetch_meta, uids=part)))
                        done = i + len(part)
                except AuthError:
                    raise
                except RemoteError as exc:
                    self._failed.append((folder, uids[done:], f"metadata could not be read: {exc}"))
        except BaseException as exc:
            self._fatal = exc
        finally:
            with contextlib.suppress(ArchiverError, OSError):
                self._rc.close()

    def join(self) -> list[tuple[str, tuple[int, ...], str]]:
        """Wait for the end; (folder, UIDs, reason) of what could not be read.  Re-raises a fatal error."""
        self._thread.join()
        if self._fatal is not None:
            raise self._fatal
        return list(self._failed)
