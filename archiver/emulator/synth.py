"""Deterministic synthetic mail for tests, benchmarks and the demo: threads, labels, flags, dates.

``generate(n, seed)`` always returns the same messages for the same arguments.  Every message has a unique
Message-ID; replies carry In-Reply-To/References so the emulator threads them; sizes vary around
``avg_size`` bytes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

USER_LABELS = ("Work", "Family", "Clients/2019", "Clients/2020", "Réunions", "Receipts", "Travel")
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
          "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform",
          "victor", "whiskey", "xray", "yankee", "zulu", "archive", "backup", "label", "thread", "restore")
_PEOPLE = ("alice@example.org", "bob@example.net", "carol@example.com", "dave@example.org",
           "erin@example.net")


class SynthMessage(NamedTuple):
    """One generated message and the Gmail state to seed it with; unpacks as (raw, labels, flags, date,
    thread)."""

    raw: bytes
    labels: tuple[str, ...]
    flags: tuple[str, ...]
    date: datetime
    thread: int
    """Index of the thread (the first message's position); not an X-GM-THRID."""


def _body(rng: random.Random, size: int) -> bytes:
    lines = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 14)))
        lines.append(line)
        total += len(line) + 2
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def generate(n: int, seed: int = 0, avg_size: int = 2000,
             start: datetime = datetime(2019, 1, 1, tzinfo=UTC)) -> list[SynthMessage]:
    """``n`` messages, about a third of them replies in earlier threads, oldest first."""
    rng = random.Random(seed)
    out: list[SynthMessage] = []
    threads: list[tuple[int, str, list[str]]] = []  # (first index, subject, message ids)
    when = start
    for i in range(n):
        when += timedelta(minutes=rng.randint(1, 600))
        mid = f"<synth.{seed}.{i}@emulator.test>"
        sender, rcpt = rng.sample(_PEOPLE, 2)
        hdr = [f"From: {sender}", f"To: {rcpt}"]
        if threads and rng.random() < 0.35:
            idx = rng.randrange(max(0, len(threads) - 50), len(threads))
            first, subject, ids = threads[idx]
            hdr += [f"Subject: Re: {subject}", f"In-Reply-To: {ids[-1]}", f"References: {' '.join(ids[-5:])}"]
            ids.append(mid)
            thread = first
        else:
            subject = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 6))).capitalize()
            hdr.append(f"Subject: {subject}")
            threads.append((i, subject, [mid]))
            thread = i
        hdr += [f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}", f"Message-ID: {mid}",
                "MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii"]
        head = ("\r\n".join(hdr) + "\r\n\r\n").encode("ascii")
        size = max(200, int(rng.gauss(avg_size, avg_size / 5)))
        raw = head + _body(rng, size - len(head))
        labels: list[str] = []
        if rng.random() < 0.6:
            labels.append("\\Inbox")
        if rng.random() < 0.1:
            labels.append("\\Important")
        if sender == _PEOPLE[0] and rng.random() < 0.5:
            labels.append("\\Sent")
        if rng.random() < 0.4:
            labels.append(rng.choice(USER_LABELS))
        flags = ["\\Seen"] if rng.random() < 0.7 else []
        if rng.random() < 0.05:
            flags.append("\\Flagged")
        out.append(SynthMessage(raw, tuple(labels), tuple(flags), when, thread))
    return out
