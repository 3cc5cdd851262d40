"""The typed, versioned records of the rewrite journal (formats/layout.md "Rewrite journal").

One journal per target account (``rewrite.<user@host:port>``) holds every rewrite run and every undo, each
record naming its ``run``.  A message goes through ``begin`` (what is about to change: the original's blob,
where it is, its labels, flags and date, the new bytes' digest) -> ``intent`` (an APPEND into ``folder``
about to be sent, with the folder's UIDNEXT) -> ``appended`` (confirmed at ``uid``) -> ``removed`` (the old
copy is gone from the server) -> ``done``; on Gmail ``removed`` comes before the APPEND (Gmail would drop an
upload whose Message-ID it still holds).  A ``begin`` without ``done`` is finished by the next run.  An
entry of a newer version, or of an unknown ``op``, is skipped: the next run re-checks the server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

VERSION = 1


@dataclass(frozen=True, slots=True)
class Place:
    """One copy of a message on the server: ``uid`` in ``folder`` under ``uidvalidity`` (on Gmail the
    folder is All Mail or Trash and ``gm_msgid`` names it for good)."""

    folder: str
    uidvalidity: int
    uid: int
    gm_msgid: int | None = None


@dataclass(frozen=True, slots=True)
class Begin:
    """Message ``key`` (archived as blob ``blob_id``) is about to be replaced by bytes of ``new_size`` and
    SHA-256 ``new_sha`` (``mode`` rewrite: the transform's output; undo: the original of run ``undo_of``).
    ``old``: its copies on the server now; ``labels``, ``flags``, ``internaldate``/``tz_minutes``,
    ``trashed``: what the new version gets."""

    run: str
    key: str
    blob_id: str
    mode: str
    old: tuple[Place, ...]
    labels: tuple[str, ...]
    flags: tuple[str, ...]
    internaldate: int
    tz_minutes: int
    trashed: bool
    new_size: int
    new_sha: str
    message_id: str | None = None
    undo_of: str | None = None
    transform: str = ""
    """The transform's name (mode rewrite): a resumed run recomputes the new bytes with it."""
    note: str = ""
    freed: int = 0
    time: float = 0.0
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Intent:
    """An APPEND of ``key``'s new bytes into ``folder`` (``uidvalidity``, ``uidnext`` before it) is about to
    be sent: a copy at or above ``uidnext`` with those bytes is that upload."""

    run: str
    key: str
    folder: str
    uidvalidity: int
    uidnext: int
    time: float = 0.0
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Refused:
    """The server answered NO to the APPEND of ``key`` into ``folder`` (it stored nothing): closes the
    intent, so the next run does not wait for a copy that cannot land."""

    run: str
    key: str
    folder: str
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Appended:
    """The new version of ``key`` is confirmed at ``place`` (bytes and size checked)."""

    run: str
    key: str
    place: Place
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Removed:
    """Every old copy of ``key`` is gone from the server (Gmail: deleted forever from Trash)."""

    run: str
    key: str
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Done:
    """``key`` is rewritten: its new version is ``new`` (every copy, labels applied), ``thread`` its Gmail
    thread id; the old copies are gone."""

    run: str
    key: str
    new: tuple[Place, ...]
    thread: int | None = None
    time: float = 0.0
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Start:
    """Run ``run`` began: ``mode`` rewrite with ``transform`` over ``selection`` (the filter, as text), or
    undo (``selection`` names the run taken back).  A run with no ``finish`` is continued, under its id, by
    the next run of the same mode, transform and selection."""

    run: str
    mode: str
    transform: str
    selection: str
    time: float = 0.0
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Finish:
    """Run ``run`` went through its whole selection."""

    run: str
    time: float = 0.0
    version: int = VERSION


RewriteRecord = Start | Begin | Intent | Refused | Appended | Removed | Done | Finish
_OPS: dict[str, type[RewriteRecord]] = {"start": Start, "begin": Begin, "intent": Intent,
                                        "refused": Refused, "appended": Appended, "removed": Removed,
                                        "done": Done, "finish": Finish}
_NAMES = {cls: name for name, cls in _OPS.items()}


def _place_map(p: Place) -> list[object]:
    return [p.folder, p.uidvalidity, p.uid, p.gm_msgid]


def _place(v: object) -> Place | None:
    if not isinstance(v, list | tuple) or len(v) != 4:
        return None
    folder, uv, uid, gm = v
    if not (isinstance(folder, str) and isinstance(uv, int) and isinstance(uid, int)
            and (gm is None or isinstance(gm, int))):
        return None
    return Place(folder, uv, uid, gm)


def encode(record: RewriteRecord) -> dict[str, object]:
    """One journal entry (a msgpack map) for ``record``."""
    out: dict[str, object] = {"op": _NAMES[type(record)]}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, Place):
            value = _place_map(value)
        elif isinstance(value, tuple):
            value = [_place_map(x) if isinstance(x, Place) else x for x in value]
        out["v" if f.name == "version" else f.name] = value
    return out


def decode(entry: Mapping[str, object]) -> RewriteRecord | None:
    """The record of one entry, or None (unknown op or version, malformed)."""
    cls = _OPS.get(str(entry.get("op")))
    version = entry.get("v")
    if cls is None or not isinstance(version, int) or not 1 <= version <= VERSION:
        return None
    kwargs: dict[str, object] = {"version": version}
    for f in dataclasses.fields(cls):
        if f.name == "version":
            continue
        if f.name not in entry:
            if f.default is dataclasses.MISSING:
                return None
            continue
        value = entry[f.name]
        if f.name == "place":
            value = _place(value)
            if value is None:
                return None
        elif f.name in ("old", "new"):
            places = [_place(x) for x in value] if isinstance(value, list | tuple) else [None]
            if any(p is None for p in places):
                return None
            value = tuple(places)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)  # type: ignore[arg-type]
    except TypeError:
        return None


def decode_all(entries: Iterable[Mapping[str, object]]) -> tuple[list[RewriteRecord], int]:
    """Every record in order, and how many entries were skipped."""
    out: list[RewriteRecord] = []
    skipped = 0
    for e in entries:
        r = decode(e)
        if r is None:
            skipped += 1
        else:
            out.append(r)
    return out, skipped
