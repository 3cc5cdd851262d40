"""SEARCH / UID SEARCH with ESEARCH returns, the X-GM-* keys and a subset of X-GM-RAW (gmail-imap.md 2.5).

X-GM-RAW understands ``rfc822msgid:``, ``label:``, ``in:`` (inbox, trash, spam, anywhere, sent, drafts,
starred, important), ``is:`` (starred, unread, read, important), ``has:nouserlabels``, ``after:``/``before:``
(YYYY/MM/DD), ``subject:``, ``from:``, ``to:``, ``-`` negation and bare words (text match).  As on Gmail,
results are always limited to the selected folder.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from datetime import datetime

from archiver.emulator import headers, utf7
from archiver.emulator.session import SELECTED, Bad, Session, command
from archiver.emulator.store import EmuMessage
from archiver.emulator.wire import Value, compress_set, in_ranges, parse_search_date, parse_seqset, text

Pred = Callable[[int, int, EmuMessage], bool]
_FLAG_KEYS = {"ANSWERED": "\\Answered", "DELETED": "\\Deleted", "DRAFT": "\\Draft", "FLAGGED": "\\Flagged",
              "SEEN": "\\Seen"}


def _label_norm(name: str) -> str:
    return re.sub(r"[\s/_-]+", "-", name.casefold().lstrip("\\"))


def _raw_query(s: Session, query: str) -> Pred:
    try:
        terms = shlex.split(query)
    except ValueError:
        terms = query.split()
    preds: list[Pred] = []
    for term in terms:
        neg = term.startswith("-") and len(term) > 1
        body = term[1:] if neg else term
        key, sep, val = body.partition(":")
        p = _raw_term(key.lower(), val) if sep else None
        if p is None:
            needle = body.lower().encode("utf-8")

            def p(seq: int, uid: int, m: EmuMessage, needle: bytes = needle) -> bool:
                return needle in m.data.lower()

        preds.append((lambda q: lambda a, b, c: not q(a, b, c))(p) if neg else p)
    return lambda seq, uid, m: all(p(seq, uid, m) for p in preds)


def _raw_term(key: str, val: str) -> Pred | None:
    v = val.lower()
    if key == "rfc822msgid":
        want = val.strip("<>")
        return lambda seq, uid, m: m.message_id is not None and m.message_id.strip("<>") == want
    if key == "label":
        want = _label_norm(val)
        return lambda seq, uid, m: any(_label_norm(lb) == want for lb in m.labels)
    if key == "in":
        state: dict[str, Pred] = {
            "anywhere": lambda seq, uid, m: True,
            "trash": lambda seq, uid, m: m.trashed,
            "spam": lambda seq, uid, m: m.spam,
            "inbox": lambda seq, uid, m: "\\Inbox" in m.labels,
            "sent": lambda seq, uid, m: "\\Sent" in m.labels,
            "drafts": lambda seq, uid, m: "\\Draft" in m.labels,
            "starred": lambda seq, uid, m: "\\Starred" in m.labels,
            "important": lambda seq, uid, m: "\\Important" in m.labels,
        }
        def by_label(seq: int, uid: int, m: EmuMessage) -> bool:
            return any(_label_norm(lb) == _label_norm(val) for lb in m.labels)

        return state.get(v, by_label)
    if key == "is":
        flag = {"starred": "\\Flagged", "read": "\\Seen"}.get(v)
        if flag:
            return lambda seq, uid, m: flag in m.flags
        if v == "unread":
            return lambda seq, uid, m: "\\Seen" not in m.flags
        if v == "important":
            return lambda seq, uid, m: "\\Important" in m.labels
    if key == "has" and v == "nouserlabels":
        return lambda seq, uid, m: not any(not lb.startswith("\\") for lb in m.labels)
    if key in ("after", "before", "older", "newer"):
        day = datetime.strptime(val.replace("-", "/"), "%Y/%m/%d").date()
        if key in ("after", "newer"):
            return lambda seq, uid, m: m.internaldate.date() >= day
        return lambda seq, uid, m: m.internaldate.date() < day
    if key in ("subject", "from", "to", "cc"):
        return lambda seq, uid, m: any(v in x.lower() for x in headers.values(m.data, key))
    return None


class _Parser:
    def __init__(self, s: Session, tokens: list[Value], uid_cmd: bool) -> None:
        self.s = s
        self.toks = tokens
        self.pos = 0
        self.uid_cmd = uid_cmd
        self.uses_modseq = False

    def _next(self) -> Value:
        if self.pos >= len(self.toks):
            raise Bad("Missing search argument")
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def all(self) -> Pred:
        preds = []
        while self.pos < len(self.toks):
            preds.append(self.one())
        return lambda a, b, c: all(p(a, b, c) for p in preds)

    def one(self) -> Pred:
        tok = self._next()
        if isinstance(tok, list):
            sub = _Parser(self.s, tok, self.uid_cmd)
            pred = sub.all()
            self.uses_modseq |= sub.uses_modseq
            return pred
        key = text(tok).upper()
        if key == "ALL":
            return lambda seq, uid, m: True
        if key in _FLAG_KEYS or (key.startswith("UN") and key[2:] in _FLAG_KEYS):
            flag = _FLAG_KEYS[key.removeprefix("UN")]
            want = not key.startswith("UN")
            return lambda seq, uid, m: (flag in m.flags) == want
        if key in ("NEW", "RECENT"):
            return lambda seq, uid, m: False
        if key == "OLD":
            return lambda seq, uid, m: True
        if key in ("KEYWORD", "UNKEYWORD"):
            kw = text(self._next())
            want = key == "KEYWORD"
            return lambda seq, uid, m: (kw in m.flags) == want
        if key == "NOT":
            inner = self.one()
            return lambda seq, uid, m: not inner(seq, uid, m)
        if key == "OR":
            left, right = self.one(), self.one()
            return lambda seq, uid, m: left(seq, uid, m) or right(seq, uid, m)
        if key in ("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"):
            day = parse_search_date(text(self._next())).date()
            op = key.removeprefix("SENT")
            if op == "BEFORE":
                return lambda seq, uid, m: m.internaldate.date() < day
            if op == "ON":
                return lambda seq, uid, m: m.internaldate.date() == day
            return lambda seq, uid, m: m.internaldate.date() >= day
        if key in ("LARGER", "SMALLER"):
            n = int(text(self._next()))
            return (lambda seq, uid, m: len(m.data) > n) if key == "LARGER" else (
                lambda seq, uid, m: len(m.data) < n)
        if key in ("HEADER", "SUBJECT", "FROM", "TO", "CC", "BCC"):
            name = text(self._next()).lower() if key == "HEADER" else key.lower()
            needle = text(self._next()).lower()
            return lambda seq, uid, m: any(needle in v.lower() for v in headers.values(m.data, name))
        if key in ("BODY", "TEXT"):
            raw_needle = text(self._next()).lower().encode("utf-8")
            return lambda seq, uid, m: raw_needle in m.data.lower()
        if key == "UID":
            ranges = parse_seqset(text(self._next()), self.s.view[-1] if self.s.view else 1)
            return lambda seq, uid, m: in_ranges(uid, ranges)
        if key == "X-GM-MSGID":
            n = int(text(self._next()))
            return lambda seq, uid, m: m.gm_msgid == n
        if key == "X-GM-THRID":
            n = int(text(self._next()))
            return lambda seq, uid, m: m.gm_thrid == n
        if key == "X-GM-LABELS":
            raw = text(self._next())
            assert self.s.acct is not None
            label = self.s.store.user_label(self.s.acct, raw if raw.startswith("\\") else utf7.decode(raw))
            return lambda seq, uid, m: label in m.labels
        if key == "X-GM-RAW":
            return _raw_query(self.s, text(self._next()))
        if key == "MODSEQ":
            self.uses_modseq = True
            self.s.condstore = True
            arg = text(self._next())
            if arg.startswith("/") or (self.pos < len(self.toks) and not arg.isdigit()):
                self._next()
                arg = text(self._next())
            n = int(arg)
            return lambda seq, uid, m: m.modseq >= n
        if re.fullmatch(r"[\d:*,]+", key):
            ranges = parse_seqset(key, len(self.s.view) or 1)
            return lambda seq, uid, m: in_ranges(seq, ranges)
        raise Bad(f"Unsupported search key {key}")


@command("SEARCH", SELECTED)
async def search(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    returns: list[str] | None = None
    if len(args) >= 2 and not isinstance(args[0], list) and text(args[0]).upper() == "RETURN":
        ret = args[1]
        returns = [text(o).upper() for o in ret] if isinstance(ret, list) else []
        args = args[2:]
    if len(args) >= 2 and not isinstance(args[0], list) and text(args[0]).upper() == "CHARSET":
        args = args[2:]
    parser = _Parser(s, args, uid)
    pred = parser.all()
    acct, f = s.acct, s.selected
    assert acct is not None and f is not None
    hits: list[int] = []
    top = 0
    with s.store.lock:
        for seq, u in enumerate(s.view, 1):
            msgid = f.uids.get(u)
            if msgid is None:
                continue
            m = acct.messages[msgid]
            if pred(seq, u, m):
                hits.append(u if uid else seq)
                top = max(top, m.modseq)
    if returns is None:
        tail = f" (MODSEQ {top})" if parser.uses_modseq and hits else ""
        s.line("* SEARCH" + "".join(f" {h}" for h in hits) + tail)
    else:
        opts = returns or ["ALL"]
        parts = [f'* ESEARCH (TAG "{tag}")'] + (["UID"] if uid else [])
        if hits:
            if "MIN" in opts:
                parts.append(f"MIN {min(hits)}")
            if "MAX" in opts:
                parts.append(f"MAX {max(hits)}")
        if "COUNT" in opts:
            parts.append(f"COUNT {len(hits)}")
        if "ALL" in opts and hits:
            parts.append(f"ALL {compress_set(hits)}")
        if parser.uses_modseq and hits:
            parts.append(f"MODSEQ {top}")
        s.line(" ".join(parts))
    s.ok(tag, "SEARCH completed (Success)")
