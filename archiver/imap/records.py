"""Typed results of the IMAP layer: what the operations get instead of imapclient's bytes-keyed dicts."""

from __future__ import annotations

from dataclasses import dataclass

from archiver.errors import RemoteError


@dataclass(frozen=True, slots=True)
class Folder:
    """One LIST entry: decoded name, hierarchy delimiter, attributes, special-use role."""

    name: str
    delimiter: str | None
    flags: tuple[str, ...]
    role: str | None
    """SPECIAL-USE attribute (``\\All``, ``\\Trash``, ``\\Junk``, ``\\Sent``, ``\\Drafts``, ``\\Flagged``,
    ``\\Important``, ``\\Archive``); XLIST names are mapped to these.  None for ordinary folders."""
    selectable: bool


@dataclass(frozen=True, slots=True)
class FolderStatus:
    """What SELECT said about a folder."""

    name: str
    uidvalidity: int
    uidnext: int
    exists: int
    highestmodseq: int | None = None


@dataclass(frozen=True, slots=True)
class MessageMeta:
    """Everything FETCH says about a message except its body."""

    uid: int
    size: int
    internaldate: int
    """INTERNALDATE as unix seconds (UTC)."""
    tz_minutes: int
    """The offset the server gave with INTERNALDATE, minutes east of UTC."""
    flags: tuple[str, ...]
    """Sorted, without ``\\Recent``."""
    modseq: int | None
    gm_msgid: int | None
    gm_thrid: int | None
    gm_labels: tuple[str, ...] | None
    """Decoded from modified UTF-7, system labels with one backslash (``\\Inbox``); sorted. None off Gmail."""
    message_id: str | None
    """The Message-ID header value, unfolded and stripped; None if the message has none."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What the server answered to APPEND; ``uid`` is None without APPENDUID: never trust OK alone."""

    uidvalidity: int | None
    uid: int | None
    text: str


class AppendRefused(RemoteError):
    """The server refused one APPEND (``NO``, ``BAD [TOOBIG]``...); callers record it for that message."""

    def __init__(self, reason: str, *, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(f"APPEND refused: {reason}", hint=hint)
        self.reason = reason
        self.code = code
        """The response code, e.g. ``TOOBIG``, ``OVERQUOTA``, ``LIMIT``; None when the server gave none."""
