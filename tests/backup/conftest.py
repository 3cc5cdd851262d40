"""Fixtures of the backup tests: a Gmail emulator with one account, fast retry policies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from archiver.emulator import EmulatorConfig, GmailEmulator
from archiver.imap.retry import RetryPolicy

USER = "me@gmail.com"
PASSWORD = "app-password-16c"
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, throttled_base=0.01, throttle_pause=0.0,
                         jitter=0.0)


@pytest.fixture
def emu() -> Iterator[GmailEmulator]:
    with GmailEmulator(EmulatorConfig()) as server:
        server.add_account(USER, password=PASSWORD)
        yield server


def emu_url(server: GmailEmulator) -> str:
    return f"imap://me%40gmail.com@127.0.0.1:{server.port}"
