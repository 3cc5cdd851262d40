"""The typed, versioned records of the journals, and their one encoding (formats/layout.md "Journal records").

Backup's resume journal holds :class:`StoredBlob` records (a body this run stored and made durable: which
folder UID / X-GM-MSGID it is); restore's journal holds :class:`Confirmation` records (an archived message
seen on the target), :class:`UploadIntent` records (an APPEND about to be sent), :class:`Sent` (APPENDs
handed whole to the kernel: they may land even if the process dies), :class:`Refused` (an APPEND the server
refused: it stored nothing) and :class:`Dedup` (a late second copy of an interrupted APPEND was removed).
:func:`encode` turns records into one journal entry (one fsync); :func:`decode` turns any entry ever written
back into records: the unversioned backup entries of earlier releases (``{"items": [...]}``, version 0)
still read, and so do restore intents without a time.  An entry of a version newer than this release
knows, or of an unknown ``op``, is skipped (and counted by :func:`decode_all`): journals only spare work,
a reader without them re-checks the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

VERSION = 1
"""The record version this release writes (and the newest it reads)."""

STORED, INTENT, SENT, REFUSED, DEDUP = "stored", "intent", "sent", "refused", "dedup"
CONFIRMATIONS = frozenset({"upload", "copy", "reconcile", "relabel", "untrash"})
"""The ``op`` values of a :class:`Confirmation`."""


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """Backup: blob ``blob_id`` is the body of ``uid`` in ``folder`` under ``uidvalidity`` (and of X-GM-MSGID
    ``gm_msgid`` on Gmail); ``message_id`` and ``refs`` spare re-reading it for threading."""

    folder: str
    uidvalidity: int
    uid: int
    blob_id: str
    message_id: str | None = None
    refs: tuple[str, ...] = ()
    gm_msgid: int | None = None
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Confirmation:
    """Restore: archived message ``key`` (blob ``blob_id``) was seen on the target, as X-GM-MSGID ``gm_msgid``
    (Gmail) or as ``uid`` in ``folder`` under ``uidvalidity``; ``op`` says how (upload, copy, reconcile,
    relabel, untrash); ``nbytes`` uploaded at unix time ``time`` count against the daily budget."""

    op: str
    key: str
    blob_id: str
    time: float = 0.0
    nbytes: int = 0
    gm_msgid: int | None = None
    folder: str | None = None
    uidvalidity: int | None = None
    uid: int | None = None
    version: int = VERSION


class _InSlot:
    """A restore record about one APPEND slot: ``key`` into ``folder`` under ``uidvalidity``."""

    __slots__ = ()
    key: str
    folder: str
    uidvalidity: int

    @property
    def slot(self) -> tuple[str, str, int]:
        """What a confirmation must name to close an intent: (key, folder, UIDVALIDITY)."""
        return (self.key, self.folder, self.uidvalidity)


@dataclass(frozen=True, slots=True)
class UploadIntent(_InSlot):
    """Restore: an APPEND of ``key`` into ``folder`` (``uidvalidity``, ``uidnext`` before it) was about to be
    sent; ``sizes`` the server may report for it.  A confirmation of the same ``slot`` closes it."""

    key: str
    blob_id: str
    folder: str
    uidvalidity: int
    uidnext: int
    sizes: tuple[int, ...] = field(default=())
    time: float = 0.0
    """Unix time it was journalled (0: unknown, an entry written before intents had ``t``)."""
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Sent:
    """Restore: the APPENDs of ``keys`` into ``folder`` (``uidvalidity``) were handed whole to the kernel at
    unix time ``time``, their answers not read yet: from then on the server may store them even if this
    process dies.  Marks the open intents of those slots as sent."""

    folder: str
    uidvalidity: int
    keys: tuple[str, ...]
    time: float = 0.0
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Refused(_InSlot):
    """Restore: the server refused the APPEND of ``key`` into ``folder`` (it stored nothing): closes the
    intent of that slot."""

    key: str
    blob_id: str
    folder: str
    uidvalidity: int
    time: float = 0.0
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Dedup(_InSlot):
    """Restore: a second copy of ``key`` that an interrupted run's late APPEND left at ``uid`` in ``folder``
    was removed: resolves one orphaned intent of that slot."""

    key: str
    blob_id: str
    folder: str
    uidvalidity: int
    uid: int
    time: float = 0.0
    version: int = VERSION


RestoreRecord = Confirmation | UploadIntent | Sent | Refused | Dedup
JournalRecord = StoredBlob | RestoreRecord


# -- encoding -----------------------------------------------------------------------------------------------

def _stored_item(r: StoredBlob) -> list[object]:
    return [r.folder, r.uidvalidity, r.uid, r.blob_id, r.message_id, list(r.refs), r.gm_msgid]


def _map(r: RestoreRecord) -> dict[str, object]:
    if isinstance(r, UploadIntent):
        e: dict[str, object] = {"v": r.version, "op": INTENT, "key": r.key, "blob": r.blob_id,
                                "folder": r.folder, "uidvalidity": r.uidvalidity, "uidnext": r.uidnext,
                                "sizes": sorted(set(r.sizes))}
        if r.time:
            e["t"] = r.time
        return e
    if isinstance(r, Sent):
        return {"v": r.version, "op": SENT, "folder": r.folder, "uidvalidity": r.uidvalidity,
                "keys": list(r.keys), "t": r.time}
    if isinstance(r, Refused):
        return {"v": r.version, "op": REFUSED, "key": r.key, "blob": r.blob_id, "folder": r.folder,
                "uidvalidity": r.uidvalidity, "t": r.time}
    if isinstance(r, Dedup):
        return {"v": r.version, "op": DEDUP, "key": r.key, "blob": r.blob_id, "folder": r.folder,
                "uidvalidity": r.uidvalidity, "uid": r.uid, "t": r.time}
    e = {"v": r.version, "op": r.op, "key": r.key, "blob": r.blob_id, "t": r.time, "bytes": r.nbytes}
    for name, value in (("gm", r.gm_msgid), ("folder", r.folder), ("uidvalidity", r.uidvalidity),
                        ("uid", r.uid)):
        if value is not None:
            e[name] = value
    return e


def encode(records: Sequence[JournalRecord]) -> dict[str, object]:
    """One journal entry holding ``records`` (all StoredBlob, or all restore records)."""
    if not records:
        raise ValueError("no records to encode")
    stored = [r for r in records if isinstance(r, StoredBlob)]
    others = [r for r in records if not isinstance(r, StoredBlob)]
    if stored and others:
        raise ValueError("backup and restore records do not share an entry")
    if stored:
        return {"v": VERSION, "op": STORED, "items": [_stored_item(r) for r in stored]}
    maps = [_map(r) for r in others]
    return maps[0] if len(maps) == 1 else {"batch": maps}


# -- decoding -----------------------------------------------------------------------------------------------

def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _str(v: object) -> str | None:
    return v if isinstance(v, str) else None


def _version(e: Mapping[str, object], default: int) -> int | None:
    v = e.get("v", default)
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= VERSION else None


def _decode_stored(e: Mapping[str, object], version: int) -> Iterator[StoredBlob]:
    items = e.get("items")
    for item in items if isinstance(items, list | tuple) else ():
        if not isinstance(item, list | tuple) or len(item) != 7:
            continue
        folder, uidvalidity, uid, blob, mid, refs, gm = item
        uv, n = _int(uidvalidity), _int(uid)
        if not (isinstance(folder, str) and uv is not None and n is not None and isinstance(blob, str)):
            continue
        refs = tuple(x for x in refs if isinstance(x, str)) if isinstance(refs, list | tuple) else ()
        yield StoredBlob(folder, uv, n, blob, _str(mid), refs, _int(gm), version=version)


def _time(e: Mapping[str, object]) -> float:
    t = e.get("t")
    return float(t) if isinstance(t, int | float) and not isinstance(t, bool) else 0.0


def _slot(e: Mapping[str, object]) -> tuple[str, int] | None:
    folder, uv = e.get("folder"), _int(e.get("uidvalidity"))
    return (folder, uv) if isinstance(folder, str) and uv is not None else None


def _decode_map(e: Mapping[str, object]) -> RestoreRecord | None:
    version = _version(e, 1)
    key, blob, op = e.get("key"), e.get("blob"), e.get("op")
    if version is None:
        return None
    if op == SENT:
        where, keys = _slot(e), e.get("keys")
        if where is None or not isinstance(keys, list | tuple):
            return None
        named = tuple(k for k in keys if isinstance(k, str))
        return Sent(where[0], where[1], named, _time(e), version=version)
    if not isinstance(key, str) or not isinstance(blob, str):
        return None
    if op == INTENT:
        folder, sizes = e.get("folder"), e.get("sizes")
        uv, nxt = _int(e.get("uidvalidity")), _int(e.get("uidnext"))
        if not (isinstance(folder, str) and uv is not None and nxt is not None
                and isinstance(sizes, list | tuple)):
            return None
        return UploadIntent(key, blob, folder, uv, nxt, tuple(n for n in sizes if isinstance(n, int)),
                            _time(e), version=version)
    if op in (REFUSED, DEDUP):
        where, uid = _slot(e), _int(e.get("uid"))
        if where is None:
            return None
        if op == REFUSED:
            return Refused(key, blob, where[0], where[1], _time(e), version=version)
        return None if uid is None else Dedup(key, blob, where[0], where[1], uid, _time(e), version=version)
    if op not in CONFIRMATIONS:
        return None
    n = _int(e.get("bytes"))
    return Confirmation(str(op), key, blob, _time(e), n or 0, _int(e.get("gm")), _str(e.get("folder")),
                        _int(e.get("uidvalidity")), _int(e.get("uid")), version=version)


def decode(entry: Mapping[str, object]) -> tuple[list[JournalRecord], int]:
    """The records of one journal entry, and how many parts of it were skipped (unknown version or op,
    malformed).  Reads every form ever written: ``{"items": [...]}`` without ``v`` is backup's version 0."""
    if "items" in entry and "key" not in entry:
        version = _version(entry, 0)
        if version is None or entry.get("op", STORED) != STORED:
            return [], 1
        return list(_decode_stored(entry, version)), 0
    batch = entry.get("batch")
    parts = [e for e in batch if isinstance(e, Mapping)] if isinstance(batch, list | tuple) else [entry]
    out: list[JournalRecord] = []
    skipped = 0
    for part in parts:
        record = _decode_map(part)
        if record is None:
            skipped += 1
        else:
            out.append(record)
    return out, skipped


def decode_all(entries: Iterable[Mapping[str, object]]) -> tuple[list[JournalRecord], int]:
    """Every record of a journal in order, and the number of parts skipped."""
    out: list[JournalRecord] = []
    skipped = 0
    for entry in entries:
        records, n = decode(entry)
        out.extend(records)
        skipped += n
    return out, skipped
