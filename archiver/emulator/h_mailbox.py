"""Folder commands: LIST/LSUB/XLIST (special-use everywhere), SELECT/EXAMINE, STATUS, CREATE, DELETE, RENAME,
SUBSCRIBE, UNSELECT (gmail-imap.md 3)."""

from __future__ import annotations

import re
from collections.abc import Callable

from archiver.emulator import utf7
from archiver.emulator.config import ROLE_ATTRIBUTE, XLIST_ATTRIBUTE
from archiver.emulator.session import AUTHED, SELECTED, Bad, No, Session, command
from archiver.emulator.store import Folder, StoreError
from archiver.emulator.wire import Atom, ParseError, Value, quote, text

SEEN = "\\Seen"
FLAGS = "\\Answered \\Flagged \\Draft \\Deleted \\Seen $NotPhishing $Phishing"


def decode_name(s: Session, v: Value) -> str:
    """A mailbox argument as the folder's Unicode name (mUTF-7 unless UTF8=ACCEPT was enabled)."""
    name = text(v)
    if name.upper() == "INBOX":
        return "INBOX"
    if s.utf8:
        return name
    if not name.isascii():
        raise No("NONEXISTENT", f"Unknown Mailbox: {name}")
    try:
        return utf7.decode(name)
    except ValueError:
        raise No("NONEXISTENT", f"Unknown Mailbox: {name}") from None


def encode_name(s: Session, name: str) -> str:
    return name if s.utf8 else utf7.encode(name)


def visible(s: Session, name: str) -> Folder:
    """The selectable, visible folder ``name`` or NO [NONEXISTENT] (as for ``[Gmail]`` itself)."""
    assert s.acct is not None
    f = s.acct.folder(name)
    if f is None or (f.role in s.config.hidden_roles):
        suffix = " (now in authenticated state)" if s.state == "selected" or name == s.config.system_prefix \
            else ""
        raise No("NONEXISTENT", f"Unknown Mailbox: {name}{suffix}")
    return f


def _entries(s: Session) -> list[tuple[str, list[str], Folder | None]]:
    """(name, attributes, folder) of every listed mailbox, in Gmail's order."""
    assert s.acct is not None
    folders = [f for f in s.acct.folders.values() if f.role not in s.config.hidden_roles]
    names = {f.name for f in folders}
    prefix = s.config.system_prefix
    extra: dict[str, None] = {prefix: None}
    for n in sorted(names):
        parts = n.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in names:
                extra[parent] = None
    all_names = names | set(extra)

    def children(n: str) -> str:
        return "\\HasChildren" if any(o.startswith(n + "/") for o in all_names) else "\\HasNoChildren"

    out: list[tuple[str, list[str], Folder | None]] = []
    inbox = s.acct.folder("INBOX")
    if inbox is not None:
        out.append(("INBOX", [children("INBOX")], inbox))
    out.append((prefix, [children(prefix), "\\Noselect"], None))
    specials = sorted((f for f in folders if f.role not in (None, "inbox")), key=lambda f: f.name)
    for f in specials:
        out.append((f.name, [children(f.name), ROLE_ATTRIBUTE[f.role or ""]], f))
    labels = {f.name: f for f in folders if f.role is None}
    for n in sorted(set(labels) | (set(extra) - {prefix})):
        lf = labels.get(n)
        attrs = [children(n)] + ([] if lf else ["\\Noselect"])
        out.append((n, attrs, lf))
    return out


def _pattern(ref: str, pat: str) -> re.Pattern[str]:
    rx = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in ref + pat)
    return re.compile(rx + r"\Z", re.DOTALL)


