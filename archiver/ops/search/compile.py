"""A query tree as one SQL condition over the records the index keeps of a snapshot (table ``recs``), so a
query reads no manifest and evaluates nothing per message in Python.

Text operators become FTS5 ``MATCH`` subqueries; label operators the ids of the label sets that satisfy them
(decided in Python once per distinct label set, with the rules of ``terms``); flags are bits; dates and sizes
comparisons; ``thread:(Q)`` a subquery over the same snapshot.  The meaning is exactly that of the
record-by-record matcher in ``operation.py`` (tests compare the two).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from archiver.ops.search.index import FIELD_COLUMN, FLAG_BITS, fts_phrase, fts_words
from archiver.ops.search.syntax import And, Everything, Meta, Node, Not, Or, Text, Thread
from archiver.ops.search.terms import (
    FOLDED,
    HIDDEN,
    age_cutoff,
    bare_id,
    has_any,
    label_query_matches,
    parse_date,
    parse_size,
)

SEEN, FLAGGED, ANSWERED, DRAFT = (FLAG_BITS[f] for f in ("\\Seen", "\\Flagged", "\\Answered", "\\Draft"))
STARRED = "\\Starred"
Sql = tuple[str, list[object]]


class Compiler:
    """Compiles trees for one snapshot row ``snap`` given the index's label sets."""

    def __init__(self, labelsets: list[tuple[int, tuple[str, ...]]], snap: int, now: dt.datetime) -> None:
        self.labelsets = labelsets
        self.snap = snap
        self.now = now

    def _sets(self, alias: str, test: Callable[[tuple[str, ...]], bool]) -> str:
        ids = [str(i) for i, labels in self.labelsets if test(labels)]
        return f"{alias}.labelset IN ({','.join(ids)})" if ids else "0"

    def visible(self, alias: str, all_folders: bool) -> str:
        """Gmail's default: no Trash or Spam unless the query names them (``all_folders``)."""
        return "1" if all_folders else f"NOT ({self._sets(alias, lambda ls: has_any(ls, HIDDEN))})"

    def where(self, node: Node, alias: str, all_folders: bool) -> Sql:
        if isinstance(node, Everything):
            return "1", []
        if isinstance(node, Text):
            if not node.text.strip():
                return "0", []
            return f"IFNULL({alias}.doc, 0) IN (SELECT rowid FROM fts WHERE fts MATCH ?)", [text_query(node)]
        if isinstance(node, Meta):
            return self.meta(node, alias)
        if isinstance(node, Not):
            sql, params = self.where(node.inner, alias, all_folders)
            return f"NOT ({sql})", params
        if isinstance(node, And | Or) and (joined := self._fts(node)) is not None:
            return f"IFNULL({alias}.doc, 0) IN (SELECT rowid FROM fts WHERE fts MATCH ?)", [joined]
        if isinstance(node, And | Or):
            parts = [self.where(p, alias, all_folders) for p in node.parts]
            glue = " AND " if isinstance(node, And) else " OR "
            return glue.join(f"({s})" for s, _ in parts), [x for _, ps in parts for x in ps]
        if isinstance(node, Thread):
            if node.inner is None:
                return f"{alias}.thread = ?", [node.thread_id or ""]
            inner = alias + "t"
            sql, params = self.where(node.inner, inner, all_folders)
            return (f"{alias}.thread IN (SELECT {inner}.thread FROM recs {inner} WHERE {inner}.snap = ? AND "
                    f"{self.visible(inner, all_folders)} AND ({sql}))", [self.snap, *params])
        raise AssertionError(node)

    def _fts(self, node: Node) -> str | None:
        """One FTS5 query for a subtree of text operators only (``a -b`` -> ``(a) NOT (b)``), so SQLite
        intersects the doclists itself; None when the subtree holds anything else."""
        if isinstance(node, Text):
            if not node.text.strip():
                return None
            return f"({text_query(node)})"
        if isinstance(node, Or):
            parts = [self._fts(p) for p in node.parts]
            return None if None in parts else "(" + " OR ".join(p for p in parts if p) + ")"
        if isinstance(node, And):
            wanted = [self._fts(p) for p in node.parts if not isinstance(p, Not)]
            unwanted = [self._fts(p.inner) for p in node.parts if isinstance(p, Not)]
            if not wanted or None in wanted or None in unwanted:
                return None
            query = "(" + " AND ".join(p for p in wanted if p) + ")"
            for n in unwanted:
                query = f"({query} NOT {n})"
            return query
        return None

    def meta(self, node: Meta, a: str) -> Sql:
        """One metadata operator (its value already checked by the matcher's ``check``)."""
        op, value = node.op, node.value
        v = value.casefold()
        if op == "label":
            return self._sets(a, lambda ls: any(label_query_matches(value, x) for x in ls)), []
        if op == "in":
            return ("1", []) if v == "anywhere" else (self._sets(a, lambda ls: has_any(ls, FOLDED[v])), [])
        if op == "is":
            star_label = self._sets(a, lambda ls: STARRED in ls)
            starred = f"(({a}.fbits & {FLAGGED}) != 0 OR {star_label})"
            return {"starred": starred, "flagged": starred, "unstarred": f"NOT {starred}",
                    "unread": f"({a}.fbits & {SEEN}) = 0", "read": f"({a}.fbits & {SEEN}) != 0",
                    "important": self._sets(a, lambda ls: "\\Important" in ls),
                    "answered": f"({a}.fbits & {ANSWERED}) != 0",
                    "draft": f"(({a}.fbits & {DRAFT}) != 0 OR "
                             f"{self._sets(a, lambda ls: has_any(ls, FOLDED['drafts']))})"}[v], []
        if op == "has":
            if v == "attachment":
                return f"IFNULL({a}.doc, 0) IN (SELECT id FROM docs WHERE has_attachment = 1)", []

            def user(ls: tuple[str, ...]) -> bool:
                return any(not x.startswith("\\") and x.upper() != "INBOX" for x in ls)

            return self._sets(a, user if v == "userlabels" else lambda ls: not user(ls)), []
        if op in ("after", "before"):
            return f"{a}.date {'>=' if op == 'after' else '<'} ?", [parse_date(value)]
        if op in ("older_than", "newer_than"):
            return f"{a}.date {'<' if op == 'older_than' else '>='} ?", [age_cutoff(value, self.now)]
        if op in ("larger", "smaller"):
            return f"{a}.size {'>' if op == 'larger' else '<'} ?", [parse_size(value)]
        if op == "rfc822msgid":
            return f"{a}.mid = ?", [bare_id(value) or ""]
        raise AssertionError(op)


def text_query(node: Text) -> str:
    """The FTS5 query of one text operator: a phrase, or every word, in its column or anywhere."""
    column = FIELD_COLUMN[node.field] if node.field else None
    return fts_phrase(node.text, column) if node.phrase else fts_words(node.text, column)
