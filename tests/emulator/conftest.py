"""Fixtures of the emulator's conformance tests: an imapclient session and a raw client on the ``emu`` fixture
(tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from imapclient import IMAPClient

from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, USER, Raw


@pytest.fixture
def client(emu: GmailEmulator) -> Iterator[IMAPClient]:
    c = IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=10)
    c.login(USER, PASSWORD)
    yield c
    try:
        c.logout()
    except Exception:
        c.shutdown()


@pytest.fixture
def raw(emu: GmailEmulator) -> Iterator[Raw]:
    r = Raw(emu.port)
    yield r
    r.close()
