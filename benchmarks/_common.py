"""What several benchmarks share: plain synthetic mail, the mbsync peer's settings, publishing figures."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Literal

README = Path(__file__).resolve().parent / "README.md"

PLAIN_WORDS = ["mail", "backup", "archive", "label", "thread", "gmail", "server", "folder", "message",
               "snapshot", "the", "of", "and", "to", "in", "is", "it", "that", "for", "on", "with", "as"]


def plain_messages(n: int, size: int, seed: int, tag: str) -> list[bytes]:
    """Deterministic CRLF plain-text messages of about ``size`` bytes (0.8-1.2x) with unique Message-IDs
    ``<{tag}{i}.{seed}@example.org>``."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        head = (f"From: user{rng.randrange(50)}@example.org\r\nTo: me@example.org\r\nSubject: m {i}\r\n"
                f"Message-ID: <{tag}{i}.{seed}@example.org>\r\n\r\n").encode()
        target = int(size * rng.uniform(0.8, 1.2))
        body = bytearray(head)
        while len(body) < target:
            body += " ".join(rng.choices(PLAIN_WORDS, k=12)).encode() + b"\r\n"
        out.append(bytes(body))
    return out


def mbsync_config(port: int, maildir: Path, direction: Literal["pull", "push"], fsync: bool = True) -> str:
    """mbsync (isync) settings used against the private Dovecot (user alice): ``pull`` mirrors every folder
    into ``maildir`` (the backup peer), ``push`` uploads its INBOX (the restore peer).  ``fsync=False`` is
    mbsync's other mode (``FSync no``: no forced flush per message)."""
    channel = ("Patterns *\nCreate Near\nSync Pull" if direction == "pull"
               else "Patterns INBOX\nCreate Far\nSync Push")
    return ("" if fsync else "FSync no\n\n") + f"""IMAPAccount bench
Host 127.0.0.1
Port {port}
User alice
Pass secret
SSLType None
AuthMechs LOGIN
PipelineDepth 50

IMAPStore bench-remote
Account bench

MaildirStore bench-local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel bench
Far :bench-remote:
Near :bench-local:
{channel}
Expunge None
SyncState *
"""


def publish(text: str, append: bool) -> None:
    """Print the figures; with ``append``, also add them as a new section at the end of benchmarks/README.md
    (appending, never rewriting what other benchmarks recorded)."""
    print(text)
    if append:
        with README.open("a") as f:
            f.write("\n" + text.rstrip("\n") + "\n")
