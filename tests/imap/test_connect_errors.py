"""Connecting with the wrong scheme for a port says so at once, with the hint that fixes it (real sockets: a
TLS front on loopback, the emulator's plain port, a server slow to greet)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from archiver.emulator import GmailEmulator
from archiver.errors import ConnectionLost
from archiver.imap import Credentials, connect, parse_url
from archiver.imap.session import GREETING_WAIT
from tests.helpers.emulator import PASSWORD, USER
from tests.imap.proxy import Proxy


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    folder = tmp_path_factory.mktemp("cert")
    cert, key = folder / "c.pem", folder / "c.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _url(scheme: str, port: int) -> str:
    return f"{scheme}://{USER.replace('@', '%40')}@127.0.0.1:{port}"


def test_plain_imap_to_a_tls_port_says_use_imaps_within_seconds(emu: GmailEmulator,
                                                                 tls_context: ssl.SSLContext) -> None:
    with Proxy(emu.port, tls=tls_context) as front:
        for scheme in ("imap", "imap+starttls"):
            started = time.monotonic()
            with pytest.raises(ConnectionLost, match="this port speaks TLS") as info:
                connect(parse_url(_url(scheme, front.port)), Credentials(password=PASSWORD), timeout=40)
            took = time.monotonic() - started
            assert took < GREETING_WAIT + 2, f"{scheme}: {took:.1f} s"  # was the whole timeout (40 s)
            assert info.value.hint is not None and f"imaps://{USER}@127.0.0.1:{front.port}" in info.value.hint


def test_imaps_to_a_plain_port_does_not_suggest_a_ca_certificate(emu: GmailEmulator) -> None:
    with pytest.raises(ConnectionLost, match="does not speak TLS") as info:
        connect(parse_url(_url("imaps", emu.port)), Credentials(password=PASSWORD), timeout=10)
    hint = info.value.hint or ""
    assert "--cacert" not in hint and "imap+starttls://" in hint


class _SlowGreeter:
    """Accepts, waits ``delay`` seconds, then forwards to ``target`` (a plain server slow to greet)."""

    def __init__(self, target: int, delay: float) -> None:
        self.target, self.delay = target, delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        time.sleep(self.delay)
        with contextlib.suppress(OSError), client, socket.create_connection(("127.0.0.1", self.target)) as up:
            threading.Thread(target=self._pump, args=(client, up), daemon=True).start()
            self._pump(up, client)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@pytest.mark.slow
def test_a_plain_server_slow_to_greet_still_connects(emu: GmailEmulator) -> None:
    slow = _SlowGreeter(emu.port, GREETING_WAIT + 0.5)
    try:
        with connect(parse_url(_url("imap", slow.port)), Credentials(password=PASSWORD), timeout=20) as s:
            assert s.is_gmail
    finally:
        slow.listener.close()

