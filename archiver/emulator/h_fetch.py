"""FETCH and STORE: message data, X-GM-* attributes, MODSEQ/CHANGEDSINCE, flag and label changes
(gmail-imap.md 2 and 8).  The body path writes each literal as one slice of the stored bytes, so serving
100 MB is bounded by the socket, not by Python."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from archiver.emulator import headers, rules, utf7
from archiver.emulator.faults import Fault
from archiver.emulator.session import SELECTED, Bad, Closing, No, Session, command
from archiver.emulator.store import EmuMessage, StoreError
from archiver.emulator.wire import Atom, Value, astring, format_internaldate, parse_seqset, quote, text

_SECTION_RE = re.compile(r"^(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK)\[(.*)\](?:<(\d+)(?:\.(\d+))?>)?$",
                         re.I | re.S)
_SIMPLE = {"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "X-GM-MSGID", "X-GM-THRID", "X-GM-LABELS", "MODSEQ",
           "RFC822", "RFC822.HEADER", "RFC822.TEXT"}
_MACROS = {"FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]}
OVERQUOTA = "NO [OVERQUOTA] Account exceeded command or bandwidth limits."
BATCH = 256


@dataclass
class Item:
    """One requested FETCH data item."""

    kind: str
    section: str = ""
    fields: list[str] = field(default_factory=list)
    partial: tuple[int, int | None] | None = None
    peek: bool = True
    name: bytes = b""


def resolve(s: Session, spec: str, uid: bool) -> list[tuple[int, int]]:
    """(sequence number, UID) of the selected folder's messages named by a sequence or UID set."""
    view = s.view
    if not view:
        return []
    f = s.selected
    assert f is not None
    ranges = sorted(parse_seqset(spec, view[-1] if uid else len(view)))
    out: dict[int, int] = {}
    for lo, hi in ranges:
        if uid:
            start, stop = bisect.bisect_left(view, lo), bisect.bisect_right(view, hi)
        else:
            start, stop = lo - 1, min(hi, len(view))
        for i in range(start, stop):
            out[i + 1] = view[i]
    return [(seq, u) for seq, u in sorted(out.items()) if u in f.uids]


def _parse_items(args: Value) -> list[Item]:
    raw = args if isinstance(args, list) else [args]
    names: list[str] = []
    for r in raw:
        t = text(r)
        names.extend(_MACROS.get(t.upper(), [t]))
    items = []
    for t in names:
        up = t.upper()
        if up in _SIMPLE:
            items.append(Item(up, peek=up not in ("RFC822", "RFC822.TEXT"), name=up.encode()))
            continue
        m = _SECTION_RE.match(t)
        if not m:
            raise Bad(f"Unsupported FETCH item {t}")
        section = " ".join(m.group(2).split()).upper()
        fields: list[str] = []
        base = section
        if section.startswith("HEADER.FIELDS"):
            base, _, rest = section.partition(" ")
            fields = rest.strip("()").split()
        partial = (int(m.group(3)), int(m.group(4)) if m.group(4) else None) if m.group(3) else None
        name = f"BODY[{section}]" + (f"<{partial[0]}>" if partial else "")
        items.append(Item("BODY", base, fields, partial, m.group(1).upper().endswith("PEEK"), name.encode()))
    return items


def _section(m: EmuMessage, it: Item) -> bytes:
    if it.kind == "RFC822":
        return m.data
    if it.kind == "RFC822.HEADER":
        return headers.split(m.data)[0]
    if it.kind == "RFC822.TEXT":
        return headers.split(m.data)[1]
    if it.section == "":
        data = m.data
    elif it.section == "HEADER":
        data = headers.split(m.data)[0]
    elif it.section in ("TEXT", "1"):
        data = headers.split(m.data)[1]
    elif it.section in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        data = headers.select_fields(m.data, it.fields, it.section.endswith(".NOT"))
    else:
        data = b""
    if it.partial is not None:
        start, count = it.partial
        data = data[start:] if count is None else data[start:start + count]
    return data


def labels_value(s: Session, m: EmuMessage) -> bytes:
    """``("\\\\Inbox" "\\\\Important" fav)``: system labels quoted, user labels mUTF-7 astrings."""
    labels = set(m.labels)
    if m.trashed:
        labels.add("\\Trash")
    if m.spam:
        labels.add("\\Spam")
    f = s.selected
    if f is not None and s.config.omit_selected_label:
        own = {"trash": "\\Trash", "junk": "\\Spam"}.get(f.role or "", f.label)
        labels.discard(own or "")
    parts = []
    for lb in sorted(labels, key=lambda x: (not x.startswith("\\"), x)):
        if lb.startswith("\\"):
            parts.append(quote(lb) if s.config.quote_system_labels else lb.encode())
        else:
            parts.append(astring(utf7.encode(lb)))
    return b"(" + b" ".join(parts) + b")"


