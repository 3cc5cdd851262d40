"""The emulator's state: one message store per account, folders as views with their own UIDs.

Gmail's model (gmail-imap.md 3.1-3.3, 8.1): a message is stored once; each label is a folder showing the
messages carrying it, with a UID of its own that is assigned when the message enters the folder; All Mail
shows everything except Trash and Spam.  One account-wide MODSEQ counter is bumped by every change to a
message's flags, labels or Trash/Spam state.  Everything here runs under ``Store.lock`` (the test thread and
the server thread both use it).
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from archiver.emulator import headers
from archiver.emulator.config import ROLE_LABEL, SPECIAL_ROLES, EmulatorConfig

SYSTEM_LABELS = {"\\inbox": "\\Inbox", "\\sent": "\\Sent", "\\draft": "\\Draft", "\\drafts": "\\Draft",
                 "\\important": "\\Important", "\\starred": "\\Starred", "\\trash": "\\Trash",
                 "\\spam": "\\Spam"}


class StoreError(Exception):
    """A request the emulated Gmail refuses; ``code`` is the IMAP response code (without brackets)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


@dataclass(frozen=True)
class EmuMessage:
    """One stored message as tests see it (immutable; the store replaces it on every change)."""

    gm_msgid: int
    gm_thrid: int
    labels: frozenset[str]
    flags: frozenset[str]
    internaldate: datetime
    data: bytes = field(repr=False)
    trashed: bool
    spam: bool
    message_id: str | None
    modseq: int


@dataclass
class Folder:
    """One IMAP folder: a view of the account's messages with its own UIDs."""

    name: str
    role: str | None
    """Special role (``inbox``, ``all``, ``trash``, ...) or None for a user label."""
    uidvalidity: int
    uidnext: int = 1
    uids: dict[int, int] = field(default_factory=dict)
    """UID -> X-GM-MSGID, in ascending UID order."""
    by_msgid: dict[int, int] = field(default_factory=dict)
    removals: int = 0
    """Bumped whenever a message leaves the folder (sessions diff their view then)."""

    @property
    def label(self) -> str | None:
        """The label this folder stands for (None for All Mail, Trash, Spam)."""
        if self.role is None:
            return self.name
        return ROLE_LABEL.get(self.role)

    def contains(self, m: EmuMessage) -> bool:
        if self.role == "trash":
            return m.trashed
        if m.trashed:
            return False
        if self.role == "junk":
            return m.spam
        if m.spam:
            return False
        label = self.label
        return label is None or label in m.labels


@dataclass
class Account:
    """One emulated Gmail account; secrets are kept out of repr."""

    user: str
    password: str | None = field(default=None, repr=False)
    oauth_token: str | None = field(default=None, repr=False)
    real_password: str | None = field(default=None, repr=False)
    messages: dict[int, EmuMessage] = field(default_factory=dict)
    folders: dict[str, Folder] = field(default_factory=dict)
    by_message_id: dict[str, list[int]] = field(default_factory=dict)
    modseq: int = 1
    next_uidvalidity: int = 633655512
    connections: int = 0
    stats: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("body_bytes_sent", "bytes_sent", "bytes_received", "commands", "appends", "logins",
         "expired_sessions", "refused_tokens"), 0))

    def storage_used(self) -> int:
        """Bytes the account stores (QUOTA STORAGE): every message, Trash and Spam included, until deleted
        forever."""
        return sum(len(m.data) for m in self.messages.values())

    def folder(self, name: str) -> Folder | None:
        """The folder called ``name`` (INBOX case-insensitively)."""
        if name.upper() == "INBOX":
            name = "INBOX"
        return self.folders.get(name)


