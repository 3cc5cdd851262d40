"""The built-in Gmail emulator as the tests use it: the standard account the ``emu`` fixture family
(tests/conftest.py) creates, synthetic mail for it, its URL, a raw IMAP client and a small message builder."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from archiver.emulator import GmailEmulator
from archiver.emulator.synth import generate

USER = "me@gmail.com"
PASSWORD = "abcdefghijklmnop"
"""The account's app password (16 letters, as Google issues them)."""
TOKEN = "ya29.token"
"""The account's OAuth2 access token (XOAUTH2)."""
WEB_PASSWORD = "my-web-password"
"""The account's real (web) password, which Gmail refuses over IMAP."""


@dataclass(frozen=True)
class Mail:
    """Synthetic mail for an emulator account: ``generate(count, seed, avg_size)`` of
    ``archiver.emulator.synth`` (the same seed gives the same messages, labels, flags and dates)."""

    count: int
    seed: int = 0
    avg_size: int = 2000
    user: str = USER


def seed_mail(server: GmailEmulator, mail: Mail) -> None:
    """Store ``mail`` in its account of a running emulator, as if delivered."""
    for m in generate(mail.count, seed=mail.seed, avg_size=mail.avg_size):
        server.seed(mail.user, m.raw, labels=m.labels, flags=m.flags, internaldate=m.date)


def emu_url(server: GmailEmulator, user: str = USER) -> str:
    """``imap://`` URL of ``user`` on a running emulator."""
    return f"imap://{user.replace('@', '%40')}@127.0.0.1:{server.port}"


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