def _flags(m: EmuMessage) -> bytes:
    return b"FLAGS (" + " ".join(sorted(m.flags)).encode() + b")"


def render(s: Session, seq: int, uid: int, m: EmuMessage, items: list[Item], want_uid: bool) -> list[bytes]:
    """The chunks of one ``* n FETCH (...)`` response."""
    out = [b"* %d FETCH (" % seq]
    first = True

    def put(*chunks: bytes) -> None:
        nonlocal first
        if not first:
            out.append(b" ")
        first = False
        out.extend(chunks)

    if want_uid and not any(it.kind == "UID" for it in items):
        put(b"UID %d" % uid)
    for it in items:
        k = it.kind
        if k == "UID":
            put(b"UID %d" % uid)
        elif k == "FLAGS":
            put(_flags(m))
        elif k == "INTERNALDATE":
            put(b'INTERNALDATE "' + format_internaldate(m.internaldate).encode() + b'"')
        elif k == "RFC822.SIZE":
            put(b"RFC822.SIZE %d" % len(m.data))
        elif k == "X-GM-MSGID":
            put(b"X-GM-MSGID %d" % m.gm_msgid)
        elif k == "X-GM-THRID":
            put(b"X-GM-THRID %d" % m.gm_thrid)
        elif k == "X-GM-LABELS":
            put(b"X-GM-LABELS " + labels_value(s, m))
        elif k == "MODSEQ":
            put(b"MODSEQ (%d)" % m.modseq)
        else:
            data = _section(m, it)
            if s.acct is not None:
                s.acct.stats["downloaded"] = s.acct.stats.get("downloaded", 0) + len(data)
                if k == "RFC822" or (it.section == "" and it.partial is None):
                    s.acct.stats["body_bytes_sent"] += len(data)
            put(it.name + b" {%d}\r\n" % len(data), data)
    if s.condstore and not any(it.kind == "MODSEQ" for it in items):
        put(b"MODSEQ (%d)" % m.modseq)
    out.append(b")\r\n")
    return out


