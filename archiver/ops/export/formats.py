"""The three export writers (mbox, Maildir, eml) and the label-name mapping they share.

Each writer receives a message's bytes once, with every selected record that references them, and writes
them out; blob reading, filtering and damage handling live in ``export.py``.

Label names follow Google Takeout: system labels become ``Inbox``, ``Sent``, ``Important``, ``Starred``,
``Drafts``, ``Trash``, ``Spam``, ``Chats`` (``\\Junk`` becomes ``Spam``; any other ``\\Name`` becomes
``Name``); user labels are kept as they are, nested ones with ``/``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from archiver.labels import is_inbox, takeout_name
from archiver.model import MessageRecord

MAILDIR_FLAGS: dict[str, str] = {
    "\\Draft": "D", "\\Flagged": "F", "$Forwarded": "P", "\\Answered": "R", "\\Seen": "S", "\\Deleted": "T",
}

NO_LABEL_FOLDER = "Archive"
"""The Maildir folder of messages that carry no label at all."""


def labels_header_value(labels: Sequence[str]) -> str:
    """``X-Gmail-Labels`` value: Takeout names joined by ``,``; a name with ``,`` or ``"`` is quoted."""
    out = []
    for label in labels:
        name = re.sub(r"[\r\n]+", " ", takeout_name(label))
        if "," in name or '"' in name or name != name.strip():
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(name)
    return ",".join(out)


def maildir_flags(flags: Sequence[str]) -> str:
    """Maildir info letters for IMAP flags, sorted (``S``, ``F``, ``R``, ``D``, ``P``, ``T``)."""
    return "".join(sorted({MAILDIR_FLAGS[f] for f in flags if f in MAILDIR_FLAGS}))


def safe_name(key: str) -> str:
    """A file-name-safe form of a message key (no ``:`` or ``/``); a hash suffix keeps it unique."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", key)
    if clean != key:
        clean += "_" + hashlib.sha256(key.encode()).hexdigest()[:8]
    return clean


def folder_parts(label: str) -> list[str]:
    """Relative Maildir folder of a label: ``[]`` (the root, which is INBOX) for ``\\Inbox`` and a generic
    server's ``INBOX``; otherwise the Takeout name split on ``/``, each part made safe (no ``.``-prefix,
    no empty part, never ``cur``, ``new`` or ``tmp``, which are the Maildir's own folders)."""
    if is_inbox(label):
        return []
    parts = []
    for part in takeout_name(label).split("/"):
        part = part.replace("\0", "_")
        if part in ("", ".", "..", "cur", "new", "tmp") or part.startswith("."):
            part = "_" + part
        parts.append(part)
    return parts


_FROM_HEADER = re.compile(rb"^From:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.MULTILINE | re.IGNORECASE)
_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)


HEADER_LIMIT = 256 * 1024
"""Headers are looked for in the first bytes only (a header block longer than this is cut there)."""


def _header_block(data: bytes) -> bytes:
    lf = data.find(b"\n\n", 0, HEADER_LIMIT)
    crlf = data.find(b"\r\n\r\n", 0, lf + 2 if lf >= 0 else HEADER_LIMIT)
    ends = [i for i in (lf, crlf) if i >= 0]
    return data[: min(ends)] if ends else data[:HEADER_LIMIT]


def _needs_blank_line(data: bytes) -> bool:
    """True when ``data`` has no LF LF: mailutils (mail, frm) ends a header block at the first LF LF (CR LF
    CR LF does not count) and reads the line after it as body even when it is a ``From `` line, so such a
    message (header-only, or CRLF) needs one more blank line before the next message."""
    return b"\n\n" not in data


_ANGLE_ADDR = re.compile(rb"<([^<>\s\"]+@[^<>\s\"]+)>")
_BARE_ADDR = re.compile(rb"([^<>\s\"(),;:]+@[^<>\s\"(),;:]+)")


def envelope_sender(data: bytes) -> str:
    """The address of the From header for the mbox ``From `` line, or ``MAILER-DAEMON``."""
    m = _FROM_HEADER.search(_header_block(data))
    if m:
        value = m.group(1)
        found = _ANGLE_ADDR.search(value) or _BARE_ADDR.search(value)
        if found and found.group(1).isascii():
            return found.group(1).decode("ascii")
    return "MAILER-DAEMON"


def extra_headers(record: MessageRecord, newline: bytes) -> bytes:
    """The headers added to an exported copy: ``X-GM-THRID`` (Gmail only) and ``X-Gmail-Labels``."""
    lines = []
    if record.gm_thrid is not None:
        lines.append(f"X-GM-THRID: {record.gm_thrid}")
    lines.append(f"X-Gmail-Labels: {labels_header_value(record.labels)}")
    return b"".join(line.encode("utf-8") + newline for line in lines)


def _newline(data: bytes) -> bytes:
    i = data.find(b"\n")
    return b"\r\n" if i > 0 and data[i - 1:i] == b"\r" else b"\n"


class Writer(Protocol):
    def write(self, records: Sequence[MessageRecord], data: bytes) -> int:
        """Write one message (all its selected records); returns the number of files/entries written."""

    def close(self, ok: bool) -> None:
        """Finish (ok) or clean up after a failure."""


