"""A tiny TCP forwarder in front of a test server: optional TLS on the listening side, and faults.

``cut_after`` closes a connection once the server sent that many bytes through it (a drop mid-FETCH), for the
first ``cut_connections`` connections only.  Threads stop with ``close()``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading


class Proxy:
    def __init__(self, target_port: int, *, tls: ssl.SSLContext | None = None, cut_after: int | None = None,
                 cut_connections: int = 1) -> None:
        self.target_port = target_port
        self.tls = tls
        self.cut_after = cut_after
        self.cut_connections = cut_connections
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._socks: list[socket.socket] = []
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            limit = self.cut_after if self.connections <= self.cut_connections else None
            threading.Thread(target=self._serve, args=(client, limit), daemon=True).start()

    def _serve(self, client: socket.socket, limit: int | None) -> None:
        try:
            if self.tls is not None:
                client = self.tls.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
        except (OSError, ssl.SSLError):
            client.close()
            return
        self._socks += [client, upstream]
        pair = (client, upstream)
        threading.Thread(target=self._pump, args=(client, upstream, None, pair), daemon=True).start()
        self._pump(upstream, client, limit, (client, upstream))

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, limit: int | None,
              both: tuple[socket.socket, socket.socket]) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[: max(0, limit - sent)])
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in both:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.close()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