@command("FETCH", SELECTED)
async def fetch(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    if len(args) < 2:
        raise Bad("FETCH needs a sequence set and items")
    items = _parse_items(args[1])
    changedsince: int | None = None
    if len(args) > 2 and isinstance(args[2], list):
        mods = [text(x).upper() for x in args[2] if not isinstance(x, list)]
        if "VANISHED" in mods:
            raise Bad("VANISHED needs QRESYNC, which is not supported")
        if "CHANGEDSINCE" in mods and mods.index("CHANGEDSINCE") + 1 < len(mods):
            changedsince = int(mods[mods.index("CHANGEDSINCE") + 1])
            s.condstore = True
    if any(it.kind == "MODSEQ" for it in items):
        s.condstore = True
    acct = s.acct
    assert acct is not None and s.selected is not None
    user = acct.user
    if s.core.faults.take(Fault.OVERQUOTA, user, s.command_name) or (
            acct.stats.get("downloaded", 0) >= s.config.download_budget
            and any(it.kind in ("BODY", "RFC822", "RFC822.TEXT", "RFC822.HEADER") for it in items)):
        s.line(f"{tag} {OVERQUOTA}")
        return
    bye = s.core.faults.armed(Fault.BYE_MID_FETCH, user, s.command_name)
    drop = s.core.faults.armed(Fault.DROP_MID_FETCH, user, s.command_name)
    sets_seen = not s.readonly and any(not it.peek for it in items)
    with s.store.lock:
        targets = resolve(s, text(args[0]), uid)
    for start in range(0, len(targets), BATCH):
        with s.store.lock:
            for seq, u in targets[start:start + BATCH]:
                msgid = s.selected.uids.get(u)
                if msgid is None:
                    continue
                m = acct.messages[msgid]
                if changedsince is not None and m.modseq <= changedsince:
                    continue
                if bye and s.core.faults.tick(Fault.BYE_MID_FETCH, user, s.command_name):
                    s.line("* BYE Session expired, please login again")
                    raise Closing()
                if drop and s.core.faults.tick(Fault.DROP_MID_FETCH, user, s.command_name):
                    raise Closing(abort=True)
                row = items
                if sets_seen and "\\Seen" not in m.flags:
                    m = s.store.update(acct, msgid, flags=m.flags | {"\\Seen"})
                    if not any(it.kind == "FLAGS" for it in items):
                        row = [*items, Item("FLAGS")]
                for chunk in render(s, seq, u, m, row, uid):
                    s.send(chunk)
        await s.maybe_flush()
    s.ok(tag, "Success")


def _store_values(vals: list[Value]) -> list[str]:
    out: list[str] = []
    for v in vals:
        if isinstance(v, list):
            out.extend(_store_values(v))
        else:
            out.append(text(v))
    return out


@command("STORE", SELECTED)
async def store(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    if len(args) < 3:
        raise Bad("STORE needs a sequence set, an item and values")
    unchangedsince: int | None = None
    rest = args[1:]
    if isinstance(rest[0], list):
        mods = [text(x).upper() for x in rest[0] if not isinstance(x, list)]
        if "UNCHANGEDSINCE" in mods:
            unchangedsince = int(mods[mods.index("UNCHANGEDSINCE") + 1])
            s.condstore = True
        rest = rest[1:]
    if not rest or not isinstance(rest[0], Atom):
        raise Bad("STORE needs an item name")
    item = rest[0].upper()
    m_item = re.fullmatch(r"([+-]?)(FLAGS|X-GM-LABELS)(\.SILENT)?", item)
    if not m_item:
        raise Bad(f"Unsupported STORE item {item}")
    if s.readonly:
        raise No("CANNOT", "STORE attempt on READ-ONLY folder")
    op, what, silent = m_item.group(1), m_item.group(2), bool(m_item.group(3))
    values = _store_values(rest[1:])
    acct, f = s.acct, s.selected
    assert acct is not None and f is not None
    modified: list[int] = []
    with s.store.lock:
        if what == "X-GM-LABELS":
            values = [v if v.startswith("\\") else _decode_label(v) for v in values]
        for seq, u in resolve(s, text(args[0]), uid):
            msgid = f.uids.get(u)
            if msgid is None:
                continue
            m = acct.messages[msgid]
            if unchangedsince is not None and m.modseq > unchangedsince:
                modified.append(u if uid else seq)
                continue
            try:
                changed = _apply(s, m, op, what, values)
            except StoreError as exc:
                raise No(exc.code, exc.text) from None
            if changed is None or silent:
                continue
            m = changed
            shown = [Item("X-GM-LABELS") if what == "X-GM-LABELS" else Item("FLAGS")]
            if s.condstore:
                shown.append(Item("MODSEQ"))
            for chunk in render(s, seq, u, m, shown, uid):
                s.send(chunk)
        s.sync(expunges=uid, exists=False)
    if modified:
        s.ok(tag, f"[MODIFIED {','.join(map(str, modified))}] Conditional STORE failed (Success)")
    else:
        s.ok(tag, "STORE (Success)")


def _decode_label(v: str) -> str:
    try:
        return utf7.decode(v)
    except ValueError:
        return v


def _apply(s: Session, m: EmuMessage, op: str, what: str, values: list[str]) -> EmuMessage | None:
    """Change one message; None when it left the selected folder (auto-expunge)."""
    acct, f = s.acct, s.selected
    assert acct is not None and f is not None
    if what == "FLAGS":
        new = set(values) - {"\\Recent"}
        flags = m.flags | new if op == "+" else m.flags - new if op == "-" else frozenset(new)
        flags = frozenset(flags)
        if "\\Deleted" in flags and s.config.auto_expunge:
            s.store.update(acct, m.gm_msgid, flags=flags - {"\\Deleted"})
            rules.expunge_from(s.store, acct, f, m.gm_msgid)
            after = acct.messages.get(m.gm_msgid)
            return after if after is not None and m.gm_msgid in f.by_msgid else None
        return s.store.update(acct, m.gm_msgid, flags=flags)
    canon = {s.store.user_label(acct, v) for v in values}
    current = set(m.labels) | ({"\\Trash"} if m.trashed else set()) | ({"\\Spam"} if m.spam else set())
    labels = current | canon if op == "+" else current - canon if op == "-" else canon
    new_m = s.store.update(acct, m.gm_msgid, labels=frozenset(labels),
                           trashed="\\Trash" in labels, spam="\\Spam" in labels)
    return new_m
