"""Search an archive with Gmail's operators, at one point in time or across all of them; find one message.

The text operators are answered by the index (``index.py``: one row per blob, the same at every point in
time); labels, flags, dates and sizes come from the snapshot's own records, so searching snapshot 2 sees the
labels of snapshot 2.  As in Gmail, Trash and Spam are left out unless the query asks for them (``in:trash``,
``in:spam``, ``in:anywhere``, ``label:trash``...).  Dates are UTC.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

from archiver.errors import UsageError
from archiver.model import MessageRecord, SnapshotInfo, aware_date
from archiver.ops.search import mime
from archiver.ops.search.compile import Compiler, text_query
from archiver.ops.search.index import SEP, Doc, SearchIndex
from archiver.ops.search.syntax import (
    And,
    Everything,
    Meta,
    Node,
    Not,
    Or,
    Text,
    Thread,
    mentions_trash_or_spam,
    parse,
)
from archiver.ops.search.terms import (
    FOLDED,
    FOLDERS,
    HAS_VALUES,
    HIDDEN,
    IS_VALUES,
    age_cutoff,
    bare_id,
    has_any,
    label_query_matches,
    parse_date,
    parse_size,
)
from archiver.store import Archive


@dataclass(frozen=True, slots=True)
class LabelState:
    """A message's labels at one snapshot; ``labels is None``: absent (deleted) from that snapshot on."""

    snapshot: str
    time: dt.datetime
    labels: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One message found, as of the newest snapshot that matched."""

    key: str
    account: str
    message_id: str | None
    date: dt.datetime
    sender: str
    subject: str
    labels: tuple[str, ...]
    flags: tuple[str, ...]
    thread: str
    size: int
    blob_id: str
    snippet: str = ""
    snapshots: tuple[str, ...] = ()
    """With ``all_snapshots``: every snapshot (id) the message matched in, oldest first."""
    history: tuple[LabelState, ...] = ()
    """With ``all_snapshots``: the message's labels where they changed, and when it disappeared."""


@dataclass
class SearchResult:
    query: str
    searched: tuple[SnapshotInfo, ...]
    messages: list[SearchHit]
    total: int
    """Hits before ``limit``."""
    parsed: int = 0
    """Messages the index parsed for this search (new since the last one)."""
    index_rebuilt: str | None = None
    problems: list[str] = field(default_factory=list)