async def _list(s: Session, tag: str, args: list[Value], kind: str) -> None:
    selection: set[str] = set()
    returns: set[str] = set()
    status_items: list[Value] = []
    if args and isinstance(args[0], list):
        selection = {text(a).upper() for a in args[0] if not isinstance(a, list)}
        args = args[1:]
    if (len(args) >= 4 and isinstance(args[2], Atom) and args[2].upper() == "RETURN"
            and isinstance(args[3], list)):
        opts = args[3]
        for i, o in enumerate(opts):
            if isinstance(o, list):
                continue
            returns.add(text(o).upper())
            if text(o).upper() == "STATUS" and i + 1 < len(opts) and isinstance(opts[i + 1], list):
                nxt = opts[i + 1]
                assert isinstance(nxt, list)
                status_items = nxt
        args = args[:2]
    if len(args) != 2:
        raise Bad(f"{kind} needs reference and mailbox")
    ref = text(args[0])
    pats = [text(p) for p in args[1]] if isinstance(args[1], list) else [text(args[1])]
    if pats == [""]:
        s.line(f'* {kind} (\\Noselect) "/" ""')
        s.ok(tag, "Success")
        return
    matchers = [_pattern(ref, p) for p in pats]
    with s.store.lock:
        for name, attrs, f in _entries(s):
            wire_name = encode_name(s, name)
            if not any(m.match(wire_name) or (name == "INBOX" and m.match("inbox")) for m in matchers):
                continue
            if kind == "XLIST":
                attrs = [a for a in attrs if a not in ROLE_ATTRIBUTE.values()]
                if f is not None and f.role is not None:
                    attrs.append(XLIST_ATTRIBUTE[f.role])
            elif f is not None and f.role == "inbox":
                pass
            if "SPECIAL-USE" in selection and not (f is not None and f.role not in (None, "inbox")):
                continue
            if kind == "LIST" and ("SUBSCRIBED" in returns or "SUBSCRIBED" in selection) and f is not None:
                attrs.append("\\Subscribed")
            attrs.sort(key=str.lower)
            s.send(f"* {kind} ({' '.join(attrs)}) \"/\" ".encode() + quote(wire_name) + b"\r\n")
            if status_items and f is not None:
                _status_line(s, f, wire_name, status_items)
    s.ok(tag, "Success")


