"""What a rewrite (or an undo) did, message by message, for people and for ``--json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class RewriteChange:
    """One message changed on the server (or, in a dry run, that would be)."""

    key: str
    message_id: str | None
    note: str
    freed: int = 0
    new_gm_msgid: int | None = None
    thread: int | None = None
    """The new version's Gmail thread id (X-GM-THRID); None off Gmail or in a dry run."""
    resumed: bool = False
    """Finished for an interrupted run."""


@dataclass(frozen=True)
class RewriteProblem:
    """A message left as it is, and why."""

    key: str
    message_id: str | None
    reason: str


@dataclass
class RewriteResult:
    run: str
    mode: str
    """``rewrite`` or ``undo``."""
    transform: str
    target: str
    account: str
    dry_run: bool
    snapshot: str | None = None
    backed_up: str | None = None
    """The snapshot a backup made first (the server held messages the archive did not), else None."""
    selected: int = 0
    changed: list[RewriteChange] = field(default_factory=list)
    unchanged: int = 0
    already: int = 0
    """Selected messages that are the output of an earlier run (not changed again)."""
    gone: int = 0
    """Selected messages no longer on the server."""
    failed: list[RewriteProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(c.freed for c in self.changed)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["freed"] = self.freed
        out["ok"] = self.ok
        return out
