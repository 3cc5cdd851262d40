"""What a restore does beyond reaching the server (``imap.ServerOptions``): one checked object."""

from __future__ import annotations

from dataclasses import dataclass, field

from archiver.errors import UsageError
from archiver.filters import MessageFilter

POLICIES = ("rewrite-message-id", "skip", "force")


@dataclass(frozen=True, slots=True)
class RestoreOptions:
    """Which snapshot (of which source ``account``: needed with ``latest`` or a time in an archive of several
    accounts, unless one of them is the target's user) and messages, and how: the Message-ID ``policy``
    (``POLICIES``), a daily upload budget, the folder of unlabelled messages on a non-Gmail target, and
    ``dry_run``.  Checked when built."""

    snapshot: str = "latest"
    where: MessageFilter = field(default_factory=MessageFilter)
    dry_run: bool = False
    policy: str = "rewrite-message-id"
    max_upload_bytes_per_day: int | None = None
    default_folder: str = "INBOX"
    account: str | None = None

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise UsageError(f"unknown policy {self.policy!r}; choose one of {', '.join(POLICIES)}")
        if self.max_upload_bytes_per_day is not None and self.max_upload_bytes_per_day <= 0:
            raise UsageError("--max-upload-per-day must be positive")
