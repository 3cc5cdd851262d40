"""The three export writers (mbox, Maildir, eml) and the label-name mapping they share.

Each writer receives a message's bytes once, with every selected record that references them, and writes
them out; blob reading, filtering and damage handling live in ``operation.py``, and how files are created
(never through a link, 0600/0700) in ``output.py``.

Label names follow Google Takeout: system labels become ``Inbox``, ``Sent``, ``Important``, ``Starred``,
``Drafts``, ``Trash``, ``Spam``, ``Chats`` (``\\Junk`` becomes ``Spam``; any other ``\\Name`` becomes
``Name``); user labels are kept as they are, nested ones with ``/``.
"""

from __future__ import annotations

import contextlib
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
from archiver.ops.export.output import (
    OutputTree,
    link_or_put,
    new_file,
    open_parent,
    put_file,
    temp_name,
)

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


NAME_MAX = 255
"""Bytes in one file or folder name (Linux, macOS); a longer label folder name is shortened."""


def fit_name(name: str) -> str:
    """``name`` if it fits in ``NAME_MAX`` UTF-8 bytes, else its longest prefix that does with ``~`` and 10
    hex digits of its SHA-256 (so two long names never meet), cut at a character boundary."""
    data = name.encode("utf-8", "surrogateescape")
    if len(data) <= NAME_MAX:
        return name
    suffix = "~" + hashlib.sha256(data).hexdigest()[:10]
    return data[:NAME_MAX - len(suffix)].decode("utf-8", "ignore") + suffix


def folder_parts(label: str, fit: bool = True) -> list[str]:
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
    return [fit_name(part) for part in parts] if fit else parts  # fit: each part in NAME_MAX bytes


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
    """mboxrd: one ``From sender asctime`` line per message, ``>*From `` lines gain one ``>``.

    To a file: written under a fresh hidden temporary name next to it (``O_EXCL|O_NOFOLLOW``, 0600) and
    renamed over it at the end, so a failed export leaves the old file.  To a stream (``-o -``): as it comes.
    """

    def __init__(self, output: Path | BinaryIO, add_headers: bool) -> None:
        self.add_headers = add_headers
        self._dir: int | None = None
        if not isinstance(output, Path):
            self._fh: BinaryIO = output
            return
        self._name = output.name
        self._dir = open_parent(output)
        self._tmp = temp_name(output)
        try:
            fd = new_file(self._dir, self._tmp, output.parent / self._tmp)
        except BaseException:
            os.close(self._dir)
            raise
        self._fh = os.fdopen(fd, "wb", buffering=1 << 20)

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
        if self._dir is None:
            self._fh.flush()
            return
        done = False
        try:
            self._fh.close()
            if ok:
                os.replace(self._tmp, self._name, src_dir_fd=self._dir, dst_dir_fd=self._dir)
                done = True
        finally:
            if not done:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._tmp, dir_fd=self._dir)
            os.close(self._dir)


class MaildirWriter:
    """Plain nested Maildirs (Dovecot ``LAYOUT=fs``): ``OUT/{cur,new,tmp}`` is INBOX, every other label
    ``OUT/<label>/<sub>/{cur,new,tmp}``.

    Every label folder is made up front (a link planted in the output is refused before any message is
    written; output.py).  A message is written once (tmp/ then renamed into cur/) and hard-linked into its
    other label folders (copied where the filesystem refuses links).
    File name: ``<internaldate>.<key>.gmail-archiver:2,<flags>``.  :attr:`shortened` lists the labels whose
    folder name had to be shortened (label -> folder).
    """

    def __init__(self, output: Path, all_labels: set[str], unlabelled: bool = True) -> None:
        self.output = output
        self._made: set[tuple[str, ...]] = set()
        used = {tuple(folder_parts(label)) for label in all_labels}
        self.no_label = NO_LABEL_FOLDER if (NO_LABEL_FOLDER,) not in used else NO_LABEL_FOLDER + " (no label)"
        self.shortened = {label: "/".join(folder_parts(label)) for label in sorted(all_labels)
                          if folder_parts(label) != folder_parts(label, fit=False)}
        self._tree = OutputTree(output)
        try:
            self._maildir(())  # the root is always a Maildir (INBOX), so mutt -f OUT and Dovecot open it
            for parts in sorted(used | ({(self.no_label,)} if unlabelled else set())):
                self._maildir(parts)
                self._tree.trim()
        except BaseException:
            self._tree.close()
            raise

    def _maildir(self, parts: Sequence[str]) -> tuple[int, int]:
        """(cur, tmp) descriptors of the Maildir ``OUT/parts``, made on first use."""
        key = tuple(parts)
        if key not in self._made:
            self._tree.folder((*key, "new"))
            self._made.add(key)
        return self._tree.folder((*key, "cur")), self._tree.folder((*key, "tmp"))

    def write(self, records: Sequence[MessageRecord], data: bytes) -> int:
        self._tree.trim()
        files = 0
        for record in records:
            flags = maildir_flags(record.flags)
            name = f"{record.internaldate}.{safe_name(record.key)}.gmail-archiver:2,{flags}"
            folders = dict.fromkeys(tuple(folder_parts(label)) for label in record.labels) or {
                (self.no_label,): None}
            first: int | None = None
            for parts in folders:
                cur, tmp = self._maildir(parts)
                where = self.output.joinpath(*parts, "cur", name)
                if first is None:
                    put_file(tmp, name, cur, name, data, where, record.internaldate)
                    first = cur
                else:
                    link_or_put(first, name, tmp, cur, name, data, where, record.internaldate)
                files += 1
        return files

    def close(self, ok: bool) -> None:
        self._tree.close()


class EmlWriter:
    """``OUT/<key>.eml`` holding the exact bytes, plus ``OUT/index.jsonl`` (one JSON object per message)."""

    _INDEX = "index.jsonl"

    def __init__(self, output: Path) -> None:
        self.output = output
        self._tree = OutputTree(output)
        try:
            fd = new_file(self._tree.root, self._INDEX + ".partial", output / (self._INDEX + ".partial"))
        except BaseException:
            self._tree.close()
            raise
        self._index: BinaryIO = os.fdopen(fd, "wb")

    def write(self, records: Sequence[MessageRecord], data: bytes) -> int:
        root = self._tree.root
        first: str | None = None
        for record in records:
            name = f"{safe_name(record.key)}.eml"
            if first is None:
                put_file(root, name + ".partial", root, name, data, self.output / name)
                first = name
            else:
                link_or_put(root, first, root, root, name, data, self.output / name)
            self._index.write(json.dumps(index_entry(record, name), sort_keys=True).encode() + b"\n")
        return len(records)

    def close(self, ok: bool) -> None:
        root = self._tree.root
        done = False
        try:
            self._index.close()
            if ok:
                os.replace(self._INDEX + ".partial", self._INDEX, src_dir_fd=root, dst_dir_fd=root)
                done = True
        finally:
            if not done:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._INDEX + ".partial", dir_fd=root)
            self._tree.close()


def index_entry(record: MessageRecord, file: str) -> dict[str, object]:
    """The ``index.jsonl`` line of one exported message."""
    return {
        "key": record.key, "file": file, "blob_id": record.blob_id, "size": record.size,
        "labels": list(record.labels), "thread_id": record.thread_id, "flags": list(record.flags),
        "gm_msgid": record.gm_msgid, "gm_thrid": record.gm_thrid, "message_id": record.message_id,
        "internaldate": record.date.isoformat(),
        "internaldate_utc": _dt.datetime.fromtimestamp(record.internaldate, _dt.UTC).isoformat(),
    }
