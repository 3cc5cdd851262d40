"""``--slim-attachments SIZE``: each attachment whose decoded size is over SIZE replaced by a short text part
saying where the original is (archive, blob id, file name, size) and the command that brings it back.

An attachment is what ``extract`` writes (``Content-Disposition: attachment``, or a named part that is not
inline text), so that the command named in the note gets exactly the removed bytes back; the message's text
body is never touched.  Every byte outside the replaced parts stays as it was.
"""

from __future__ import annotations

import email.header
import email.utils
import quopri
import shlex
from dataclasses import dataclass

from archiver.ops.rewrite import entity
from archiver.ops.rewrite.entity import Entity
from archiver.ops.rewrite.transform import Outcome, Rewritten, Unchanged

SLIMMED_HEADER = "X-Archiver-Slimmed-From"


def is_attachment(part: Entity) -> bool:
    """The rule ``extract`` and search use: disposition attachment, or a file name on a part that is not
    inline text."""
    name = filename(part)
    disposition = entity.field_text(part.msg, "Content-Disposition").split(";")[0].strip().lower()
    return disposition == "attachment" or (bool(name) and disposition != "inline") or (
        bool(name) and part.msg.get_content_maintype() != "text")


def filename(part: Entity) -> str:
    try:
        name = part.msg.get_filename()
    except (ValueError, LookupError, TypeError):
        name = None
    if name is None:
        raw = part.msg.get_param("name")
        name = email.utils.collapse_rfc2231_value(raw) if raw else None
    return _decoded_header(name) if name else ""


def _decoded_header(value: str) -> str:
    try:
        chunks = email.header.decode_header(value)
    except (ValueError, LookupError, AssertionError):
        return value
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            try:
                out.append(chunk.decode(charset or "utf-8"))
            except (LookupError, UnicodeDecodeError):
                out.append(chunk.decode("latin-1"))
        else:
            out.append(chunk)
    return "".join(out)


def slim_attachments(limit: int, archive: str) -> Slim:
    """The ``slim`` transform: attachments over ``limit`` bytes (decoded) replaced by a note naming
    ``archive`` (as the user named it) and the original message's blob id."""
    if limit < 0:
        raise ValueError("the size limit cannot be negative")
    return Slim(limit, archive)


@dataclass(frozen=True)
class Slim:
    limit: int
    archive: str

    @property
    def name(self) -> str:
        return "slim"

    def __call__(self, data: bytes, *, blob_id: str) -> Outcome:
        root = entity.parse(data)
        if not root.children:
            return Unchanged(f"no attachment over {self.limit} bytes")  # a single-part message is its body
        nl = entity.eol(data)
        big = [(leaf, size) for leaf in root.leaves() if leaf is not root and is_attachment(leaf)
               and (size := len(entity.decoded(leaf))) > self.limit]
        if not big:
            return Unchanged(f"no attachment over {self.limit} bytes")
        out = bytearray()
        pos = 0
        names = []
        for leaf, size in big:
            note = self._placeholder(leaf, size, blob_id, nl)
            if len(note) >= leaf.end - leaf.start:
                continue  # the note would be as big as the part (a limit below a few hundred bytes)
            out += data[pos:leaf.start] + note
            pos = leaf.end
            names.append(f"{filename(leaf) or leaf.ctype} ({size} bytes)")
        if not names:
            return Unchanged(f"no attachment over {self.limit} bytes is bigger than the note replacing it")
        out += data[pos:]
        freed = len(data) - len(out)
        return Rewritten(bytes(out), f"{len(names)} attachment(s) slimmed: {', '.join(names)}", freed=freed)

    def _placeholder(self, leaf: Entity, size: int, blob_id: str, nl: bytes) -> bytes:
        name = filename(leaf) or "(no name)"
        command = (f"gmail-archiver extract {shlex.quote(self.archive)} {blob_id} "
                   f"--attachments DIR")
        text = (f"This attachment was removed from the server to save space; the archive keeps it.\n"
                f"\n"
                f"File: {name}\n"
                f"Type: {leaf.ctype}\n"
                f"Size: {size} bytes\n"
                f"Archive: {self.archive}\n"
                f"Original message (blob id): {blob_id}\n"
                f"\n"
                f"To get it back (every attachment of the message, byte for byte, into the folder DIR):\n"
                f"  {command}\n")
        body = text.encode("utf-8")
        if any(b > 127 for b in body):
            body, cte = quopri.encodestring(body), "quoted-printable"
        else:
            cte = "7bit"
        head = (f'Content-Type: text/plain; charset="utf-8"{nl.decode()}'
                f"Content-Transfer-Encoding: {cte}{nl.decode()}"
                f"Content-Disposition: inline{nl.decode()}"
                f"{SLIMMED_HEADER}: {blob_id}{nl.decode()}").encode()
        return head + nl + body.replace(b"\n", nl).rstrip(b"\r\n")