@command("LIST", AUTHED)
async def list_(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    await _list(s, tag, args, "LIST")


@command("LSUB", AUTHED)
async def lsub(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    await _list(s, tag, args, "LSUB")


@command("XLIST", AUTHED)
async def xlist(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    await _list(s, tag, args, "XLIST")


async def _select(s: Session, tag: str, args: list[Value], readonly: bool) -> None:
    if not args:
        raise Bad("SELECT needs a mailbox")
    if len(args) > 1 and isinstance(args[1], list):
        params = {text(p).upper() for p in args[1] if not isinstance(p, list)}
        if "QRESYNC" in params:
            raise Bad("QRESYNC not supported")
        if "CONDSTORE" in params:
            s.condstore = True
    name = decode_name(s, args[0])
    with s.store.lock:
        try:
            f = visible(s, name)
        except No:
            s.unselect()
            raise
        assert s.acct is not None
        s.select_view(f, readonly)
        s.line(f"* FLAGS ({FLAGS})")
        s.line(f"* OK [PERMANENTFLAGS ({FLAGS} \\*)] Flags permitted.")
        s.line(f"* OK [UIDVALIDITY {f.uidvalidity}] UIDs valid.")
        s.line(f"* {len(s.view)} EXISTS")
        s.line("* 0 RECENT")
        s.line(f"* OK [UIDNEXT {f.uidnext}] Predicted next UID.")
        s.line(f"* OK [HIGHESTMODSEQ {s.acct.modseq}]")
    mode = "READ-ONLY" if readonly else "READ-WRITE"
    s.ok(tag, f"[{mode}] {encode_name(s, f.name)} selected. (Success)")


@command("SELECT", AUTHED)
async def select(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    await _select(s, tag, args, False)


@command("EXAMINE", AUTHED)
async def examine(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    await _select(s, tag, args, True)


@command("UNSELECT", SELECTED)
async def unselect(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    s.unselect()
    s.ok(tag, "Returned to authenticated state. (Success)")


def _status_line(s: Session, f: Folder, wire_name: str, items: list[Value]) -> None:
    assert s.acct is not None
    values = []
    for it in items:
        key = text(it).upper()
        if key == "MESSAGES":
            values.append(f"MESSAGES {len(f.uids)}")
        elif key == "RECENT":
            values.append("RECENT 0")
        elif key == "UIDNEXT":
            values.append(f"UIDNEXT {f.uidnext}")
        elif key == "UIDVALIDITY":
            values.append(f"UIDVALIDITY {f.uidvalidity}")
        elif key == "UNSEEN":
            msgs = s.acct.messages
            unseen = sum(1 for i in f.uids.values() if SEEN not in msgs[i].flags)
            values.append(f"UNSEEN {unseen}")
        elif key == "HIGHESTMODSEQ":
            values.append(f"HIGHESTMODSEQ {s.acct.modseq}")
        else:
            raise ParseError(f"unknown STATUS item {key}")
    s.send(b"* STATUS " + quote(wire_name) + f" ({' '.join(values)})\r\n".encode())


@command("STATUS", AUTHED)
async def status(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    if len(args) != 2 or not isinstance(args[1], list):
        raise Bad("STATUS needs a mailbox and items")
    name = decode_name(s, args[0])
    with s.store.lock:
        f = visible(s, name) if name != s.config.system_prefix else None
        if f is None:
            raise No("NONEXISTENT", f"Unknown Mailbox: {name}")
        _status_line(s, f, encode_name(s, f.name), args[1])
    s.ok(tag, "Success")


def _label_change(s: Session, change: Callable[..., object], *names: str) -> None:
    """Run one label change of the store under its lock; its refusal becomes the tagged NO Gmail sends."""
    assert s.acct is not None
    with s.store.lock:
        try:
            change(s.acct, *names)
        except StoreError as exc:
            raise No(exc.code, exc.text) from None


@command("CREATE", AUTHED)
async def create(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    if len(args) != 1:
        raise Bad("CREATE needs a mailbox")
    name = decode_name(s, args[0]).rstrip("/") if text(args[0]) else ""
    _label_change(s, s.store.create_label, name)
    s.ok(tag, "Success")


@command("DELETE", AUTHED)
async def delete(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    if len(args) != 1:
        raise Bad("DELETE needs a mailbox")
    name = decode_name(s, args[0])
    _label_change(s, s.store.delete_label, name)
    s.ok(tag, "Success")


@command("RENAME", AUTHED)
async def rename(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    if len(args) != 2:
        raise Bad("RENAME needs two mailboxes")
    old, new = decode_name(s, args[0]), decode_name(s, args[1])
    _label_change(s, s.store.rename_label, old, new)
    s.ok(tag, "Success")


@command("SUBSCRIBE", AUTHED)
async def subscribe(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    s.ok(tag, "Success")


@command("UNSUBSCRIBE", AUTHED)
async def unsubscribe(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    s.ok(tag, "Success")


@command("GETQUOTAROOT", AUTHED)
async def getquotaroot(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    """QUOTA (RFC 2087/9208): one root ``""`` for the whole account; STORAGE usage is the bytes of every
    stored message (Trash and Spam included, until deleted forever) and the limit ``storage_limit``, both
    in KiB."""
    if not args:
        raise Bad("GETQUOTAROOT needs a mailbox")
    name = decode_name(s, args[0])
    assert s.acct is not None
    if s.acct.folder(name) is None:
        raise No("NONEXISTENT", f"Unknown Mailbox: {text(args[0])}")
    s.line(b"* QUOTAROOT " + quote(text(args[0])) + b' ""')
    _quota_line(s)
    s.ok(tag, "Success")


@command("GETQUOTA", AUTHED)
async def getquota(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    if not args:
        raise Bad("GETQUOTA needs a quota root")
    if text(args[0]) != "":
        raise No("NONEXISTENT", "No such quota root")
    _quota_line(s)
    s.ok(tag, "Success")


def _quota_line(s: Session) -> None:
    assert s.acct is not None
    with s.store.lock:
        used = s.acct.storage_used()
    s.line(f'* QUOTA "" (STORAGE {used // 1024} {s.config.storage_limit // 1024})')
