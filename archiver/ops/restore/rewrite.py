"""Byte-level edits restore makes to an upload, and the target names of labels (pure functions, no I/O).

Policy ``rewrite-message-id`` (the default): Gmail silently drops an APPEND whose Message-ID it already holds,
so a *different* message carrying a Message-ID the target has is uploaded with a deterministic new one,
``<restored.<first 16 hex of the blob id>.<original without brackets>>``, and the original value kept in an
``X-Archiver-Original-Message-ID:`` header.  Only the Message-ID field changes; every other byte is kept.

Gmail label mapping (documented in the restore help and README):
- system labels ``\\Inbox \\Starred \\Important \\Sent \\Draft`` are restored as such
  (``\\Drafts`` -> ``\\Draft``); ``\\Trash`` / ``\\Spam`` are locations (the upload goes into that
  folder), not labels;
- from a generic source, folder roles map to system labels (INBOX -> ``\\Inbox``, ``\\Sent`` ->
  ``\\Sent``, ``\\Drafts`` -> ``\\Draft``, ``\\Flagged`` -> ``\\Starred``, ``\\Important`` ->
  ``\\Important``, ``\\Trash`` and ``\\Junk`` -> Trash / Spam); ``\\All`` and ``\\Archive``
  folders give no label (All Mail holds everything);
- a user label Gmail reserves (Inbox, Sent, Sent Mail, Drafts, Spam, Trash, Bin, Starred, Important, Chats,
  All Mail, Muted, Migrated, or under ``[Gmail]``/``[Google Mail]``) becomes ``Restored/<name>``;
  runs of whitespace are collapsed and ends stripped (Gmail refuses "excess whitespace").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from archiver.labels import (
    GMAIL_RESERVED_NAMES,
    GMAIL_RESERVED_PARENTS,
    INBOX,
    LABEL_TO_ROLE,
    ROLE_DEFAULT_FOLDER,
    ROLE_TO_LABEL,
    SYSTEM_ALIASES,
    Role,
    SystemLabel,
)
from archiver.model import MessageRecord

ORIGINAL_HEADER = b"X-Archiver-Original-Message-ID"
_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:")




def rewrite_message_id(raw: bytes, new_id: str) -> bytes:
    """``raw`` with its first Message-ID field replaced by ``new_id`` and the old value kept in a header.

    A message without a Message-ID field gets one added at the top (the caller never asks for that case).
    """
    lines = raw.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        line = lines[i]
        if line in (b"\r\n", b"\n"):
            break
        m = _FIELD.match(line)
        if m and m.group(1).lower() == b"message-id":
            j = i + 1
            while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
                j += 1
            eol = b"\r\n" if line.endswith(b"\r\n") else b"\n"
            old = b"".join(lines[i:j])
            value = old[m.end():]
            new = b"Message-ID: " + new_id.encode("ascii") + eol + ORIGINAL_HEADER + b":" + value
            if not new.endswith(b"\n"):
                new += eol
            return b"".join(lines[:i]) + new + b"".join(lines[j:])
        i += 1
    eol = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
    return b"Message-ID: " + new_id.encode("ascii") + eol + raw


_CR_BEFORE_CRLF = re.compile(rb"\r(?=\r\n)")
_BARE_LF = re.compile(rb"(?<!\r)\n")


def served_form(raw: bytes) -> bytes:
    """What Dovecot serves for an upload of exactly ``raw`` (observed over IMAP, sdbox and maildir): a CR
    right before a CRLF and a CR ending the message are dropped, every bare LF becomes CRLF, every NUL
    byte 0x80; other bare CRs stay.  RFC822.SIZE is this form's length."""
    if (b"\r\r\n" not in raw and not raw.endswith(b"\r") and b"\0" not in raw
            and raw.count(b"\n") == raw.count(b"\r\n")):
        return raw  # already served as is (the common case: C-speed scans instead of two regex passes)
    out = _CR_BEFORE_CRLF.sub(b"", raw)
    if out.endswith(b"\r"):
        out = out[:-1]
    return _BARE_LF.sub(b"\r\n", out).replace(b"\0", b"\x80")


# -- labels ------------------------------------------------------------------------------------------


