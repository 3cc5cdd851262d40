"""The search index: an SQLite FTS5 cache of the archive's message text, keyed by blob id.

It lives in ``cache/search.sqlite`` (with ``search.sum`` and ``search.lock`` beside it) and is only a cache:
deleting or damaging it costs a rebuild, never a wrong answer.

- One row per *blob* (the same bytes always give the same text), never per snapshot: labels, flags and dates
  come from the snapshot's records, so any point in time is searched with the same index.
- Before a query, every blob of the snapshot asked for is looked up and the missing ones are parsed and
  added: the index is updated incrementally (only new messages are parsed) and never answers for a snapshot
  it does not fully cover.
- Damage: a writer records the file's size and CRC-32 in ``search.sum`` after each update; a reader whose
  file does not match (or that SQLite calls malformed) deletes it and rebuilds.
- The FTS table is contentless (``content=''``): it holds the inverted index only, the text stays in the
  packs; sender and subject are kept for result lists.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from archiver.ops.search import mime
from archiver.store import Archive

SCHEMA = 1
DB_NAME = "search.sqlite"
SUM_NAME = "search.sum"
LOCK_NAME = "search.lock"
COLUMNS = ("sender", "recipient_to", "cc", "bcc", "subject", "body", "filename")
FIELD_COLUMN = {"from": "sender", "to": "recipient_to", "cc": "cc", "bcc": "bcc", "subject": "subject",
                "filename": "filename"}

_DDL = f"""
CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE docs(id INTEGER PRIMARY KEY, blob TEXT UNIQUE NOT NULL, sender TEXT NOT NULL,
                  subject TEXT NOT NULL, has_attachment INTEGER NOT NULL);
CREATE VIRTUAL TABLE fts USING fts5({", ".join(COLUMNS)}, content='', columnsize=0,
                                    tokenize='unicode61 remove_diacritics 2');
INSERT INTO meta VALUES ('schema', '{SCHEMA}');
"""


_INSERT_DOC = "INSERT OR IGNORE INTO docs(blob, sender, subject, has_attachment) VALUES (?, ?, ?, ?)"
_INSERT_FTS = f"INSERT INTO fts(rowid, {', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


@dataclass(frozen=True, slots=True)
class Doc:
    """The index's facts about one blob."""

    sender: str
    subject: str
    has_attachment: bool


@dataclass(frozen=True, slots=True)
class UpdateReport:
    parsed: int
    rebuilt: str | None
    """Why the index was rebuilt from nothing (damaged, missing, other schema), or None."""


def _crc(path: Path) -> tuple[int, int]:
    crc, size = 0, 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return size, crc


