"""The protocol log (``archiver.imap.wire`` at DEBUG, secrets redacted) and throttle-signal detection.

Installed on the imaplib object under imapclient: every line imaplib reads and every write pass through here.
The fast body reader (``bodies.py``) reads the socket itself and reports to the same tap.
"""

from __future__ import annotations

import imaplib
import logging
import re
from collections.abc import Callable
from typing import cast

log = logging.getLogger("archiver.imap.wire")

_SECRET_CMD = re.compile(rb"^(\S+ (?:UID )?)(LOGIN|AUTHENTICATE)\b", re.IGNORECASE)
_TAGGED = re.compile(rb"^[A-Za-z0-9]+ (OK|NO|BAD)\b")
_STATUS = re.compile(rb"^\S+ (OK|NO|BAD|BYE)\b", re.IGNORECASE)
"""A status response (tagged or untagged), where throttling texts count; never a FETCH with a label."""
_PREVIEW = 160
_LITERAL_END = re.compile(rb"\{\d+\+?\}\r\n$")
MAX_LINE = 256 * 1024 * 1024


class WireTap:
    """Logs the conversation with redaction and calls ``on_signal(line)`` for throttling texts."""

    def __init__(self, imap: imaplib.IMAP4, on_signal: Callable[[str], None]) -> None:
        self.imap = imap
        self.on_signal = on_signal
        self._redacting = False
        self._literal_next = False
        """The next write is a literal (message bytes): log its size only."""
        self._orig_get_line: Callable[[], bytes] = imap._get_line
        self._orig_send: Callable[[bytes], None] = imap.send
        imap._get_line = self._get_line  # type: ignore[attr-defined]
        imap.send = self._send  # type: ignore[method-assign,assignment]
        imap.debug = 0  # imapclient's own imaplib logger would duplicate (and slow) this log
        imap.readline = self._readline  # type: ignore[method-assign]

    def _readline(self) -> bytes:
        """imaplib's readline without its 1 MB cap: ``* SEARCH`` of a big folder is one long line."""
        line = cast(bytes, self.imap.file.readline(MAX_LINE + 1))
        if len(line) > MAX_LINE:
            raise imaplib.IMAP4.error(f"response line over {MAX_LINE} bytes")
        return line

    # -- hooks installed on the imaplib object -----------------------------------------------------------
    def _get_line(self) -> bytes:
        line = self._orig_get_line()
        self.received(line)
        return line

    def _send(self, data: bytes) -> None:
        self.sent(data)
        self._orig_send(data)

    # -- shared with the fast reader ----------------------------------------------------------------------
    def received(self, line: bytes) -> None:
        """One response line (without its literal) arrived."""
        if self._redacting and _TAGGED.match(line):
            self._redacting = False
        if ((b"[THROTTLED]" in line or b"[OVERQUOTA]" in line or b"exceeded command or bandwidth" in line)
                and _STATUS.match(line)):
            self.on_signal(line.decode("utf-8", "replace").strip())
        if log.isEnabledFor(logging.DEBUG):
            log.debug("< %s", _preview(line))

    def sent(self, data: bytes) -> None:
        """Bytes are about to be written; LOGIN arguments and AUTHENTICATE exchanges are never logged."""
        m = _SECRET_CMD.match(data)
        was_redacting = self._redacting
        if m and m.group(2).upper() == b"AUTHENTICATE":
            self._redacting = True
        if not log.isEnabledFor(logging.DEBUG):
            self._literal_next = bool(_LITERAL_END.search(data[-24:]))
            return
        literal, self._literal_next = self._literal_next, bool(_LITERAL_END.search(data[-24:]))
        if literal:
            log.debug("> (literal, %d bytes)", len(data))
        elif m:
            words = data[m.end():].split()[:1] if m.group(2).upper() == b"AUTHENTICATE" else []
            log.debug("> %s%s %s**REDACTED**", m.group(1).decode("ascii", "replace"),
                      m.group(2).decode("ascii"), "".join(w.decode("ascii", "replace") + " " for w in words))
        elif was_redacting:
            log.debug("> **REDACTED** (%d bytes)", len(data))
        else:
            log.debug("> %s", _preview(data))


def _preview(data: bytes) -> str:
    text = data[:_PREVIEW].decode("utf-8", "replace").rstrip("\r\n")
    return text if len(data) <= _PREVIEW else f"{text}... ({len(data)} bytes)"