def has_empty_level(label: str) -> bool:
    """A user label with an empty level (``/x``, ``x/``, ``a//b``): no server takes it as a folder name."""
    return not label.startswith("\\") and "" in label.split("/")


def valid_label(label: str) -> str:
    """``label`` with its empty levels dropped, under ``Restored/`` (so it cannot merge with a label of
    that name); other labels unchanged."""
    if not has_empty_level(label):
        return label
    return "Restored/" + ("/".join(p for p in label.split("/") if p) or "(unnamed)")


def gmail_label(label: str) -> str:
    """A Gmail label name for ``label`` from a Gmail snapshot: system aliases fixed, reserved names moved."""
    label = valid_label(label)
    alias = SYSTEM_ALIASES.get(label.lower()) if label.startswith("\\") else None
    if alias is not None:
        return alias.value
    if label.startswith("\\"):
        return label
    name = " ".join(label.split())
    if label.upper() == INBOX:
        return SystemLabel.INBOX.value
    top = name.split("/")[0].lower()
    if name.lower() in GMAIL_RESERVED_NAMES or top in GMAIL_RESERVED_PARENTS:
        return f"Restored/{name}"
    return name


def gmail_labels_for(record: MessageRecord, roles: Mapping[str, str | None]) -> tuple[str, ...]:
    """The Gmail labels a record gets, ``\\Trash``/``\\Spam`` included (the caller treats them as location).

    ``roles``: folder name -> SPECIAL-USE role of the snapshot's source folders (for generic sources).
    """
    out: list[str] = []
    for label in record.labels:
        if record.gm_msgid is None:  # a folder of a generic server
            role = roles.get(label)
            if label.upper() == INBOX:
                out.append(SystemLabel.INBOX.value)
                continue
            if role in ROLE_TO_LABEL:
                mapped = ROLE_TO_LABEL[role]
                if mapped:
                    out.append(mapped)
                continue
        out.append(gmail_label(label))
    if "\\Flagged" in record.flags and SystemLabel.STARRED not in out:
        out.append(SystemLabel.STARRED.value)
    return tuple(dict.fromkeys(out))


def label_parents(labels: Iterable[str]) -> list[str]:
    """Every parent of the nested user labels (``A/B/C`` -> ``A``, ``A/B``), parents first, for CREATE."""
    out: dict[str, None] = {}
    for label in labels:
        if label.startswith("\\"):
            continue
        parts = label.split("/")
        for n in range(1, len(parts)):
            out.setdefault("/".join(parts[:n]), None)
        out.setdefault(label, None)
    return list(out)





def generic_folders_for(record: MessageRecord, *, source_roles: Mapping[str, str | None],
                        target_roles: Mapping[str, str], delimiter: str,
                        default_folder: str) -> tuple[str, ...]:
    """The folders of a generic target a record goes into.

    Gmail labels: ``\\Inbox`` -> INBOX, ``\\Sent``/``\\Draft``/``\\Trash``/``\\Spam``/``\\Important`` -> the
    target's folder with that SPECIAL-USE role (or Sent/Drafts/Trash/Junk/Important), ``\\Starred`` -> no
    folder (the ``\\Flagged`` flag carries it), user labels -> folders, ``/`` replaced by the target's
    delimiter.  Generic sources: a folder with a role goes to the target's folder of that role, INBOX to
    INBOX, others by name.  No folder at all -> ``default_folder``.  ``target_roles``: role -> folder name.
    """
    out: list[str] = []
    for label in record.labels:
        if record.gm_msgid is not None:
            if label.lower() == SystemLabel.INBOX.lower():
                out.append(INBOX)
            elif label.startswith("\\"):
                goes_to = LABEL_TO_ROLE.get(SYSTEM_ALIASES.get(label.lower(), label))
                if goes_to is not None:
                    out.append(target_roles.get(goes_to, ROLE_DEFAULT_FOLDER[goes_to]))
            else:
                name = valid_label(label)
                out.append(name.replace("/", delimiter) if delimiter else name)
            continue
        role = source_roles.get(label)
        if label.upper() == INBOX:
            out.append(INBOX)
        elif role == Role.ALL:
            continue
        elif role is not None and role in target_roles:
            out.append(target_roles[role])
        else:
            out.append(label)
    if not out:
        out.append(default_folder)
    return tuple(dict.fromkeys(out))
