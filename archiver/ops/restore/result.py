"""What a restore reports: counts, every per-message problem with its reason, and the plan of a dry run."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RestoreProblem:
    """One archived message restore could not (fully) bring back, and why."""

    key: str
    message_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """One line of a dry run's plan: ``kind`` is upload / relabel / untrash / present / conflict / cannot."""

    kind: str
    key: str
    message_id: str | None
    detail: str = ""


@dataclass
class RestoreResult:
    """The outcome of ``restore()``.  Nothing is counted as restored that the server was not seen to hold."""

    snapshot: str
    target: str
    account: str = ""
    """The source account (``user@host``) of the snapshot restored."""
    dry_run: bool = False
    selected: int = 0
    """Messages of the snapshot that passed the filters."""
    uploaded: int = 0
    relabelled: int = 0
    untrashed: int = 0
    already_present: int = 0
    uploaded_bytes: int = 0
    conflicts: list[RestoreProblem] = field(default_factory=list)
    """A different message already held the Message-ID; ``reason`` says what the policy did."""
    failed: list[RestoreProblem] = field(default_factory=list)
    """Not restored: too big, NUL bytes, refused, dropped by the server's de-duplication."""
    altered: list[RestoreProblem] = field(default_factory=list)
    """Restored, but the server holds other bytes than the archive (e.g. line endings changed)."""
    duplicates: list[RestoreProblem] = field(default_factory=list)
    """Second copies an interrupted run's late APPENDs left on a non-Gmail target: removed (``reason`` says
    so), or left when the server cannot remove only them (no UIDPLUS)."""
    left: int = 0
    """Not attempted because the daily upload budget ran out; run again later."""
    renamed: dict[str, str] = field(default_factory=dict)
    """Labels no server takes as a name (an empty level: ``/x``, ``x/``, ``a//b``) -> the name used."""
    stopped: str | None = None
    """Why the run stopped before the end (e.g. the server's quota refused further uploads), or None."""
    planned: list[PlannedAction] = field(default_factory=list)
    """Dry run: what a real run would do, per message."""
    reconnects: int = 0
    warnings: list[str] = field(default_factory=list)
    """E.g. a ``--label`` the snapshot does not have (the run goes on; the exit code is unchanged)."""

    @property
    def duplicates_removed(self) -> int:
        return sum(1 for p in self.duplicates if p.reason.startswith("removed"))

    @property
    def ok(self) -> bool:
        """True when every selected message is on the target once (exit code 0)."""
        return not self.failed and not self.left and not any(
            p.reason.startswith("skipped") for p in self.conflicts) and not any(
            not p.reason.startswith("removed") for p in self.duplicates)

    def to_json(self) -> dict[str, object]:
        """The documented ``--json`` document (keys listed in the restore command's help)."""
        def probs(items: list[RestoreProblem]) -> list[dict[str, object]]:
            return [{"key": p.key, "message_id": p.message_id, "reason": p.reason} for p in items]

        doc: dict[str, object] = {
            "snapshot": self.snapshot, "account": self.account, "target": self.target,
            "dry_run": self.dry_run,
            "selected": self.selected, "uploaded": self.uploaded, "relabelled": self.relabelled,
            "untrashed": self.untrashed, "already_present": self.already_present,
            "uploaded_bytes": self.uploaded_bytes, "conflicts": probs(self.conflicts),
            "failed": probs(self.failed), "altered": probs(self.altered), "left": self.left,
            "duplicates": probs(self.duplicates), "duplicates_removed": self.duplicates_removed,
            "reconnects": self.reconnects, "stopped": self.stopped, "renamed_labels": self.renamed,
            "warnings": self.warnings,
        }
        if self.dry_run:
            doc["planned"] = [{"action": a.kind, "key": a.key, "message_id": a.message_id, "detail": a.detail}
                              for a in self.planned]
        return doc