class SearchIndex:
    """The index of one archive; use as a context manager.  Thread-confined (one sqlite connection)."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        cache = archive.layout.cache
        cache.mkdir(mode=0o700, exist_ok=True)
        self.path = cache / DB_NAME
        self._sum = cache / SUM_NAME
        self._lock_path = cache / LOCK_NAME
        self.rebuilt: str | None = None
        self._db = self._open()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # -- opening, checking, rebuilding -------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        with self._locked():
            why = self._problem()
            if why is None:
                return self._connect()
            self.rebuilt = why
            return self._create_locked()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=DELETE")
        return db

    def _problem(self) -> str | None:
        """Why the file on disk cannot be trusted, or None."""
        if not self.path.exists():
            return "no index yet" if not self._sum.exists() else "index file missing"
        try:
            recorded = self._sum.read_text().split()
            size, crc = _crc(self.path)
        except (OSError, ValueError):
            return "index checksum missing"
        if recorded != [str(size), str(crc)]:
            return "index file damaged (checksum differs)"
        try:
            db = sqlite3.connect(self.path)
            try:
                row = db.execute("SELECT v FROM meta WHERE k='schema'").fetchone()
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            return f"index file unreadable ({exc})"
        if row is None or row[0] != str(SCHEMA):
            return "index of another schema"
        return None

    def _create_locked(self) -> sqlite3.Connection:
        for p in (self.path, self._sum, self.path.with_name(DB_NAME + "-journal")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        db = self._connect()
        db.executescript(_DDL)
        self._record_sum()
        return db

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _record_sum(self) -> None:
        size, crc = _crc(self.path)
        tmp = self._sum.with_name(SUM_NAME + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{size} {crc}\n")
        os.replace(tmp, self._sum)

    def rebuild(self, why: str) -> None:
        """Throw the index away and start again (the next ``cover`` parses every message it needs)."""
        self._db.close()
        self.rebuilt = why
        with self._locked():
            self._db = self._create_locked()

    # -- updating -------------------------------------------------------------------------------

    def missing(self, blob_ids: Iterable[str]) -> list[str]:
        """The blob ids the index does not hold yet."""
        ids = list(dict.fromkeys(blob_ids))
        db = self._db
        db.execute("CREATE TEMP TABLE IF NOT EXISTS want(blob TEXT PRIMARY KEY)")
        db.execute("DELETE FROM want")
        db.executemany("INSERT OR IGNORE INTO want VALUES (?)", ((b,) for b in ids))
        rows = db.execute("SELECT w.blob FROM want w LEFT JOIN docs d ON d.blob = w.blob "
                          "WHERE d.id IS NULL").fetchall()
        db.execute("DELETE FROM want")
        return [r[0] for r in rows]

    def covers(self, snapshot_id: str) -> bool:
        """Whether every blob of this snapshot was indexed (recorded by ``cover``; rows are never removed
        but by a rebuild, which forgets these records too)."""
        row = self._db.execute("SELECT 1 FROM meta WHERE k = ?", (f"covered:{snapshot_id}",)).fetchone()
        return row is not None

    def cover(self, snapshot_id: str, blob_ids: Iterable[str], damaged: dict[str, str] | None = None,
              on_progress: Callable[[int, int], None] | None = None) -> int:
        """Parse and add every blob of one snapshot the index lacks; returns how many were parsed.

        A blob the archive cannot read is left out and recorded in ``damaged`` (id -> why): it is then
        never a hit for a text query, and the snapshot is not recorded as covered (the next search tries it
        again).  Retries once from nothing if SQLite finds the file malformed."""
        if self.covers(snapshot_id):
            return 0
        try:
            return self._cover(snapshot_id, blob_ids, damaged, on_progress)
        except sqlite3.DatabaseError as exc:
            self.rebuild(f"index file unreadable ({exc})")
            return self._cover(snapshot_id, blob_ids, damaged, on_progress)

    def _cover(self, snapshot_id: str, blob_ids: Iterable[str], damaged: dict[str, str] | None,
               on_progress: Callable[[int, int], None] | None) -> int:
        todo = self.missing(blob_ids)
        skipped: dict[str, str] = {} if damaged is None else damaged
        before = len(skipped)
        done = 0
        with self._locked():
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for blob_id, raw in self.archive.iter_blobs(todo, damaged=skipped):
                    p = mime.parse(raw)
                    cur = db.execute(_INSERT_DOC, (blob_id, p.sender, p.subject, int(p.has_attachment)))
                    if cur.rowcount:
                        db.execute(_INSERT_FTS, (cur.lastrowid, p.sender, p.to, p.cc, p.bcc, p.subject,
                                                 p.body, " ".join(p.filenames)))
                    done += 1
                    if on_progress is not None and done % 256 == 0:
                        on_progress(done, len(todo))
                if len(skipped) == before:
                    db.execute("INSERT OR IGNORE INTO meta VALUES (?, '1')", (f"covered:{snapshot_id}",))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._record_sum()
        if on_progress is not None:
            on_progress(done, len(todo))
        return done

    # -- reading --------------------------------------------------------------------------------

    def match(self, fts_query: str) -> set[str]:
        """Blob ids whose text matches an FTS5 query."""
        rows = self._db.execute("SELECT d.blob FROM fts JOIN docs d ON d.id = fts.rowid WHERE fts MATCH ?",
                                (fts_query,)).fetchall()
        return {r[0] for r in rows}

    def docs(self, blob_ids: Iterable[str]) -> dict[str, Doc]:
        """Sender, subject and attachment fact of each given blob the index holds."""
        out: dict[str, Doc] = {}
        ids = list(blob_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for blob, sender, subject, att in self._db.execute(
                    f"SELECT blob, sender, subject, has_attachment FROM docs WHERE blob IN ({marks})", chunk):
                out[blob] = Doc(sender, subject, bool(att))
        return out

    def with_attachment(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT blob FROM docs WHERE has_attachment = 1")}


def fts_phrase(text: str, column: str | None) -> str:
    """An FTS5 query for ``text`` as one phrase (tokens adjacent), optionally in one column."""
    quoted = '"' + text.replace('"', '""') + '"'
    return f"{{{column}}} : {quoted}" if column else quoted


def fts_words(text: str, column: str | None) -> str:
    """An FTS5 query for every word of ``text`` (each somewhere), optionally in one column.

    Each whitespace-separated word is one phrase, so ``alice@example.com`` matches its tokens in order, as
    Gmail matches an address."""
    words = [w for w in text.split() if w]
    return " AND ".join(fts_phrase(w, column) for w in words) if words else fts_phrase(text, column)
