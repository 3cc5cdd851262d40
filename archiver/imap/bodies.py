"""The fast path: stream ``UID FETCH <set> (UID BODY.PEEK[])`` responses straight off the socket.

imapclient's response parser costs about a second of CPU per 100 MB; this reader only finds line ends and
literal lengths, so it runs near socket speed.  It yields ``(uid, exact bytes)`` per message as each arrives,
accepts UID before or after ``BODY[]``, skips unsolicited responses (EXISTS, FLAGS-only FETCH, other UIDs),
skips ``NIL`` bodies (the caller sees the UID missing) and, on ``BYE`` or a closed socket, raises
ConnectionLost after everything that did arrive was yielded.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Callable, Collection, Iterator

from archiver.errors import ConnectionLost, RemoteError, Throttled
from archiver.imap.boundary import is_throttle_text

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
_FETCH = re.compile(rb"^\* \d+ FETCH ", re.IGNORECASE)
_UID = re.compile(rb"[( ]UID (\d+)", re.IGNORECASE)
_BODY_LITERAL = re.compile(rb"BODY\[\](?:<0>)? \{(\d+)\+?\}\r\n$", re.IGNORECASE)
_BODY_INLINE = re.compile(rb'BODY\[\](?:<0>)? (NIL|"(?:[^"\\]|\\.)*")', re.IGNORECASE)


class BodyStream:
    """Sends one UID FETCH for bodies and parses its responses; one instance per command."""

    def __init__(self, imap: imaplib.IMAP4, where: str, received: Callable[[bytes], None]) -> None:
        self.imap = imap
        self.where = where
        self.received = received
        self.done = False
        self.bye: str | None = None
        self.missing: list[int] = []
        """UIDs the server answered with a NIL body."""
        self._tag = b""

    def fetch(self, uid_set: str, wanted: Collection[int]) -> Iterator[tuple[int, bytes]]:
        """Yield (uid, body) for the UIDs of ``wanted`` as they arrive; each at most once."""
        tag = self.imap._new_tag()
        self._tag = tag
        seen: set[int] = set()
        try:
            self.imap.send(tag + b" UID FETCH " + uid_set.encode("ascii") + b" (UID BODY.PEEK[])\r\n")
            while True:
                line = self._readline()
                if line.startswith(tag + b" "):
                    self.done = True
                    self._tagged(line)
                    return
                uid, body = self._response(line)
                if self.bye is not None:
                    self.done = True
                    raise self._lost("the server said BYE")
                if uid is not None and uid in wanted and uid not in seen:
                    if body is None:
                        self.missing.append(uid)
                    else:
                        seen.add(uid)
                        yield uid, body
        except (OSError, EOFError) as exc:
            self.done = True
            raise self._lost(f"{type(exc).__name__}") from exc
        finally:
            self.imap.tagged_commands.pop(tag, None)

    def drain(self) -> None:
        """Read and discard the rest of an abandoned command, so the session stays usable."""
        if self.done:
            return
        while True:
            line = self._readline()
            if line.startswith(self._tag + b" "):
                self.done = True
                return
            self._response(line)

    # -- parsing ------------------------------------------------------------------------------------------
    def _readline(self) -> bytes:
        line: bytes = self.imap.readline()
        if not line:
            self.done = True
            raise self._lost("the server closed the connection")
        self.received(line)
        return line

    def _lost(self, why: str) -> ConnectionLost | Throttled:
        detail = f" ({self.bye})" if self.bye else ""
        if self.bye and is_throttle_text(self.bye):
            return Throttled(f"{self.where} ended the session during FETCH: {self.bye}")
        return ConnectionLost(f"connection to {self.where} lost during FETCH: {why}{detail}")

    def _tagged(self, line: bytes) -> None:
        status = line.split(b" ", 2)[1:2]
        text = line.decode("utf-8", "replace").strip()
        if status and status[0].upper() == b"OK":
            return
        if is_throttle_text(text):
            raise Throttled(f"{self.where} is throttling (FETCH): {text}")
        raise RemoteError(f"{self.where}: FETCH failed: {text}")

    def _response(self, line: bytes) -> tuple[int | None, bytes | None]:
        """Consume one whole response (with its literals); (uid, body) for a body FETCH, else (None, None)."""
        texts = [line]
        literals: list[bytes] = []
        body: bytes | None = None
        has_body = False
        while True:
            m = _LITERAL.search(line)
            if not m:
                break
            data = self._read_exact(int(m.group(1)))
            if _BODY_LITERAL.search(line):
                body, has_body = data, True
            literals.append(data)
            line = self._readline()
            texts.append(line)
        if line.startswith(b"* BYE"):
            self.bye = line.decode("utf-8", "replace").strip()
            return None, None
        if not _FETCH.match(texts[0]):
            return None, None
        joined = b"".join(texts)
        if not has_body:
            inline = _BODY_INLINE.search(joined)
            if inline is None:
                return None, None
            token = inline.group(1)
            body = None if token.upper() == b"NIL" else re.sub(rb"\\(.)", rb"\1", token[1:-1])
        uid = _UID.search(joined)
        return (int(uid.group(1)) if uid else None), body

    def _read_exact(self, n: int) -> bytes:
        data: bytes = self.imap.read(n)
        if len(data) != n:
            self.done = True
            raise self._lost(f"literal cut short ({len(data)} of {n} bytes)")
        return data
