"""A message's MIME tree as byte ranges of its exact bytes, so that a transform can replace one part (or one
header field) and leave every other byte as it was: line endings, folding, 8-bit headers, preambles.

Never raises on broken MIME: a multipart without its boundary is a leaf, a missing close delimiter ends
the part at the end of its parent, and nesting deeper than ``MAX_DEPTH`` stops descending.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from archiver import mail

MAX_DEPTH = 40
_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:", re.M)


@dataclass
class Entity:
    """One MIME entity of ``data``: its header block ``data[start:body_start]`` (separator included) and
    its body ``data[body_start:end]``; ``children`` for a multipart or message/rfc822 that parsed."""

    data: bytes
    start: int
    body_start: int
    end: int
    head: bytes
    msg: email.message.Message
    """The header block parsed (compat32, headers only): content type, parameters, file name."""
    children: list[Entity] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return self.data[self.body_start:self.end]

    @property
    def ctype(self) -> str:
        return self.msg.get_content_type()

    @property
    def raw(self) -> bytes:
        return self.data[self.start:self.end]

    def leaves(self) -> Iterator[Entity]:
        """Every entity without children, in order (a message/rfc822 is descended into, as readers do)."""
        if not self.children:
            yield self
        for child in self.children:
            yield from child.leaves()

    def walk(self) -> Iterator[Entity]:
        yield self
        for child in self.children:
            yield from child.walk()


def eol(data: bytes) -> bytes:
    """The message's line ending: CRLF if its first line ends so (as every IMAP server serves), else LF."""
    first = data.find(b"\n")
    return b"\r\n" if first > 0 and data[first - 1:first] == b"\r" else b"\n"


def parse(data: bytes) -> Entity:
    """The MIME tree of a whole message."""
    return _entity(data, 0, len(data), 0)


def header_message(head: bytes) -> email.message.Message:
    """A header block parsed by the stdlib (for content type and parameters), never raising."""
    try:
        return email.message_from_bytes(head.rstrip(b"\r\n") + b"\n\n", policy=email.policy.compat32)
    except Exception:  # a header block the parser cannot take: no content type, text/plain by default
        return email.message.Message()


def _entity(data: bytes, start: int, end: int, depth: int) -> Entity:
    chunk = data[start:end]
    head = mail.header_block(chunk)
    rest = chunk[len(head):]
    separators = (b"\r\n\r\n", b"\n\n") if head else (b"\r\n", b"\n")
    sep = next((len(s) for s in separators if rest.startswith(s)), len(rest))  # none: all headers, no body
    body_start = start + len(head) + sep
    ent = Entity(data, start, body_start, end, head, header_message(head))
    if depth >= MAX_DEPTH:
        return ent
    if ent.msg.get_content_maintype() == "multipart":
        boundary = ent.msg.get_param("boundary")
        if isinstance(boundary, str) and boundary:
            ent.children = _parts(data, body_start, end, boundary.encode("latin-1", "replace"), depth)
    elif ent.ctype == "message/rfc822" and body_start < end:
        cte = field_text(ent.msg, "Content-Transfer-Encoding").strip().lower()
        if cte in ("", "7bit", "8bit", "binary"):
            ent.children = [_entity(data, body_start, end, depth + 1)]
    return ent


def _parts(data: bytes, start: int, end: int, boundary: bytes, depth: int) -> list[Entity]:
    """The parts between the delimiter lines (the line ending before a delimiter belongs to it)."""
    delim = re.compile(rb"^--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|\Z)", re.M)
    out: list[Entity] = []
    part_start: int | None = None
    pos = start
    while True:
        m = delim.search(data, pos, end)
        if m is None or (m.start() != start and data[m.start() - 1:m.start()] != b"\n"):
            if m is None:
                break
            pos = m.end()
            continue
        if part_start is not None:
            stop = m.start()
            stop -= 2 if data[stop - 2:stop] == b"\r\n" else 1
            out.append(_entity(data, part_start, max(stop, part_start), depth + 1))
        if m.group(1):
            return out
        part_start = pos = m.end()
    if part_start is not None:  # no close delimiter: the last part runs to the end
        out.append(_entity(data, part_start, end, depth + 1))
    return out


def fields(head: bytes) -> list[tuple[str, int, int]]:
    """(name, start, end) of every header field in ``head``, folded lines included, the line ending of its
    last line included."""
    out: list[tuple[str, int, int]] = []
    starts = [(m.group(1).decode("latin-1"), m.start()) for m in _FIELD.finditer(head)
              if m.start() == 0 or head[m.start() - 1:m.start()] == b"\n"]
    for i, (name, pos) in enumerate(starts):
        stop = starts[i + 1][1] if i + 1 < len(starts) else len(head)
        out.append((name, pos, stop))
    return out


def field_text(msg: email.message.Message, name: str) -> str:
    """A header's value as text ('' if absent); 8-bit bytes come back as the stdlib reads them."""
    value = msg.get(name)
    return str(value) if value is not None else ""


def decoded(ent: Entity) -> bytes:
    """The body of a leaf decoded from its transfer encoding (base64, quoted-printable), as readers do."""
    msg = header_message(ent.head)
    msg.set_payload(ent.body.decode("latin-1"))
    try:
        out = msg.get_payload(decode=True)
    except Exception:  # a payload the stdlib cannot decode: its bytes as they are
        out = None
    return out if isinstance(out, bytes) else ent.body
