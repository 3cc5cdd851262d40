"""What ``run`` remembers between runs, per config account: the next verify slice and the last prune/verify.

One small JSON file per account under ``$XDG_STATE_HOME/gmail-archiver/accounts/``, replaced atomically
(write to a temporary file, fsync, rename), so a crash leaves the old or the new record, never half of one.
A missing or unreadable record starts afresh (slice 1, never pruned): losing it costs one re-read slice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(slots=True)
class AccountState:
    verify_slices: int = 0
    verify_next: int = 1
    """The slice (1-based) the next verify reads."""
    last_prune: str | None = None
    last_verify: str | None = None

    def when(self, what: str) -> dt.datetime | None:
        text = self.last_prune if what == "prune" else self.last_verify
        return dt.datetime.fromisoformat(text) if text else None


def state_file(root: Path, name: str) -> Path:
    """A file name safe for any account name (the readable part, then a hash of the whole name)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40]
    return root / "accounts" / f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}.json"


def load_state(path: Path) -> AccountState:
    try:
        data = json.loads(path.read_text())
        return AccountState(verify_slices=int(data.get("verify_slices", 0)),
                            verify_next=int(data.get("verify_next", 1)), last_prune=data.get("last_prune"),
                            last_verify=data.get("last_verify"))
    except (OSError, ValueError, TypeError, AttributeError):
        return AccountState()


def private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents 0700 (it names accounts, archives and servers)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=0o700, exist_ok=True)


def save_state(path: Path, state: AccountState) -> None:
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(asdict(state), f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def due(every: str, last: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a step with frequency ``every`` (config EVERY) runs now, given when it last ran (UTC days)."""
    if every == "never":
        return False
    if every == "always" or last is None:
        return True
    a, b = last.astimezone(dt.UTC), now.astimezone(dt.UTC)
    if every == "hourly":
        return (b.date(), b.hour) != (a.date(), a.hour)
    if every == "daily":
        return b.date() != a.date()
    if every == "weekly":
        return b.isocalendar()[:2] != a.isocalendar()[:2]
    return (b.year, b.month) != (a.year, a.month)
