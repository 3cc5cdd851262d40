"""The searchable text of one message: decoded headers, text parts in their charsets, HTML reduced to text,
attachment names.  Broken MIME never raises: what cannot be decoded is read as Latin-1, as mail readers do.
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.policy
import email.utils
import html.parser
import re
from collections.abc import Iterator
from dataclasses import dataclass

BODY_LIMIT = 256 * 1024
"""Characters of body text indexed per message (the rest of a huge message is not searched)."""

_WS = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Parsed:
    """What the index stores of one message (a blob: the same bytes always give the same Parsed)."""

    sender: str
    """The From header decoded, e.g. ``José <jose@example.com>``."""
    to: str
    cc: str
    bcc: str
    subject: str
    body: str
    filenames: tuple[str, ...]
    has_attachment: bool


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attachment of a message: its decoded name (may be empty) and bytes."""

    filename: str
    content_type: str
    data: bytes


def decode_header(value: object) -> str:
    """An RFC 2047 header decoded to text (undecodable parts kept as Latin-1), whitespace folded."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        value = str(value)
    text = str(value)
    try:
        parts = email.header.decode_header(text)
        out = []
        for chunk, charset in parts:
            if isinstance(chunk, bytes):
                out.append(_decode(chunk, charset))
            else:
                out.append(chunk)
        text = "".join(out) if any(isinstance(c, bytes) for c, _ in parts) else text
    except (ValueError, LookupError, AssertionError):
        pass
    return _WS.sub(" ", text).strip()


def _decode(data: bytes, charset: str | None) -> str:
    for cs in (charset, "utf-8"):
        if not cs:
            continue
        try:
            return data.decode(cs)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


class _HTMLText(html.parser.HTMLParser):
    """HTML -> its visible text (scripts and styles dropped)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li"):
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def html_to_text(markup: str) -> str:
    parser = _HTMLText()
    try:
        parser.feed(markup)
        parser.close()
    except (AssertionError, ValueError):
        pass
    return "".join(parser.out)


def message(raw: bytes) -> email.message.Message:
    """The parsed message (compat32: the most forgiving of the stdlib parsers)."""
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def _filename(part: email.message.Message) -> str:
    try:
        name = part.get_filename()
    except (ValueError, LookupError, TypeError):
        name = None
    if name is None:
        raw = part.get_param("name")
        name = email.utils.collapse_rfc2231_value(raw) if raw else None
    return decode_header(name) if name else ""


def _payload(part: email.message.Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except (ValueError, AssertionError, TypeError):
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    return payload.encode("latin-1", "replace") if isinstance(payload, str) else b""


def _is_attachment(part: email.message.Message, filename: str) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    return disposition == "attachment" or (bool(filename) and disposition != "inline") or (
        bool(filename) and part.get_content_maintype() not in ("text",))


def _leaves(msg: email.message.Message) -> Iterator[email.message.Message]:
    try:
        yield from (p for p in msg.walk() if not p.is_multipart())
    except (TypeError, AttributeError):
        yield msg


def _part_text(part: email.message.Message, msg: email.message.Message) -> str:
    """The text of one leaf part: text/html reduced to text; other text, or a whole non-MIME message, as is;
    anything else (images, ...) none."""
    ctype = part.get_content_type()
    if ctype == "text/html":
        return html_to_text(_decode(_payload(part), part.get_content_charset()))
    if part.get_content_maintype() == "text" or part is msg:
        return _decode(_payload(part), part.get_content_charset())
    return ""


def text_of(raw: bytes) -> str:
    """The readable text of a message: its text/plain parts, else its HTML parts reduced to text."""
    msg = message(raw)
    plain: list[str] = []
    markup: list[str] = []
    for part in _leaves(msg):
        if _is_attachment(part, _filename(part)):
            continue
        (markup if part.get_content_type() == "text/html" else plain).append(_part_text(part, msg))
    plain = [x for x in plain if x.strip()]
    return "\n".join(plain if plain else markup)


def parse(raw: bytes) -> Parsed:
    """The searchable fields of one message; never raises on broken MIME."""
    try:
        msg = message(raw)
        texts: list[str] = []
        names: list[str] = []
        attached = False
        for part in _leaves(msg):
            name = _filename(part)
            if name:
                names.append(name)
            if _is_attachment(part, name):
                attached = True
                continue
            texts.append(_part_text(part, msg))
        return Parsed(sender=decode_header(msg.get("From")), to=decode_header(msg.get("To")),
                      cc=decode_header(msg.get("Cc")), bcc=decode_header(msg.get("Bcc")),
                      subject=decode_header(msg.get("Subject")), body="\n".join(texts)[:BODY_LIMIT],
                      filenames=tuple(names), has_attachment=attached)
    except Exception:  # a message the parser cannot take is still searchable as bytes
        text = raw[:BODY_LIMIT].decode("latin-1")
        return Parsed("", "", "", "", "", text, (), False)


def attachments(raw: bytes) -> list[Attachment]:
    """Every attachment of a message, decoded (base64, quoted-printable) to its bytes, in order."""
    out = []
    for part in _leaves(message(raw)):
        name = _filename(part)
        if _is_attachment(part, name):
            out.append(Attachment(name, part.get_content_type(), _payload(part)))
    return out


def snippet(raw: bytes, length: int = 100) -> str:
    """The start of the message's text, on one line (as Gmail's result list shows it)."""
    try:
        text = text_of(raw)
    except Exception:  # a snippet is a courtesy, never a failure
        text = ""
    return _WS.sub(" ", text).strip()[:length]


def headers(raw: bytes) -> list[tuple[str, str]]:
    """Every header of a message in order, decoded (RFC 2047) and unfolded."""
    try:
        return [(name, decode_header(value)) for name, value in message(raw).items()]
    except Exception:  # a header block the parser cannot take: show its lines as they are
        head = raw.split(b"\n\n", 1)[0].decode("latin-1")
        pairs = (line.partition(":") for line in head.splitlines())
        return [(n.strip(), v.strip()) for n, _, v in pairs if v]
