"""A scripted IMAP server on a real socket: canned replies for edge cases no real server produces on demand.

Each command line from the client is matched against ``script`` (a command word such as ``UID FETCH`` ->
reply bytes in which ``TAG`` is replaced by the command's tag); a reply of ``None``, or one ending in
``<CLOSE>``, closes the connection (after sending the rest).
LOGIN, CAPABILITY, ENABLE, SELECT, NOOP and LOGOUT have defaults.  Literals the client sends are consumed.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import threading
from collections.abc import Mapping

CAPS = b"IMAP4rev1 UIDPLUS CONDSTORE ENABLE LITERAL- X-GM-EXT-1 SPECIAL-USE"
DEFAULTS: dict[str, bytes | None] = {
    "CAPABILITY": b"* CAPABILITY " + CAPS + b"\r\nTAG OK Success\r\n",
    "LOGIN": b"* CAPABILITY " + CAPS + b"\r\nTAG OK alice authenticated (Success)\r\n",
    "ENABLE": b"* ENABLED CONDSTORE\r\nTAG OK Success\r\n",
    "SELECT": b"* FLAGS (\\Seen)\r\n* 3 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n* OK [UIDNEXT 50] x\r\n"
              b"* OK [HIGHESTMODSEQ 99] x\r\nTAG OK [READ-ONLY] selected. (Success)\r\n",
    "EXAMINE": b"* 3 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n* OK [UIDNEXT 50] x\r\n"
               b"TAG OK [READ-ONLY] (Success)\r\n",
    "NOOP": b"TAG OK Success\r\n",
    "LOGOUT": b"* BYE LOGOUT Requested\r\nTAG OK 73 good day (Success)\r\n",
}


class ScriptedServer:
    def __init__(self, script: Mapping[str, bytes | None], tls: ssl.SSLContext | None = None) -> None:
        self.script = {**DEFAULTS, **script}
        self.tls = tls
        """With a server context, STARTTLS is answered and the connection switches to TLS."""
        self.received: list[bytes] = []
        self.over_tls: list[bool] = []
        """For each command line in ``received``: did it arrive over TLS."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _reply_for(self, line: bytes) -> tuple[bytes, bytes | None]:
        words = line.split()
        tag = words[0]
        rest = b" ".join(words[1:]).upper()
        for key in sorted(self.script, key=len, reverse=True):
            if rest.startswith(key.encode()):
                reply = self.script[key]
                return tag, None if reply is None else reply.replace(b"TAG", tag)
        return tag, tag + b" BAD unknown command\r\n"

    def _run(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        reader = conn.makefile("rb")
        try:
            conn.sendall(b"* OK Gimap ready for requests from 127.0.0.1\r\n")
            while True:
                line = reader.readline()
                if not line:
                    return
                self.received.append(line)
                self.over_tls.append(isinstance(conn, ssl.SSLSocket))
                m = re.search(rb"\{(\d+)(\+?)\}\r\n$", line)
                if m:
                    if not m.group(2):
                        conn.sendall(b"+ go ahead\r\n")
                    self.received.append(reader.read(int(m.group(1))) + reader.readline())
                if self.tls is not None and line.split()[1:2] == [b"STARTTLS"]:
                    conn.sendall(line.split()[0] + b" OK Begin TLS negotiation now\r\n")
                    reader.close()
                    conn = self.tls.wrap_socket(conn, server_side=True)
                    reader = conn.makefile("rb")
                    continue
                _tag, reply = self._reply_for(line)
                if reply is None or reply.endswith(b"<CLOSE>"):
                    conn.sendall((reply or b"").removesuffix(b"<CLOSE>"))
                    conn.shutdown(socket.SHUT_RDWR)
                    return
                conn.sendall(reply)
        except (OSError, ssl.SSLError):
            return
        finally:
            reader.close()
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
