"""What the rewrite journal says: the messages an interrupted run left half-done, and what every run did."""

from __future__ import annotations

from dataclasses import dataclass, field

from archiver.store import Journal
from archiver.store.rewrite_records import (
    Appended,
    Begin,
    Done,
    Finish,
    Intent,
    Place,
    Refused,
    Removed,
    Start,
    decode_all,
)


def journal_name(account: str) -> str:
    """The journal of one target account (``rewrite-<user>_<host>_<port>``, file-name safe)."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in account)
    return f"rewrite-{safe}"[:120]


@dataclass
class Item:
    """One message's way through a rewrite (or an undo) of one run, as far as the journal tells."""

    begin: Begin
    intents: dict[str, Intent] = field(default_factory=dict)
    """Folder -> the latest APPEND intent into it."""
    appended: dict[str, Place] = field(default_factory=dict)
    removed: bool = False
    done: Done | None = None


@dataclass
class JournalState:
    """Every item by (run, key), in journal order, and how many entries could not be read."""

    items: dict[tuple[str, str], Item] = field(default_factory=dict)
    starts: dict[str, Start] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)
    skipped: int = 0

    def unfinished(self, mode: str, transform: str, selection: str) -> str | None:
        """The id of the latest run of this mode, transform and selection that never finished, if that run
        is the latest of them at all (a finished later one means it was given up)."""
        same = [s for s in self.starts.values()
                if (s.mode, s.transform, s.selection) == (mode, transform, selection)]
        return same[-1].run if same and same[-1].run not in self.finished else None

    def open_items(self) -> list[Item]:
        """Begun and not done: an interrupted run's work, to finish first."""
        return [i for i in self.items.values() if i.done is None]

    def undone_runs(self) -> set[tuple[str, str]]:
        """(run, key) of rewrites an undo put back (done)."""
        return {(i.begin.undo_of, i.begin.key) for i in self.items.values()
                if i.begin.mode == "undo" and i.begin.undo_of and i.done is not None}

    def of_run(self, run: str) -> list[Item]:
        return [i for (r, _), i in self.items.items() if r == run]

    def runs(self) -> list[str]:
        return [s.run for s in self.starts.values() if s.mode == "rewrite"]

    def live_outputs(self) -> tuple[set[int], set[tuple[str, int, int]], set[str]]:
        """(X-GM-MSGIDs, (folder, UIDVALIDITY, UID) places, original keys) of finished rewrites that no
        undo took back: messages a new run must not select again."""
        undone = self.undone_runs()
        gms: set[int] = set()
        places: set[tuple[str, int, int]] = set()
        keys: set[str] = set()
        for (run, key), i in self.items.items():
            if i.done is None or i.begin.mode != "rewrite" or (run, key) in undone:
                continue
            keys.add(key)
            for p in i.done.new:
                places.add((p.folder, p.uidvalidity, p.uid))
                if p.gm_msgid is not None:
                    gms.add(p.gm_msgid)
        return gms, places, keys


def read_state(journal: Journal) -> JournalState:
    records, skipped = decode_all(journal)
    state = JournalState(skipped=skipped)
    for r in records:
        if isinstance(r, Start):
            state.starts[r.run] = r
            continue
        if isinstance(r, Finish):
            state.finished.add(r.run)
            continue
        if isinstance(r, Begin):
            state.items[(r.run, r.key)] = Item(r)
            continue
        item = state.items.get((r.run, r.key))
        if item is None:
            state.skipped += 1
        elif isinstance(r, Intent):
            item.intents[r.folder] = r
        elif isinstance(r, Refused):
            item.intents.pop(r.folder, None)
        elif isinstance(r, Appended):
            item.appended[r.place.folder] = r.place
        elif isinstance(r, Removed):
            item.removed = True
        elif isinstance(r, Done):
            item.done = r
    return state
