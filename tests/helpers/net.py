"""A loopback TCP forwarder that slows one or both directions: a slow link between a client and a server."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class SlowLink:
    """Listens on 127.0.0.1 (``port``) and forwards each connection to ``target``, passing the client's bytes
    at ``up_rate`` and the server's at ``down_rate`` bytes/s (None: as fast as they come).  When the client
    dies, what it had sent still reaches the server at the link's pace, as on a real slow line."""

    def __init__(self, target: int, *, up_rate: int | None = None, down_rate: int | None = None) -> None:
        self.target, self.up_rate, self.down_rate = target, up_rate, down_rate
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.close()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                up = socket.create_connection(("127.0.0.1", self.target))
                threading.Thread(target=self._pump, args=(client, up, self.up_rate), daemon=True).start()
                threading.Thread(target=self._pump, args=(up, client, self.down_rate), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, rate: int | None) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(8192 if rate else 65536):
                dst.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.close()
