"""Fixtures for the emulator's conformance tests: a running emulator, an imapclient session, a raw client."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator

import pytest
from imapclient import IMAPClient

from archiver.emulator import EmulatorConfig, GmailEmulator

USER = "me@gmail.com"
PASSWORD = "abcdefghijklmnop"
TOKEN = "ya29.token"


def msg(n: int, mid: str | None = "auto", extra: str = "", body: str = "hello") -> bytes:
    """A small message; ``mid="auto"`` gives ``<n@test>``, None gives no Message-ID."""
    hdr = f"From: a@example.org\r\nTo: b@example.org\r\nSubject: test {n}\r\n{extra}"
    if mid == "auto":
        mid = f"<{n}@test>"
    if mid is not None:
        hdr += f"Message-ID: {mid}\r\n"
    return (hdr + f"\r\n{body} {n}\r\n").encode()


class Raw:
    """A second, independent client: raw socket, our own tiny reader (literals inline)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        self.greeting = self.file.readline()
        self.n = 0

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def readline(self) -> bytes:
        """One response line with any literals appended (``{n}\\r\\n`` + bytes + the rest)."""
        line = self.file.readline()
        if not line:
            raise ConnectionError("closed")
        out = line
        while (m := re.search(rb"\{(\d+)\}\r\n$", line)) is not None:
            out += self.file.read(int(m.group(1)))
            line = self.file.readline()
            out += line
        return out

    def cmd(self, command: bytes | str, tag: str | None = None) -> list[bytes]:
        """Send one command; return every line up to and including the tagged completion."""
        self.n += 1
        tag = tag or f"t{self.n}"
        data = command.encode() if isinstance(command, str) else command
        self.send(tag.encode() + b" " + data + b"\r\n")
        return self.until(tag)

    def until(self, tag: str) -> list[bytes]:
        lines = []
        while True:
            line = self.readline()
            lines.append(line)
            if line.startswith(tag.encode() + b" "):
                return lines

    def login(self, user: str = USER, password: str = PASSWORD) -> None:
        assert self.cmd(f'LOGIN {user} "{password}"')[-1].split()[1] == b"OK"

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def make_emu() -> Iterator[Callable[..., GmailEmulator]]:
    """Factory: a started emulator with the standard account, for a given config."""
    started: list[GmailEmulator] = []

    def make(**config: object) -> GmailEmulator:
        emu = GmailEmulator(EmulatorConfig(**config))  # type: ignore[arg-type]
        emu.start()
        started.append(emu)
        emu.add_account(USER, password=PASSWORD, oauth_token=TOKEN, real_password="my-web-password")
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def emu(make_emu: Callable[..., GmailEmulator]) -> GmailEmulator:
    return make_emu()


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