class Store:
    """All accounts and every state change; each public method takes ``lock``."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.version = 0
        self.created = 0
        """Bumped on every change anywhere (IDLE polls it)."""

    # -- accounts and folders -------------------------------------------------------------------------
    def add_account(self, user: str, password: str | None, oauth_token: str | None,
                    real_password: str | None) -> Account:
        with self.lock:
            acct = Account(user, password, oauth_token, real_password)
            self.accounts[user] = acct
            for role in ("inbox", *SPECIAL_ROLES):
                self._new_folder(acct, self.config.special_name(role), role)
            return acct

    def find(self, user: str) -> Account | None:
        """The account a login name means (Gmail addresses are case-insensitive)."""
        acct = self.accounts.get(user)
        if acct is None:
            acct = next((a for u, a in self.accounts.items() if u.casefold() == user.casefold()), None)
        return acct

    def account(self, user: str) -> Account:
        try:
            return self.accounts[user]
        except KeyError:
            raise KeyError(f"no emulated account {user!r}") from None

    def _new_folder(self, acct: Account, name: str, role: str | None) -> Folder:
        f = Folder(name, role, acct.next_uidvalidity)
        acct.next_uidvalidity += 1
        acct.folders[name] = f
        for m in acct.messages.values():
            if f.contains(m):
                self._enter(f, m.gm_msgid)
        return f

    def user_label(self, acct: Account, name: str) -> str:
        """Canonical spelling of a label: system labels by their fixed names, user labels as first created
        (Gmail label names are unique case-insensitively)."""
        if name.startswith("\\"):
            try:
                return SYSTEM_LABELS[name.lower()]
            except KeyError:
                raise StoreError("CANNOT", f"Unknown system label {name}") from None
        if name.upper() == "INBOX":
            return "\\Inbox"
        for f in acct.folders.values():
            if f.role is None and f.name.casefold() == name.casefold():
                return f.name
        return name

    def create_label(self, acct: Account, name: str, parents: bool = True) -> Folder:
        """CREATE: a new user label (and its missing parents when ``parents``)."""
        if not name or name != name.strip() or "  " in name:
            why = "Folder contains excess whitespace" if name else "No folder name given."
            raise StoreError("CANNOT", why)
        if "^" in name:
            raise StoreError("CANNOT", "Invalid folder name")
        existing = acct.folder(name)
        if existing is not None or self._is_reserved(name) or self.user_label(acct, name) != name:
            raise StoreError("ALREADYEXISTS", "Duplicate folder name")
        if parents and "/" in name:
            parent = name.rsplit("/", 1)[0]
            if acct.folder(parent) is None and self.user_label(acct, parent) == parent:
                self.create_label(acct, parent)
        self.version += 1
        return self._new_folder(acct, name, None)

    def _is_reserved(self, name: str) -> bool:
        prefix = self.config.system_prefix
        return name == prefix or name.startswith(prefix + "/") or name.upper() == "INBOX"

    def _ensure_label_folder(self, acct: Account, label: str) -> None:
        if not label.startswith("\\") and acct.folder(label) is None:
            self._new_folder(acct, label, None)

    def delete_label(self, acct: Account, name: str) -> None:
        f = acct.folder(name)
        if f is None or f.role is not None:
            raise StoreError("NONEXISTENT" if f is None else "CANNOT",
                             f"Unknown Mailbox: {name}" if f is None else "Cannot delete system folder")
        for msgid in list(f.by_msgid):
            m = acct.messages[msgid]
            self._update(acct, m, labels=m.labels - {name})
        del acct.folders[f.name]
        self.version += 1

    def rename_label(self, acct: Account, old: str, new: str) -> None:
        f = acct.folder(old)
        if f is None or f.role is not None:
            raise StoreError("NONEXISTENT", f"Unknown Mailbox: {old}")
        if acct.folder(new) is not None or self._is_reserved(new):
            raise StoreError("ALREADYEXISTS", "Duplicate folder name")
        renames = {n: new + n[len(old):] for n, g in acct.folders.items()
                   if g.role is None and (n == old or n.startswith(old + "/"))}
        for before, after in renames.items():
            g = acct.folders.pop(before)
            g.name = after
            acct.folders[after] = g
        for m in list(acct.messages.values()):
            if m.labels & renames.keys():
                # folder membership is unchanged (same folders, new names), so no UID moves; MODSEQ does
                labels = frozenset(renames.get(lb, lb) for lb in m.labels)
                acct.modseq += 1
                acct.messages[m.gm_msgid] = dataclasses.replace(m, labels=labels, modseq=acct.modseq)
        self.version += 1

    def reset_uidvalidity(self, acct: Account, name: str) -> None:
        """Give a folder a new UIDVALIDITY and renumber its messages from 1."""
        f = acct.folder(name)
        if f is None:
            raise KeyError(name)
        f.uidvalidity = acct.next_uidvalidity
        acct.next_uidvalidity += 1
        msgids = list(f.uids.values())
        f.uids.clear()
        f.by_msgid.clear()
        f.uidnext = 1
        f.removals += 1
        for msgid in msgids:
            self._enter(f, msgid)
        self.version += 1

    # -- messages -------------------------------------------------------------------------------------
    def create(self, acct: Account, data: bytes, labels: frozenset[str], flags: frozenset[str],
               internaldate: datetime | None, thread_id: int | None, trashed: bool, spam: bool,
               arrival: datetime | None = None) -> EmuMessage:
        """Store a new message (no de-duplication) and put it into its folders.  X-GM-MSGID comes, as
        Gmail's do, from the arrival time (``arrival``, else INTERNALDATE): milliseconds << 20 + a counter."""
        now = datetime.now(UTC).replace(microsecond=0)
        when = internaldate or now
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        self.created += 1
        stamp = int((arrival or when).timestamp() * 1000)
        msgid = (stamp << 20 | (self.created & 0xFFFFF)) + self.config.msgid_offset
        while msgid in acct.messages:
            msgid += 1
        mid = headers.message_id(data)
        thrid = thread_id if thread_id is not None else self._thread_for(acct, data) or msgid
        labels = frozenset(self.user_label(acct, lb) for lb in labels)
        acct.modseq += 1
        m = EmuMessage(msgid, thrid, labels, frozenset(flags) - {"\\Recent"}, when, data, trashed, spam, mid,
                       acct.modseq)
        m = self._mirror_star(m, None)
        acct.messages[msgid] = m
        if mid is not None:
            acct.by_message_id.setdefault(mid, []).append(msgid)
        for lb in m.labels:
            self._ensure_label_folder(acct, lb)
        self._refresh(acct, m)
        self.version += 1
        return m

    def _thread_for(self, acct: Account, data: bytes) -> int | None:
        if not self.config.thread_by_references:
            return None
        for ref in reversed(headers.referenced_ids(data)):
            for msgid in acct.by_message_id.get(ref, ()):
                return acct.messages[msgid].gm_thrid
        return None

    def update(self, acct: Account, msgid: int, *, labels: frozenset[str] | None = None,
               flags: frozenset[str] | None = None, trashed: bool | None = None,
               spam: bool | None = None) -> EmuMessage:
        """Change a message by X-GM-MSGID (KeyError if unknown); bumps MODSEQ when anything changed."""
        m = acct.messages[msgid]
        return self._update(acct, m, labels=labels, flags=flags, trashed=trashed, spam=spam)

    def _update(self, acct: Account, m: EmuMessage, *, labels: frozenset[str] | None = None,
                flags: frozenset[str] | None = None, trashed: bool | None = None,
                spam: bool | None = None) -> EmuMessage:
        new = m
        if labels is not None:
            labels = frozenset(self.user_label(acct, lb) for lb in labels)
            if "\\Trash" in labels:
                trashed = True
            if "\\Spam" in labels:
                spam = True
            new = dataclasses.replace(new, labels=labels - {"\\Trash", "\\Spam"})
        if flags is not None:
            new = dataclasses.replace(new, flags=flags - {"\\Recent"})
        if trashed is not None:
            new = dataclasses.replace(new, trashed=trashed)
            if trashed and not self.config.trash_keeps_labels:
                new = dataclasses.replace(new, labels=frozenset())
        if spam is not None:
            new = dataclasses.replace(new, spam=spam)
        new = self._mirror_star(new, m)
        if new == m:
            return m
        acct.modseq += 1
        new = dataclasses.replace(new, modseq=acct.modseq)
        acct.messages[m.gm_msgid] = new
        for lb in new.labels - m.labels:
            self._ensure_label_folder(acct, lb)
        self._refresh(acct, new)
        self.version += 1
        return new

    @staticmethod
    def _mirror_star(new: EmuMessage, old: EmuMessage | None) -> EmuMessage:
        """Keep the ``\\Starred`` label and the ``\\Flagged`` flag in step (Gmail: flag = star)."""
        flag_changed = old is None or ("\\Flagged" in new.flags) != ("\\Flagged" in old.flags)
        if flag_changed and old is not None:
            star = "\\Flagged" in new.flags
        else:
            star = "\\Starred" in new.labels or (old is None and "\\Flagged" in new.flags)
        labels = new.labels | {"\\Starred"} if star else new.labels - {"\\Starred"}
        flags = new.flags | {"\\Flagged"} if star else new.flags - {"\\Flagged"}
        return dataclasses.replace(new, labels=labels, flags=flags)

    def delete_forever(self, acct: Account, msgid: int) -> None:
        m = acct.messages.pop(msgid)
        if m.message_id is not None:
            ids = acct.by_message_id.get(m.message_id, [])
            if msgid in ids:
                ids.remove(msgid)
            if not ids:
                acct.by_message_id.pop(m.message_id, None)
        for f in acct.folders.values():
            self._leave(f, msgid)
        acct.modseq += 1
        self.version += 1

    def _refresh(self, acct: Account, m: EmuMessage) -> None:
        for f in acct.folders.values():
            inside = m.gm_msgid in f.by_msgid
            if f.contains(m) != inside:
                if inside:
                    self._leave(f, m.gm_msgid)
                else:
                    self._enter(f, m.gm_msgid)

    @staticmethod
    def _enter(f: Folder, msgid: int) -> None:
        f.uids[f.uidnext] = msgid
        f.by_msgid[msgid] = f.uidnext
        f.uidnext += 1

    @staticmethod
    def _leave(f: Folder, msgid: int) -> None:
        uid = f.by_msgid.pop(msgid, None)
        if uid is not None:
            del f.uids[uid]
            f.removals += 1
