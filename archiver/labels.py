"""The one label vocabulary: Gmail system labels, SPECIAL-USE folder roles, their Takeout names, the names
Gmail reserves, the mappings between labels and roles, and the one ``--label`` matching rule.

Every layer uses these tables (backup, restore, export, the library's ``by_label``, ``ls``, the IMAP layer's
role parsing), so a label means the same thing everywhere: ``--label Inbox`` and ``by_label("Inbox")`` pick
the same messages (``by_label`` once compared exact names and found none).  The built-in emulator keeps its
own tables on purpose: it is a server of its own and imports nothing from the package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum


class SystemLabel(StrEnum):
    """Gmail system labels as X-GM-LABELS and the archive's records spell them (a member *is* its string)."""

    INBOX = "\\Inbox"
    SENT = "\\Sent"
    IMPORTANT = "\\Important"
    STARRED = "\\Starred"
    DRAFT = "\\Draft"
    TRASH = "\\Trash"
    SPAM = "\\Spam"
    CHATS = "\\Chats"


class Role(StrEnum):
    """SPECIAL-USE folder roles (RFC 6154, RFC 8457), as ``Folder.role`` and ``FolderState.role`` hold."""

    ALL = "\\All"
    ARCHIVE = "\\Archive"
    DRAFTS = "\\Drafts"
    FLAGGED = "\\Flagged"
    JUNK = "\\Junk"
    SENT = "\\Sent"
    TRASH = "\\Trash"
    IMPORTANT = "\\Important"


INBOX = "INBOX"
"""The one folder name IMAP fixes (any case means the same folder)."""

SYSTEM_LABELS: dict[str, str] = {
    "\\Inbox": "Inbox",
    "\\Sent": "Sent",
    "\\Important": "Important",
    "\\Starred": "Starred",
    "\\Draft": "Drafts",
    "\\Drafts": "Drafts",
    "\\Trash": "Trash",
    "\\Spam": "Spam",
    "\\Junk": "Spam",
    "\\Chats": "Chats",
    "\\Flagged": "Starred",
}
"""Gmail system labels (and role spellings) -> their Google Takeout names."""

ROLE_ATTRIBUTES: dict[str, Role] = {
    "\\all": Role.ALL, "\\archive": Role.ARCHIVE, "\\drafts": Role.DRAFTS, "\\flagged": Role.FLAGGED,
    "\\junk": Role.JUNK, "\\sent": Role.SENT, "\\trash": Role.TRASH, "\\important": Role.IMPORTANT,
    "\\allmail": Role.ALL, "\\spam": Role.JUNK, "\\starred": Role.FLAGGED,
}
"""LIST attributes (lower case; SPECIAL-USE and the legacy XLIST names Gmail also sends) -> role."""

SYSTEM_ALIASES: dict[str, SystemLabel] = {
    "\\inbox": SystemLabel.INBOX, "\\starred": SystemLabel.STARRED, "\\important": SystemLabel.IMPORTANT,
    "\\sent": SystemLabel.SENT, "\\draft": SystemLabel.DRAFT, "\\drafts": SystemLabel.DRAFT,
    "\\trash": SystemLabel.TRASH, "\\spam": SystemLabel.SPAM, "\\junk": SystemLabel.SPAM,
}
"""Spellings of a system label (lower case) -> the label Gmail accepts on APPEND/STORE."""

RESTORED_SYSTEM_LABELS = frozenset({SystemLabel.INBOX, SystemLabel.STARRED, SystemLabel.IMPORTANT,
                                    SystemLabel.SENT, SystemLabel.DRAFT})
"""System labels restore sets as labels (``\\Trash``/``\\Spam`` are locations, not labels)."""

LOCATION_LABELS = frozenset({SystemLabel.TRASH, SystemLabel.SPAM})
"""Labels that say where a Gmail message sits rather than what it carries."""

GMAIL_RESERVED_NAMES = frozenset({"inbox", "sent", "sent mail", "drafts", "draft", "spam", "trash", "bin",
                                  "starred", "important", "chats", "all mail", "muted", "migrated", "junk"})
"""User label names (case-folded) Gmail refuses to create: restore moves them under ``Restored/``."""

GMAIL_RESERVED_PARENTS = frozenset({"[gmail]", "[google mail]", "[googlemail]"})
"""Top-level names (case-folded) under which Gmail refuses user labels."""

FOLDER_LABEL: dict[str, SystemLabel] = {Role.TRASH: SystemLabel.TRASH, Role.JUNK: SystemLabel.SPAM}
"""Gmail backup: the label a message gets for sitting in a folder of that role (its X-GM-LABELS lack it)."""

ROLE_TO_LABEL: dict[str, str] = {
    Role.SENT: SystemLabel.SENT.value, Role.DRAFTS: SystemLabel.DRAFT.value,
    Role.FLAGGED: SystemLabel.STARRED.value, Role.IMPORTANT: SystemLabel.IMPORTANT.value,
    Role.TRASH: SystemLabel.TRASH.value, Role.JUNK: SystemLabel.SPAM.value, Role.ALL: "", Role.ARCHIVE: "",
}
"""Restore to Gmail from a generic source: folder role -> Gmail label ("" = no label: All Mail holds all)."""

LABEL_TO_ROLE: dict[str, Role] = {
    SystemLabel.SENT: Role.SENT, SystemLabel.DRAFT: Role.DRAFTS, SystemLabel.TRASH: Role.TRASH,
    SystemLabel.SPAM: Role.JUNK, SystemLabel.IMPORTANT: Role.IMPORTANT,
}
"""Restore to a generic server from Gmail: system label -> the role of the folder it goes into."""

ROLE_DEFAULT_FOLDER: dict[str, str] = {
    Role.SENT: "Sent", Role.DRAFTS: "Drafts", Role.TRASH: "Trash", Role.JUNK: "Junk",
    Role.IMPORTANT: "Important",
}
"""The folder name used for a role when the target has no folder with that role."""


def is_inbox(label: str) -> bool:
    """Whether a stored label is the inbox: Gmail's ``\\Inbox`` or a generic server's ``INBOX`` (any case)."""
    return label == SystemLabel.INBOX or label.upper() == INBOX


def takeout_name(label: str) -> str:
    """The Takeout spelling of a label (``\\Inbox`` -> ``Inbox``; user labels unchanged)."""
    if label in SYSTEM_LABELS:
        return SYSTEM_LABELS[label]
    if label.startswith("\\"):
        return label[1:]
    return label


def label_matches(wanted: str, label: str) -> bool:
    """Whether ``wanted`` names the stored ``label``: exactly; a system label (``\\Inbox``) also without its
    backslash or by its Takeout name, in any case; ``INBOX`` in any case.  User labels only exactly."""
    if wanted == label:
        return True
    if label.startswith("\\"):
        w = wanted.casefold()
        return w in (label.casefold(), label[1:].casefold(), takeout_name(label).casefold())
    return label.upper() == INBOX and wanted.upper() == INBOX


def label_filter(wanted: Iterable[str]) -> Callable[[Iterable[str]], bool]:
    """A test "carries any of ``wanted``" over a message's labels (decided once per distinct label)."""
    names = tuple(wanted)
    known: dict[str, bool] = {}

    def carries(labels: Iterable[str]) -> bool:
        for label in labels:
            hit = known.get(label)
            if hit is None:
                hit = known[label] = any(label_matches(w, label) for w in names)
            if hit:
                return True
        return False

    return carries