class _Matcher:
    """Evaluates a query tree over the records of one snapshot."""

    def __init__(self, index: SearchIndex, now: dt.datetime) -> None:
        self.index = index
        self.now = now
        self._text: dict[Text, set[str]] = {}
        self._attached: set[str] | None = None

    def text(self, node: Text) -> set[str]:
        hit = self._text.get(node)
        if hit is None:
            hit = self._text[node] = self.index.match(text_query(node)) if node.text.strip() else set()
        return hit

    def attached(self) -> set[str]:
        if self._attached is None:
            self._attached = self.index.with_attachment()
        return self._attached

    def check(self, node: Node) -> None:
        """Validate every operator value before any work (UsageError names the bad one)."""
        if isinstance(node, Meta):
            self.meta(node, None)
        elif isinstance(node, Not):
            self.check(node.inner)
        elif isinstance(node, And | Or):
            for p in node.parts:
                self.check(p)
        elif isinstance(node, Thread) and node.inner is not None:
            self.check(node.inner)

    def meta(self, node: Meta, rec: MessageRecord | None) -> bool:
        op, value = node.op, node.value
        v = value.casefold()
        if op == "label":
            return rec is not None and any(label_query_matches(value, label) for label in rec.labels)
        if op == "in":
            if v == "anywhere":
                return True
            if v not in FOLDERS:
                raise UsageError(f"search query: in:{value} is not known",
                                 hint="in: takes " + "|".join([*sorted(FOLDERS), "anywhere"]))
            return rec is not None and has_any(rec.labels, FOLDED[v])
        if op == "is":
            if v not in IS_VALUES:
                raise UsageError(f"search query: is:{value} is not known",
                                 hint="is: takes " + "|".join(IS_VALUES))
            if rec is None:
                return False
            flags = set(rec.flags)
            starred = "\\Flagged" in flags or "\\Starred" in rec.labels
            return {"starred": starred, "flagged": starred, "unstarred": not starred,
                    "unread": "\\Seen" not in flags, "read": "\\Seen" in flags,
                    "important": "\\Important" in rec.labels, "answered": "\\Answered" in flags,
                    "draft": "\\Draft" in flags or has_any(rec.labels, FOLDED["drafts"])}[v]
        if op == "has":
            if v not in HAS_VALUES:
                raise UsageError(f"search query: has:{value} is not known",
                                 hint="has: takes " + "|".join(HAS_VALUES))
            if rec is None:
                return False
            if v == "attachment":
                return rec.blob_id in self.attached()
            user = any(not label.startswith("\\") and label.upper() != "INBOX" for label in rec.labels)
            return user if v == "userlabels" else not user
        if op in ("after", "before"):
            t = parse_date(value)
            return rec is not None and (rec.internaldate >= t if op == "after" else rec.internaldate < t)
        if op in ("older_than", "newer_than"):
            t = age_cutoff(value, self.now)
            return rec is not None and (rec.internaldate < t if op == "older_than" else rec.internaldate >= t)
        if op in ("larger", "smaller"):
            n = parse_size(value)
            return rec is not None and (rec.size > n if op == "larger" else rec.size < n)
        if op == "rfc822msgid":
            return rec is not None and bare_id(rec.message_id) == bare_id(value)
        raise UsageError(f"search query: unknown operator {op}:")

    def select(self, node: Node, records: list[MessageRecord]) -> list[MessageRecord]:
        threads: dict[Thread, set[str]] = {}

        def ok(n: Node, rec: MessageRecord) -> bool:
            if isinstance(n, Everything):
                return True
            if isinstance(n, Text):
                return rec.blob_id in self.text(n)
            if isinstance(n, Meta):
                return self.meta(n, rec)
            if isinstance(n, Not):
                return not ok(n.inner, rec)
            if isinstance(n, And):
                return all(ok(p, rec) for p in n.parts)
            if isinstance(n, Or):
                return any(ok(p, rec) for p in n.parts)
            if isinstance(n, Thread):
                ids = threads.get(n)
                if ids is None:
                    if n.inner is None:
                        ids = {n.thread_id or ""}
                    else:
                        inner = n.inner
                        ids = {r.thread_id for r in records if ok(inner, r)}
                    threads[n] = ids
                return rec.thread_id in ids
            raise AssertionError(n)

        return [r for r in records if ok(node, r)]


def _visible(node: Node) -> Callable[[MessageRecord], bool]:
    """Gmail's default: Trash and Spam only when the query names them (decided once per label set)."""
    if mentions_trash_or_spam(node):
        return lambda rec: True
    seen: dict[tuple[str, ...], bool] = {}

    def visible(rec: MessageRecord) -> bool:
        hit = seen.get(rec.labels)
        if hit is None:
            hit = seen[rec.labels] = not has_any(rec.labels, HIDDEN)
        return hit

    return visible


def _targets(archive: Archive, snapshot: str, account: str | None, all_snapshots: bool
             ) -> list[list[SnapshotInfo]]:
    """Per account, the snapshots to search (one, or every complete one oldest first)."""
    accounts = [account] if account else sorted({s.account for s in archive.snapshots()})
    if not accounts:
        raise UsageError(f"{archive.path} holds no snapshot yet", hint="gmail-archiver backup ARCHIVE URL")
    out: list[list[SnapshotInfo]] = []
    errors: list[str] = []
    for acct in accounts:
        if all_snapshots:
            chosen = [s for s in archive.snapshots(acct) if not s.partial]
            if chosen:
                out.append(chosen)
            continue
        try:
            info = archive.resolve(snapshot, acct)
        except UsageError as exc:
            errors.append(str(exc))
            continue
        if not any(info.id == group[0].id for group in out):
            out.append([info])
    if not out:
        raise UsageError(errors[0] if errors else f"no snapshot of {account or 'any account'} to search",
                         hint="gmail-archiver snapshots ARCHIVE lists them")
    return out


