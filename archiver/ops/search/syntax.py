"""Gmail's search syntax, parsed into a small tree.

Free words and ``"phrases"``; implicit AND; ``OR`` (upper case) and ``{a b}`` (any of); ``-`` negation;
parentheses; operators ``from: to: cc: bcc: subject: label: in: is: has: filename: after: before:
older_than: newer_than: larger: smaller: rfc822msgid: thread:``.  A text operator may take a group, as in
Gmail: ``subject:(dinner movie)`` is ``subject:dinner subject:movie``.  ``thread:`` takes a thread id or a
group: ``thread:(from:alice)`` is every message of the threads that have a message from alice.  A word with
a colon whose operator is unknown is searched as text, as Gmail does.
"""

from __future__ import annotations

from dataclasses import dataclass

from archiver.errors import UsageError

TEXT_FIELDS = ("from", "to", "cc", "bcc", "subject", "filename")
"""Operators answered by the full-text index (one index column each)."""
META_OPERATORS = ("label", "in", "is", "has", "after", "before", "older_than", "newer_than", "larger",
                  "smaller", "rfc822msgid")
"""Operators answered from a snapshot's records (labels, flags, dates, sizes) or the index's facts."""
OPERATORS = (*TEXT_FIELDS, *META_OPERATORS, "thread")


@dataclass(frozen=True, slots=True)
class Text:
    """Words (``phrase=False``: each word somewhere in the field) or a phrase, in ``field`` or anywhere."""

    field: str | None
    text: str
    phrase: bool = False


@dataclass(frozen=True, slots=True)
class Meta:
    """A metadata operator and its value (``is:starred``, ``after:2024/01/31``...)."""

    op: str
    value: str


@dataclass(frozen=True, slots=True)
class Thread:
    """Every message of the threads ``inner`` matches, or of the thread with id ``thread_id``."""

    inner: Node | None
    thread_id: str | None = None


@dataclass(frozen=True, slots=True)
class Not:
    inner: Node


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Everything:
    """The empty query: every message (still without Trash and Spam, as in Gmail)."""


Node = Text | Meta | Thread | Not | And | Or | Everything

_SPECIAL = "(){}\""


def _tokens(query: str) -> list[str]:
    """Split into words, quoted phrases (kept with their quotes), brackets and operator prefixes."""
    out: list[str] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c in "(){}":
            out.append(c)
            i += 1
        elif c == '"':
            j = query.find('"', i + 1)
            j = n if j < 0 else j
            out.append(query[i:j + 1] if j < n else query[i:] + '"')
            i = j + 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in _SPECIAL:
                j += 1
            # a word stops at a quote or bracket, so "from:" before a phrase or group is its own token
            out.append(query[i:j])
            i = j
    return out


