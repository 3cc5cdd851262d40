"""Commands that add or remove folder membership: APPEND (de-duplication, APPENDUID, NUL refusal), COPY, MOVE,
EXPUNGE, UID EXPUNGE, CLOSE (gmail-imap.md 3.4 and 4)."""

from __future__ import annotations

from archiver.emulator import rules
from archiver.emulator.faults import Fault
from archiver.emulator.h_fetch import OVERQUOTA, resolve
from archiver.emulator.h_mailbox import decode_name, visible
from archiver.emulator.session import AUTHED, SELECTED, Bad, Closing, No, Session, command
from archiver.emulator.store import Folder
from archiver.emulator.wire import Value, compress_set, parse_internaldate, text


def _target(s: Session, v: Value) -> Folder:
    """The destination of APPEND/COPY/MOVE; a missing one gets ``NO [TRYCREATE]``."""
    name = decode_name(s, v)
    assert s.acct is not None
    if s.acct.folder(name) is None and name != s.config.system_prefix:
        raise No("TRYCREATE", "Folder doesn't exist.")
    return visible(s, name)


@command("APPEND", AUTHED)
async def append(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    if len(args) < 2 or not isinstance(args[-1], bytes):
        raise Bad("APPEND needs a mailbox and a message literal")
    data = args[-1]
    flags: frozenset[str] = frozenset()
    date = None
    for extra in args[1:-1]:
        if isinstance(extra, list):
            flags = frozenset(text(x) for x in extra)
        else:
            date = parse_internaldate(text(extra))
    if b"\0" in data:
        s.line(f"{tag} BAD Invalid character in literal")
        raise Closing()
    acct = s.acct
    assert acct is not None
    user = acct.user
    if acct.stats.get("uploaded", 0) >= s.config.upload_budget:
        s.line(f"{tag} {OVERQUOTA}")
        return
    with s.store.lock:
        f = _target(s, args[0])
        over = acct.storage_used() + len(data) > s.config.storage_limit
    if over:
        s.line(f"{tag} NO [OVERQUOTA] Quota exceeded (storage)")
        return
    if s.core.faults.take(Fault.BYE_ON_APPEND, user, "APPEND"):
        s.line("* BYE Session expired, please login again")
        raise Closing()
    with s.store.lock:
        acct.stats["appends"] += 1
        acct.stats["uploaded"] = acct.stats.get("uploaded", 0) + len(data)
        m, merged = rules.append(s.store, acct, f, data, flags, date)
        new_uid = f.by_msgid.get(m.gm_msgid)
        sel = s.selected
        if merged and sel is not None and m.gm_msgid in sel.by_msgid:
            # D3: Gmail told the selected folder about the surviving message in an unsolicited FETCH
            old_uid = sel.by_msgid[m.gm_msgid]
            if old_uid in s.view:
                seq = s.view.index(old_uid) + 1
                flag_list = " ".join(sorted(m.flags))
                s.line(f"* {seq} FETCH (UID {old_uid} MODSEQ ({m.modseq}) FLAGS ({flag_list}))")
        if "\\Deleted" in flags and s.config.auto_expunge:
            rules.expunge_from(s.store, acct, f, m.gm_msgid)
        s.sync(expunges=True, exists=not s.config.noop_shows_new)
    if new_uid is None or s.core.faults.take(Fault.NO_APPENDUID, user, "APPEND"):
        s.ok(tag, "(Success)")
    else:
        s.ok(tag, f"[APPENDUID {f.uidvalidity} {new_uid}] (Success)")


async def _copy(s: Session, tag: str, args: list[Value], uid: bool, move: bool) -> None:
    if len(args) != 2:
        raise Bad("COPY/MOVE needs a sequence set and a mailbox")
    acct, src = s.acct, s.selected
    assert acct is not None and src is not None
    if move and s.readonly:
        raise No("CANNOT", "MOVE attempt on READ-ONLY folder")
    pairs: list[tuple[int, int]] = []
    with s.store.lock:
        dst = _target(s, args[1])
        for _seq, u in resolve(s, text(args[0]), uid):
            msgid = src.uids.get(u)
            if msgid is None:
                continue
            rules.add_to_folder(s.store, acct, dst, msgid)
            new_uid = dst.by_msgid.get(msgid)
            if move and dst is not src and dst.role not in ("trash", "junk") and msgid in src.by_msgid:
                label = src.label
                m = acct.messages[msgid]
                if label is not None:
                    s.store.update(acct, msgid, labels=m.labels - {label})
            if new_uid is not None:
                pairs.append((u, new_uid))
        code = ""
        if pairs:
            code = (f"[COPYUID {dst.uidvalidity} {compress_set([p[0] for p in pairs])} "
                    f"{','.join(str(p[1]) for p in pairs)}] ")
        if move:
            if code:
                s.line(f"* OK {code}(Success)")
            s.sync(expunges=True, exists=not s.config.noop_shows_new)
    s.ok(tag, "(Success)" if move else f"{code}(Success)")


@command("COPY", SELECTED)
async def copy(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    await _copy(s, tag, args, uid, move=False)


@command("MOVE", SELECTED)
async def move(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    await _copy(s, tag, args, uid, move=True)


def _expunge(s: Session, only: set[int] | None) -> None:
    acct, f = s.acct, s.selected
    assert acct is not None and f is not None
    for u in list(s.view):
        msgid = f.uids.get(u)
        if msgid is None or (only is not None and u not in only):
            continue
        m = acct.messages[msgid]
        if "\\Deleted" in m.flags:
            rules.expunge_from(s.store, acct, f, msgid)


@command("EXPUNGE", SELECTED)
async def expunge(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    if s.readonly:
        raise No("CANNOT", "EXPUNGE attempt on READ-ONLY folder")
    with s.store.lock:
        only = {u for _, u in resolve(s, text(args[0]), True)} if uid and args else None
        _expunge(s, only)
        s.sync(expunges=True, exists=False)
    s.ok(tag, "Success")


@command("CLOSE", SELECTED)
async def close(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    if not s.readonly:
        with s.store.lock:
            _expunge(s, None)
    s.unselect()
    s.ok(tag, "Returned to authenticated state. (Success)")