def search(archive: Archive | str | os.PathLike[str], query: str, *, snapshot: str = "latest",
           account: str | None = None, all_snapshots: bool = False, limit: int | None = None,
           snippets: bool = True, now: dt.datetime | None = None,
           on_progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Messages matching a Gmail-syntax ``query``, newest first.

    ``snapshot``: ``latest`` (of each account, or of ``account``), an id prefix or a time.  With
    ``all_snapshots``, every complete snapshot is searched and each hit says in which it matched and how its
    labels changed.  The index is brought up to date first (``parsed``: how many new messages that took)."""
    arch = archive if isinstance(archive, Archive) else Archive.open(archive)
    tree = parse(query)
    groups = _targets(arch, snapshot, account, all_snapshots)
    result = SearchResult(query=query, searched=tuple(s for g in groups for s in g), messages=[], total=0)
    with SearchIndex(arch) as index:
        result.index_rebuilt = index.rebuilt
        clock = now or dt.datetime.now(dt.UTC)
        matcher = _Matcher(index, clock)
        matcher.check(tree)
        visible = _visible(tree)
        found: list[SearchHit] = []
        matched: list[_Match] = []
        damaged: dict[str, str] = {}
        for group in groups:
            if not all_snapshots:
                row = _kept(index, arch, group[0], damaged, on_progress, result)
                if row is not None:  # the index holds this snapshot's records: one SQL query answers
                    count, hits = _sql_hits(index, tree, row, group[0].account, clock, limit)
                    result.total += count
                    found.extend(hits)
                    continue
            loaded = [(info, list(arch.load(info.id))) for info in group]
            for info, recs in loaded:
                result.parsed += index.cover(info.id, (r.blob_id for r in recs), damaged, on_progress)
            matched.extend(_matches(matcher, tree, visible, loaded))
        result.problems.extend(f"blob {b[:12]}: {why} (its message is not searched by text)"
                               for b, why in sorted(damaged.items()))
        matched.sort(key=lambda m: (m.record.internaldate, m.record.key), reverse=True)
        result.total += len(matched)
        shown = matched[:limit] if limit is not None else matched
        docs = index.docs({m.record.blob_id for m in shown})
    found.extend(m.hit(docs.get(m.record.blob_id), "", all_snapshots) for m in shown)
    found.sort(key=lambda h: (h.date.timestamp(), h.key), reverse=True)
    result.messages = found[:limit] if limit is not None else found
    if snippets and result.messages:
        wanted = list({h.blob_id for h in result.messages})
        texts = {b: mime.snippet(raw) for b, raw in arch.iter_blobs(wanted, damaged={})}
        result.messages = [replace(h, snippet=texts.get(h.blob_id, "")) for h in result.messages]
    return result


def _kept(index: SearchIndex, arch: Archive, info: SnapshotInfo, damaged: dict[str, str],
          on_progress: Callable[[int, int], None] | None, result: SearchResult) -> int | None:
    """The index's row of this snapshot's records, loading them (and indexing new bodies) the first time;
    None when a body could not be read (then the record-by-record matcher answers, and tries again next
    time)."""
    row = index.snapshot_row(info.id)
    if row is not None:
        return row
    records = list(arch.load(info.id))
    before = len(damaged)
    result.parsed += index.cover(info.id, (r.blob_id for r in records), damaged, on_progress)
    if len(damaged) > before:
        return None
    index.load_records(info.id, records)
    return index.snapshot_row(info.id)


_COLUMNS = ("r.key, r.date, r.tz, r.size, r.flags, l.labels, r.thread, r.message_id, r.blob, d.sender, "
            "d.subject")


def _sql_hits(index: SearchIndex, tree: Node, row: int, account: str, now: dt.datetime,
              limit: int | None) -> tuple[int, list[SearchHit]]:
    """How many messages of the kept snapshot ``row`` match, and the newest ``limit`` of them."""
    compiler = Compiler(index.labelsets(), row, now)
    everywhere = mentions_trash_or_spam(tree)
    cond, params = compiler.where(tree, "r", everywhere)
    where = f"r.snap = ? AND {compiler.visible('r', everywhere)} AND ({cond})"
    count = int(index.query(f"SELECT count(*) FROM recs r WHERE {where}", [row, *params])[0][0])
    rows = index.query(f"SELECT {_COLUMNS} FROM recs r JOIN labelsets l ON l.id = r.labelset "
                       f"LEFT JOIN docs d ON d.id = r.doc WHERE {where} ORDER BY r.date DESC, r.key DESC "
                       "LIMIT ?", [row, *params, -1 if limit is None else limit])
    hits = []
    for key, date, tz, size, flags, labels, thread, message_id, blob, sender, subject in rows:
        hits.append(SearchHit(key=key, account=account, message_id=message_id, date=aware_date(date, tz),
                              sender=sender or "", subject=subject or "",
                              labels=tuple(labels.split(SEP)) if labels else (),
                              flags=tuple(flags.split(SEP)) if flags else (), thread=thread, size=size,
                              blob_id=blob))
    return count, hits


@dataclass(slots=True)
class _Match:
    """A matching message of one account: its newest matching record, where it matched, its history."""

    record: MessageRecord
    account: str
    snapshots: list[str]
    history: list[LabelState]

    def hit(self, doc: Doc | None, snippet: str, all_snapshots: bool) -> SearchHit:
        rec = self.record
        return SearchHit(key=rec.key, account=self.account, message_id=rec.message_id, date=rec.date,
                         sender=doc.sender if doc else "", subject=doc.subject if doc else "",
                         labels=rec.labels, flags=rec.flags, thread=rec.thread_id, size=rec.size,
                         blob_id=rec.blob_id, snippet=snippet,
                         snapshots=tuple(self.snapshots) if all_snapshots else (),
                         history=tuple(self.history) if all_snapshots else ())


def _matches(matcher: _Matcher, tree: Node, visible: Callable[[MessageRecord], bool],
             loaded: list[tuple[SnapshotInfo, list[MessageRecord]]]) -> list[_Match]:
    """The messages of one account's snapshots (oldest first) that match; with several snapshots, each
    with the snapshots it matched in and its labels where they changed (None once it is gone)."""
    account = loaded[0][0].account
    found: dict[str, _Match] = {}
    for info, records in loaded:
        for rec in matcher.select(tree, [r for r in records if visible(r)]):
            prev = found.get(rec.key)
            if prev is None:
                found[rec.key] = _Match(rec, account, [info.id], [])
            else:
                prev.record = rec
                prev.snapshots.append(info.id)
    if len(loaded) > 1:
        for info, records in loaded:
            present = {r.key: r for r in records if r.key in found}
            for key, match in found.items():
                now = present.get(key)
                labels = now.labels if now is not None else None
                states = match.history
                if (not states and labels is not None) or (states and states[-1].labels != labels):
                    states.append(LabelState(info.id, info.time, labels))
    return list(found.values())


@dataclass(frozen=True, slots=True)
class Found:
    """One message looked up by key or Message-ID, with its bytes."""

    record: MessageRecord
    account: str
    snapshot: SnapshotInfo
    raw: bytes


def find_message(archive: Archive | str | os.PathLike[str], ref: str, *, snapshot: str = "latest",
                 account: str | None = None) -> Found:
    """The message with key ``ref`` (``gm:...``, ``h:...``) or Message-ID ``ref`` (with or without
    angle brackets) in the snapshot(s) ``snapshot`` of each account; UsageError if none or several
    different messages match (each is named).  A blob id (64 hex digits, as ``rewrite`` names the original
    of a changed message) is looked up in every snapshot, newest first, whatever ``snapshot`` says."""
    arch = archive if isinstance(archive, Archive) else Archive.open(archive)
    if _BLOB_ID.fullmatch(ref) and arch.has_blob(ref):
        by_blob = _find_blob(arch, ref, account)
        if by_blob is not None:
            return by_blob
    want_id = bare_id(ref)
    matches: list[tuple[MessageRecord, SnapshotInfo]] = []
    for group in _targets(arch, snapshot, account, all_snapshots=False):
        info = group[0]
        snap = arch.load(info.id)
        by_key = snap.get(ref)
        if by_key is not None:
            matches.append((by_key, info))
            continue
        matches.extend((r, info) for r in snap if bare_id(r.message_id) == want_id)
    if not matches:
        raise UsageError(f"no message with key or Message-ID {ref!r}",
                         hint='find it with: gmail-archiver search ARCHIVE "rfc822msgid:..." or ls')
    blobs = {r.blob_id for r, _ in matches}
    if len(blobs) > 1:
        keys = ", ".join(f"{i.account} {r.key}" for r, i in matches[:10])
        raise UsageError(f"{len(matches)} different messages match {ref!r}: {keys}",
                         hint="name one by its key (the first column of ls and search)")
    rec, info = matches[0]
    return Found(rec, info.account, info, arch.get_blob(rec.blob_id))


_BLOB_ID = re.compile(r"[0-9a-f]{64}")


def _find_blob(arch: Archive, blob_id: str, account: str | None) -> Found | None:
    """The record whose body is ``blob_id`` in the newest complete snapshot holding it (else the newest
    checkpoint), or None."""
    infos = sorted(arch.snapshots(account), key=lambda s: (not s.partial, s.time), reverse=True)
    for info in infos:
        for rec in arch.load(info.id):
            if rec.blob_id == blob_id:
                return Found(rec, info.account, info, arch.get_blob(blob_id))
    return None


@dataclass
class ExtractResult:
    key: str
    written: list[tuple[str, int]]
    """(file name in the folder, bytes) of each attachment written."""


def _safe_name(name: str, n: int, taken: set[str]) -> str:
    base = os.path.basename(name.replace("\\", "/")).strip().lstrip(".") or f"attachment-{n}"
    base = "".join(c if c.isprintable() and c not in "/\0" else "_" for c in base)[:200]
    candidate, i = base, 1
    while candidate.casefold() in taken:
        stem, dot, ext = base.rpartition(".")
        candidate = f"{stem}-{i}.{ext}" if dot and stem else f"{base}-{i}"
        i += 1
    taken.add(candidate.casefold())
    return candidate


def extract_attachments(archive: Archive | str | os.PathLike[str], ref: str,
                        folder: str | os.PathLike[str], *, snapshot: str = "latest",
                        account: str | None = None) -> ExtractResult:
    """Write every attachment of one message into ``folder`` (created 0700 if missing), byte-exact.

    Names come from the message, reduced to a plain file name (no path, no leading dot); a name used
    twice gets a suffix.  Existing files and symlinks are never replaced or followed: UsageError."""
    found = find_message(archive, ref, snapshot=snapshot, account=account)
    parts = mime.attachments(found.raw)
    out = os.fspath(folder)
    if os.path.lexists(out) and (os.path.islink(out) or not os.path.isdir(out)):
        raise UsageError(f"{out} exists and is not a folder", hint="name a new or existing folder")
    os.makedirs(out, mode=0o700, exist_ok=True)
    taken: set[str] = set()
    plan = [(_safe_name(a.filename, i + 1, taken), a.data) for i, a in enumerate(parts)]
    clash = [name for name, _ in plan if os.path.lexists(os.path.join(out, name))]
    if clash:
        raise UsageError(f"{len(clash)} file(s) already exist in {out}: {', '.join(clash[:5])}",
                         hint="extract into an empty folder")
    written = []
    for name, data in plan:
        fd = os.open(os.path.join(out, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        written.append((name, len(data)))
    return ExtractResult(found.record.key, written)


@dataclass(frozen=True, slots=True)
class Summary:
    """Sender and subject of one message, as a list shows them."""

    sender: str
    subject: str


def message_summaries(archive: Archive | str | os.PathLike[str], snapshot_id: str,
                      records: Iterable[MessageRecord],
                      on_progress: Callable[[int, int], None] | None = None) -> dict[str, Summary]:
    """Blob id -> sender and subject for ``records`` of snapshot ``snapshot_id``, from the search index
    (brought up to date first: the first call on a big archive parses every message once)."""
    arch = archive if isinstance(archive, Archive) else Archive.open(archive)
    blobs = {r.blob_id for r in records}
    with SearchIndex(arch) as index:
        index.cover(snapshot_id, blobs, {}, on_progress)
        return {b: Summary(d.sender, d.subject) for b, d in index.docs(blobs).items()}


SUMMARY_BATCH = 1000
"""Records looked up in the index at a time by ``with_summaries``."""


def with_summaries(archive: Archive | str | os.PathLike[str], snapshot_id: str,
                   records: Callable[[], Iterable[MessageRecord]],
                   on_progress: Callable[[int, int], None] | None = None,
                   batch: int = SUMMARY_BATCH) -> Iterator[tuple[MessageRecord, Summary]]:
    """Each record ``records()`` yields, in order, with its sender and subject from the search index
    (empty when the index has no row for it): ``message_summaries`` holding one batch of records at a time,
    so that listing a big snapshot takes the same memory as a small one (``ls``).  ``records`` is called a
    second time, before the first, when the index must be brought up to date for the snapshot."""
    arch = archive if isinstance(archive, Archive) else Archive.open(archive)
    none = Summary("", "")
    with SearchIndex(arch) as index:
        if not index.covers(snapshot_id):
            index.cover(snapshot_id, (r.blob_id for r in records()), {}, on_progress)
        chunk: list[MessageRecord] = []
        for record in records():
            chunk.append(record)
            if len(chunk) < batch:
                continue
            docs = index.docs(r.blob_id for r in chunk)
            yield from ((r, _summary(docs.get(r.blob_id), none)) for r in chunk)
            chunk = []
        docs = index.docs(r.blob_id for r in chunk)
        yield from ((r, _summary(docs.get(r.blob_id), none)) for r in chunk)


def _summary(doc: Doc | None, none: Summary) -> Summary:
    return none if doc is None else Summary(doc.sender, doc.subject)
