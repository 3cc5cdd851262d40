"""Two real S3 services on loopback for the remote-archive tests: moto's server (enforces
``If-None-Match: *``) and ``rclone serve s3`` (ignores it).  Each hands out fresh, empty buckets."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ACCESS_KEY = "AKIDLOOPBACKTEST"
SECRET_KEY = "loopback-secret-4d1f9c"  # a test-only key of the loopback servers; checked never to leak


BUCKET = "archives"


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies (no server outlives a killed run)."""
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"no S3 server on port {port} after {timeout} s")


class S3Service:
    """One running service: ``endpoint`` and ``new_bucket()``; ``stop()`` ends it."""

    name = ""
    conditional = False

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def new_location(self) -> str:
        """A fresh, empty archive URL: a new prefix in the service's one bucket."""
        return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"

    def stop(self) -> None:
        raise NotImplementedError


class MotoService(S3Service):
    name = "moto"
    conditional = True

    def __init__(self) -> None:
        super().__init__()
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        _wait(self.port)
        with urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/{BUCKET}", method="PUT")):
            pass


    def stop(self) -> None:
        self._server.stop()


class RcloneService(S3Service):
    name = "rclone"
    conditional = False

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="rclone-s3-"))
        (self.root / BUCKET).mkdir()  # rclone caches its bucket list: buckets are made before it starts
        rclone = Path(sys.executable).parent / "rclone"
        self._proc = subprocess.Popen(
            [str(rclone) if rclone.exists() else "rclone", "serve", "s3", "--addr", f"127.0.0.1:{self.port}",
             "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}", "--config", os.devnull, str(self.root)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent)
        _wait(self.port)


    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)


SERVICES = {"moto": MotoService, "rclone": RcloneService}
