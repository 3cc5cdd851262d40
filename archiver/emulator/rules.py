"""Gmail's folder rules on top of the store: what COPY/MOVE/APPEND into a folder and EXPUNGE out of one do
(gmail-imap.md 3.4 and 4.4).  Callers hold ``Store.lock``."""

from __future__ import annotations

from datetime import UTC, datetime

from archiver.emulator import headers
from archiver.emulator.store import Account, EmuMessage, Folder, Store


def add_to_folder(store: Store, acct: Account, f: Folder, msgid: int) -> EmuMessage:
    """COPY/MOVE/APPEND into ``f``: apply its label, or trash / report spam / un-trash (All Mail)."""
    m = acct.messages[msgid]
    if f.role == "trash":
        return store.update(acct, m.gm_msgid, trashed=True)
    if f.role == "junk":
        return store.update(acct, m.gm_msgid, spam=True, trashed=False)
    label = f.label
    labels = m.labels | {label} if label else None
    return store.update(acct, m.gm_msgid, labels=labels, trashed=False, spam=False)


def expunge_from(store: Store, acct: Account, f: Folder, msgid: int) -> None:
    """A message expunged from ``f`` (gmail-imap.md 3.4): label folder -> label removed; Trash/Spam ->
    deleted forever; All Mail (or the last visible folder when All Mail is hidden) -> expungeBehavior."""
    m = acct.messages.get(msgid)
    if m is None:
        return
    if f.role in ("trash", "junk"):
        store.delete_forever(acct, msgid)
        return
    if f.role == "all":
        _last_folder_expunge(store, acct, m)
        return
    label = f.label
    m = store.update(acct, m.gm_msgid, labels=m.labels - {label} if label else None,
                     flags=m.flags - {"\\Deleted"})
    if "all" in store.config.hidden_roles and not any(
            g.contains(m) for g in acct.folders.values() if g.role not in store.config.hidden_roles):
        _last_folder_expunge(store, acct, m)


def _last_folder_expunge(store: Store, acct: Account, m: EmuMessage) -> None:
    behavior = store.config.expunge_behavior
    if behavior == "delete_forever":
        store.delete_forever(acct, m.gm_msgid)
    elif behavior == "trash":
        store.update(acct, m.gm_msgid, trashed=True, flags=m.flags - {"\\Deleted"})
    else:
        store.update(acct, m.gm_msgid, labels=m.labels - {"\\Inbox"}, flags=m.flags - {"\\Deleted"})


def append(store: Store, acct: Account, f: Folder, data: bytes, flags: frozenset[str],
           date: datetime | None) -> tuple[EmuMessage, bool]:
    """APPEND with Gmail's silent de-duplication by Message-ID; returns (message, merged)."""
    mid = headers.message_id(data)
    policy = store.config.dedup
    if mid is not None and policy != "keep_both":
        found = [acct.messages[i] for i in acct.by_message_id.get(mid, ())
                 if store.config.dedup_in_spam or not acct.messages[i].spam]
        if policy == "replace_same_folder":
            for old in [m for m in found if m.gm_msgid in f.by_msgid]:
                store.delete_forever(acct, old.gm_msgid)
                found.remove(old)
        if found:
            existing = min(found, key=lambda m: m.gm_msgid)
            return add_to_folder(store, acct, f, existing.gm_msgid), True
    label = f.label
    m = store.create(acct, data, frozenset({label}) if label else frozenset(), flags, date, None,
                     trashed=f.role == "trash", spam=f.role == "junk", arrival=datetime.now(UTC))
    return m, False