class _Parser:
    def __init__(self, query: str) -> None:
        self.toks = _tokens(query)
        self.pos = 0

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> str:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def parse(self) -> Node:
        if not self.toks:
            return Everything()
        node = self.or_expr(None)
        if self.peek() is not None:
            raise UsageError(f"search query: unexpected {self.peek()!r}",
                             hint="check the brackets: ( ) group, { } means any of")
        return node

    def or_expr(self, field: str | None) -> Node:
        parts = [self.and_expr(field)]
        while self.peek() in ("OR", "|"):
            self.take()
            parts.append(self.and_expr(field))
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self, field: str | None) -> Node:
        parts: list[Node] = []
        while (tok := self.peek()) is not None and tok not in (")", "}", "OR", "|"):
            parts.append(self.unary(field))
        if not parts:
            raise UsageError("search query: an empty group or a dangling OR",
                             hint='e.g. gmail-archiver search ARCHIVE "from:alice OR from:bob"')
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self, field: str | None) -> Node:
        tok = self.peek()
        if tok is not None and tok.startswith("-") and len(tok) > 1:
            self.toks[self.pos] = tok[1:]
            return Not(self.unary(field))
        if tok == "-":
            self.take()
            return Not(self.unary(field))
        return self.atom(field)

    def group(self, field: str | None, close: str) -> Node:
        self.take()
        node = self.or_expr(field) if close == ")" else self.any_of(field)
        if self.peek() != close:
            raise UsageError(f"search query: missing {close!r}")
        self.take()
        return node

    def any_of(self, field: str | None) -> Node:
        parts: list[Node] = []
        while (tok := self.peek()) is not None and tok != "}":
            parts.append(self.unary(field))
        if not parts:
            raise UsageError("search query: an empty { } group")
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def atom(self, field: str | None) -> Node:
        tok = self.peek()
        assert tok is not None
        if tok == "(":
            return self.group(field, ")")
        if tok == "{":
            return self.group(field, "}")
        if tok in (")", "}"):
            raise UsageError(f"search query: unexpected {tok!r}")
        self.take()
        if tok.startswith('"'):
            return Text(field, tok[1:-1], phrase=True)
        op, sep, value = tok.partition(":")
        op = op.lower()
        if sep and op in OPERATORS and field is None:
            return self.operator(op, value)
        return Text(field, tok)

    def operator(self, op: str, value: str) -> Node:
        if not value:
            nxt = self.peek()
            if nxt == "(":
                if op == "thread":
                    return Thread(self.group(None, ")"))
                if op in TEXT_FIELDS:
                    return self.group(op, ")")
                inner = self.group(None, ")")
                return _meta_group(op, inner)
            if nxt is not None and nxt.startswith('"'):
                self.take()
                value = nxt[1:-1]
                if op in TEXT_FIELDS:
                    return Text(op, value, phrase=True)
            else:
                raise UsageError(f"search query: {op}: needs a value", hint=f"e.g. {op}:{_EXAMPLES[op]}")
        if op in TEXT_FIELDS:
            return Text(op, value)
        if op == "thread":
            return Thread(None, value)
        return Meta(op, value)


def _meta_group(op: str, inner: Node) -> Node:
    """``label:(a b)`` -> ``label:a label:b`` (and OR / negation kept)."""
    if isinstance(inner, Text):
        return Meta(op, inner.text)
    if isinstance(inner, And):
        return And(tuple(_meta_group(op, p) for p in inner.parts))
    if isinstance(inner, Or):
        return Or(tuple(_meta_group(op, p) for p in inner.parts))
    if isinstance(inner, Not):
        return Not(_meta_group(op, inner.inner))
    raise UsageError(f"search query: {op}:( ) takes plain values")


_EXAMPLES = {"from": "alice", "to": "bob@example.com", "cc": "carol", "bcc": "dave", "subject": "invoice",
             "filename": "pdf", "label": "work", "in": "inbox", "is": "unread", "has": "attachment",
             "after": "2024/01/31", "before": "2024/12/31", "older_than": "1y", "newer_than": "7d",
             "larger": "5M", "smaller": "100K", "rfc822msgid": "<id@example.com>", "thread": "(from:alice)"}


def parse(query: str) -> Node:
    """The tree of a Gmail-syntax query (UsageError, exit 2, on a malformed one)."""
    return _Parser(query).parse()


def mentions_trash_or_spam(node: Node) -> bool:
    """Whether the query asks for Trash or Spam itself (else Gmail leaves them out of the results)."""
    if isinstance(node, Meta):
        v = node.value.lower()
        return (node.op == "in" and v in ("trash", "spam", "anywhere", "bin", "junk")) or (
            node.op == "label" and v in ("trash", "spam", "bin", "junk"))
    if isinstance(node, Not):
        return mentions_trash_or_spam(node.inner)
    if isinstance(node, And | Or):
        return any(mentions_trash_or_spam(p) for p in node.parts)
    if isinstance(node, Thread) and node.inner is not None:
        return mentions_trash_or_spam(node.inner)
    return False