class MboxWriter:
    """mboxrd: one ``From sender asctime`` line per message, ``>*From `` lines gain one ``>``."""

    def __init__(self, output: Path, add_headers: bool) -> None:
        self.output = output
        self.add_headers = add_headers
        self._tmp = output.with_name(output.name + ".partial")
        self._fh: BinaryIO = open(self._tmp, "wb", buffering=1 << 20)  # noqa: SIM115 (closed in close())

    def write(self, records: Sequence[MessageRecord], data: bytes) -> int:
        sender = envelope_sender(data)
        body = _FROM_LINE.sub(rb">\1", data) if b"From " in data else data
        # a message starting with white space would have it folded into a prepended header: such a
        # (malformed) message is written unchanged, without labels
        add = self.add_headers and data[:1] not in (b" ", b"\t")
        sep = b"\n" if data.endswith(b"\n") else b"\n\n"
        if self.add_headers and _needs_blank_line(data):
            sep += b"\n"  # client compatibility over exactness, in this mode only
        newline = _newline(data)
        for record in records:
            stamp = time.asctime(time.gmtime(record.internaldate))
            self._fh.write(f"From {sender} {stamp}\n".encode())
            if add:
                self._fh.write(extra_headers(record, newline))
            self._fh.write(body)
            self._fh.write(sep)
        return len(records)

    def close(self, ok: bool) -> None:
        self._fh.close()
        if ok:
            os.replace(self._tmp, self.output)
        else:
            self._tmp.unlink(missing_ok=True)


def _link_or_copy(first: Path, target: Path, data: bytes) -> None:
    """Another copy of a message already written at ``first``: a hard link, or the bytes again where the
    filesystem refuses links."""
    target.unlink(missing_ok=True)
    try:
        os.link(first, target)
    except OSError:
        target.write_bytes(data)


class MaildirWriter:
    """Plain nested Maildirs (Dovecot ``LAYOUT=fs``): ``OUT/{cur,new,tmp}`` is INBOX, every other label
    ``OUT/<label>/<sub>/{cur,new,tmp}``.

    A message is written once (tmp/ then renamed into cur/) and hard-linked into its other label folders
    (copied where the filesystem refuses links).
    File name: ``<internaldate>.<key>.gmail-archiver:2,<flags>``.
    """

    def __init__(self, output: Path, all_labels: set[str]) -> None:
        self.output = output
        self._made: set[Path] = set()
        used = {tuple(folder_parts(label)) for label in all_labels}
        self.no_label = NO_LABEL_FOLDER if (NO_LABEL_FOLDER,) not in used else NO_LABEL_FOLDER + " (no label)"
        self._folder([])  # the root is always a Maildir (INBOX), so mutt -f OUT and Dovecot open it

    def _folder(self, parts: Sequence[str]) -> Path:
        folder = self.output.joinpath(*parts)
        if folder not in self._made:
            for sub in ("cur", "new", "tmp"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            self._made.add(folder)
        return folder

    def write(self, records: Sequence[MessageRecord], data: bytes) -> int:
        files = 0
        for record in records:
            flags = maildir_flags(record.flags)
            name = f"{record.internaldate}.{safe_name(record.key)}.gmail-archiver:2,{flags}"
            folders = [folder_parts(label) for label in record.labels] or [[self.no_label]]
            first: Path | None = None
            for parts in folders:
                folder = self._folder(parts)
                target = folder / "cur" / name
                if first is None:
                    tmp = folder / "tmp" / name
                    tmp.write_bytes(data)
                    os.utime(tmp, (record.internaldate, record.internaldate))
                    os.replace(tmp, target)
                    first = target
                else:
                    _link_or_copy(first, target, data)
                files += 1
        return files

    def close(self, ok: bool) -> None:
        return None


class EmlWriter:
    """``OUT/<key>.eml`` holding the exact bytes, plus ``OUT/index.jsonl`` (one JSON object per message)."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self._index_tmp = output / "index.jsonl.partial"
        self._index: BinaryIO = open(self._index_tmp, "wb")  # noqa: SIM115 (closed in close())

    def write(self, records: Sequence[MessageRecord], data: bytes) -> int:
        first: Path | None = None
        for record in records:
            path = self.output / f"{safe_name(record.key)}.eml"
            if first is None:
                tmp = path.with_name(path.name + ".partial")
                tmp.write_bytes(data)
                os.replace(tmp, path)
                first = path
            else:
                _link_or_copy(first, path, data)
            self._index.write(json.dumps(index_entry(record, path.name), sort_keys=True).encode() + b"\n")
        return len(records)

    def close(self, ok: bool) -> None:
        self._index.close()
        if ok:
            os.replace(self._index_tmp, self.output / "index.jsonl")
        else:
            self._index_tmp.unlink(missing_ok=True)


def index_entry(record: MessageRecord, file: str) -> dict[str, object]:
    """The ``index.jsonl`` line of one exported message."""
    return {
        "key": record.key, "file": file, "blob_id": record.blob_id, "size": record.size,
        "labels": list(record.labels), "thread_id": record.thread_id, "flags": list(record.flags),
        "gm_msgid": record.gm_msgid, "gm_thrid": record.gm_thrid, "message_id": record.message_id,
        "internaldate": record.date.isoformat(),
        "internaldate_utc": _dt.datetime.fromtimestamp(record.internaldate, _dt.UTC).isoformat(),
    }
