"""Filling an emulator account for demos and manual tests: synthetic mail and/or a folder of messages."""

from __future__ import annotations

import os
from pathlib import Path

from archiver.emulator.server import GmailEmulator
from archiver.emulator.synth import generate


def populate(emu: GmailEmulator, user: str, messages: int = 0, seed: int = 0,
             corpus: str | os.PathLike[str] | None = None) -> int:
    """Seed ``messages`` synthetic messages (labels, threads, flags) and every ``*.eml`` file under
    ``corpus`` (a leading mbox ``From `` line is dropped; corpus messages land in the inbox).
    Returns how many messages were seeded."""
    count = 0
    for raw, labels, flags, date, _thread in generate(messages, seed):
        emu.seed(user, raw, labels=labels, flags=flags, internaldate=date)
        count += 1
    if corpus is not None:
        root = Path(corpus)
        if not root.is_dir():
            raise FileNotFoundError(f"not a folder: {root}")
        for path in sorted(root.rglob("*.eml")):
            data = path.read_bytes()
            if data.startswith(b"From "):
                data = data.split(b"\n", 1)[1] if b"\n" in data else b""
            emu.seed(user, data, labels=("\\Inbox",))
            count += 1
    return count
