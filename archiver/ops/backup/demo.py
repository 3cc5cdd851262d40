"""The demo behind ``gmail-archiver demo``: a Gmail emulator on loopback, seeded with synthetic mail, backed
up twice (the second run incremental, after a few changes on the server), so a first-time user sees
labels, threads, deduplication and incremental snapshots without a real account or a password.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote

from archiver.emulator import EmulatorConfig, GmailEmulator
from archiver.emulator.synth import generate
from archiver.errors import ArchiverError
from archiver.imap import Credentials
from archiver.ops.backup.operation import BackupResult, backup
from archiver.progress import NullProgress, Progress
from archiver.store import Archive

DEMO_USER = "demo@gmail.com"
DEMO_PASSWORD = "demo-app-password"  # an account of the throw-away emulator, not a secret


@dataclass
class DemoResult:
    """What the demo did: the two runs, the changes made in between, the labels it ended with."""

    archive: str
    server: str
    messages: int
    runs: list[BackupResult] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    """Label -> messages carrying it, in the last snapshot."""
    threads: int = 0
    archive_bytes: int = 0


def demo(archive_path: str | os.PathLike[str], *, messages: int = 200, seed: int = 0,
         progress: Progress | None = None) -> DemoResult:
    """Run the demo into ``archive_path`` (created if missing or empty) and say what happened."""
    progress = progress or NullProgress()
    user = _fresh_user(archive_path)
    with GmailEmulator(EmulatorConfig()) as emu:
        emu.add_account(user, password=DEMO_PASSWORD)
        ids = [emu.seed(user, m.raw, labels=m.labels, flags=m.flags, internaldate=m.date)
               for m in generate(messages, seed=seed)]
        url = f"imap://{quote(user)}@127.0.0.1:{emu.port}"
        creds = Credentials(password=DEMO_PASSWORD)
        result = DemoResult(archive=os.fspath(archive_path), server=f"127.0.0.1:{emu.port}",
                            messages=messages)
        result.runs.append(backup(archive_path, url, credentials=creds, init=True, progress=progress))
        result.changes = _change_things(emu, user, ids, seed)
        result.runs.append(backup(archive_path, url, credentials=creds, progress=progress))
    archive = Archive.open(archive_path)
    snap = archive.load(result.runs[-1].snapshot)
    counts: Counter[str] = Counter()
    threads = set()
    for rec in snap:
        counts.update(rec.labels)
        threads.add(rec.thread_id)
    result.labels = dict(sorted(counts.items()))
    result.threads = len(threads)
    result.archive_bytes = archive.stats().total_bytes
    return result


def _fresh_user(archive_path: str | os.PathLike[str]) -> str:
    """The demo account, or demo-2, demo-3... when the archive already holds a demo account's snapshots
    (each run's emulator is a new server: its UIDs must not be mistaken for the old one's)."""
    try:
        taken = {s.account for s in Archive.open(archive_path).snapshots()}
    except ArchiverError:
        return DEMO_USER
    n = 1
    while True:
        user = DEMO_USER if n == 1 else DEMO_USER.replace("@", f"-{n}@")
        if f"{user}@127.0.0.1" not in taken:
            return user
        n += 1


def _change_things(emu: GmailEmulator, user: str, ids: list[int], seed: int) -> dict[str, int]:
    """A day in the life of a mailbox: new mail, relabelling, flags, Trash, a permanent deletion."""
    n = len(ids)
    changes = {"new messages": 0, "relabelled": 0, "flagged": 0, "moved to Trash": 0, "deleted forever": 0}
    for m in generate(max(1, n // 20), seed=seed + 1):
        emu.seed(user, m.raw, labels=("\\Inbox",), internaldate=m.date)
        changes["new messages"] += 1
    for gid in ids[: min(3, n)]:
        emu.set_labels(user, gid, set(emu.message(user, gid).labels) | {"Demo/Relabelled"})
        changes["relabelled"] += 1
    for gid in ids[3: min(6, n)]:
        emu.set_flags(user, gid, set(emu.message(user, gid).flags) | {"\\Flagged"})
        changes["flagged"] += 1
    for gid in ids[6: min(8, n)]:
        emu.trash(user, gid)
        changes["moved to Trash"] += 1
    if n > 8:
        emu.delete_forever(user, ids[8])
        changes["deleted forever"] += 1
    return changes
