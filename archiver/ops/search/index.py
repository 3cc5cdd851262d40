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
- Encrypted archive (formats/encryption.md "The search index"): no plaintext reaches the disk.  The database
  lives in memory (sqlite ``deserialize``) and is kept as ``cache/search.sealed``, the whole serialized
  database sealed like an archive file (AES-256-GCM, authenticated: it needs no ``search.sum``), rewritten
  (temporary file, fsync, rename) after each update; a plaintext ``search.sqlite`` left there is deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from archiver.errors import FormatError
from archiver.model import MessageRecord
from archiver.ops.search import mime
from archiver.store import Archive

SCHEMA = 2
DB_NAME = "search.sqlite"
SEALED_NAME = "search.sealed"
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
CREATE TABLE labelsets(id INTEGER PRIMARY KEY, labels TEXT UNIQUE NOT NULL);
CREATE TABLE snaps(id INTEGER PRIMARY KEY, snapshot TEXT UNIQUE NOT NULL, loaded REAL NOT NULL);
CREATE TABLE recs(snap INTEGER NOT NULL, doc INTEGER, key TEXT NOT NULL, date INTEGER NOT NULL,
                  tz INTEGER NOT NULL, size INTEGER NOT NULL, fbits INTEGER NOT NULL, flags TEXT NOT NULL,
                  labelset INTEGER NOT NULL, thread TEXT NOT NULL, message_id TEXT, mid TEXT NOT NULL,
                  blob TEXT NOT NULL);
CREATE INDEX recs_by_snap ON recs(snap, date);
INSERT INTO meta VALUES ('schema', '{SCHEMA}');
"""
SEP = "\x1f"
"""Joins a label set's or a flag list's names in one column (a character no label or flag holds)."""
FLAG_BITS = {"\\Seen": 1, "\\Flagged": 2, "\\Answered": 4, "\\Draft": 8}
KEEP_SNAPSHOTS = 8
"""Snapshots whose records the index keeps (the most recently loaded); another costs one load."""


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


CRC_CHUNK = 1 << 20


def _crc(path: Path, chunk: int = CRC_CHUNK) -> tuple[int, int]:
    """Size and CRC-32 of a file, read ``chunk`` bytes at a time into one buffer: a memory map of the whole
    file counted its size in the resident memory of every command that opens the index (~60 MB for
    80,000 messages)."""
    crc = size = 0
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while n := f.readinto(buf):
            crc = zlib.crc32(view[:n], crc)
            size += n
    return size, crc


class _LocalSeal(Protocol):
    """What an encrypted archive's backend offers to seal a local-state file (store/crypto/backend.py)."""

    def seal_local(self, name: str, data: bytes) -> bytes: ...

    def open_local(self, name: str, data: bytes) -> bytes: ...


class SearchIndex:
    """The index of one archive; use as a context manager.  Thread-confined (one sqlite connection)."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        cache = archive.layout.cache
        cache.mkdir(mode=0o700, exist_ok=True)
        self.path = cache / DB_NAME
        self._sum = cache / SUM_NAME
        self._lock_path = cache / LOCK_NAME
        self._sealed = cache / SEALED_NAME
        backend = archive.backend
        sealing = callable(getattr(backend, "seal_local", None))
        self._seal: _LocalSeal | None = cast(_LocalSeal, backend) if sealing else None
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
        if self._seal is not None:
            return self._open_sealed()
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

    # -- an encrypted archive's index: in memory, kept sealed ------------------------------------------

    def _sealed_name(self) -> str:
        return f"cache/{SEALED_NAME}"

    def _open_sealed(self) -> sqlite3.Connection:
        assert self._seal is not None
        with self._locked():
            for p in (self.path, self._sum, self.path.with_name(DB_NAME + "-journal")):  # an older plaintext
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            why: str | None
            try:
                fd = os.open(self._sealed, os.O_RDONLY | os.O_NOFOLLOW)
            except FileNotFoundError:
                why = "no index yet"
            else:
                with os.fdopen(fd, "rb") as f:
                    data = f.read()
                why = self._deserialize(data)
                if why is None:
                    return self._db_loaded
            self.rebuilt = why
            return self._create_locked()

    def _deserialize(self, data: bytes) -> str | None:
        """Load the sealed index into memory (``self._db_loaded``); why it cannot be used, or None."""
        assert self._seal is not None
        try:
            plain = self._seal.open_local(self._sealed_name(), data)
        except FormatError as exc:
            return f"index file damaged ({exc})"
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        try:
            db.deserialize(plain)
            row = db.execute("SELECT v FROM meta WHERE k='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            db.close()
            return f"index file unreadable ({exc})"
        if row is None or row[0] != str(SCHEMA):
            db.close()
            return "index of another schema"
        self._db_loaded = db
        return None

    def _persist_sealed(self, db: sqlite3.Connection) -> None:
        """Write the whole database sealed: temporary file, fsync, rename (a crash keeps the old one)."""
        assert self._seal is not None
        data = self._seal.seal_local(self._sealed_name(), db.serialize())
        tmp = self._sealed.with_name(SEALED_NAME + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._sealed)

    def _create_locked(self) -> sqlite3.Connection:
        if self._seal is not None:
            db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            db.executescript(_DDL)
            self._persist_sealed(db)
            return db
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
        if self._seal is not None:
            self._persist_sealed(self._db)
            return
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

    # -- a snapshot's records, so that a query needs no manifest read --------------------------------

    def snapshot_row(self, snapshot_id: str) -> int | None:
        """The row id of a snapshot whose records the index holds, or None."""
        row = self._db.execute("SELECT id FROM snaps WHERE snapshot = ?", (snapshot_id,)).fetchone()
        return None if row is None else int(row[0])

    def load_records(self, snapshot_id: str, records: Iterable[MessageRecord]) -> None:
        """Keep the records of one snapshot (call after ``cover``: bodies already indexed); the oldest
        loaded snapshot beyond ``KEEP_SNAPSHOTS`` is dropped."""
        with self._locked():
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute("SELECT 1 FROM snaps WHERE snapshot = ?", (snapshot_id,)).fetchone() is None:
                    self._insert_records(db, snapshot_id, records)
                    stale = db.execute("SELECT id FROM snaps ORDER BY loaded DESC LIMIT -1 OFFSET ?",
                                       (KEEP_SNAPSHOTS,)).fetchall()
                    for (sid,) in stale:
                        db.execute("DELETE FROM recs WHERE snap = ?", (sid,))
                        db.execute("DELETE FROM snaps WHERE id = ?", (sid,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._record_sum()

    @staticmethod
    def _insert_records(db: sqlite3.Connection, snapshot_id: str, records: Iterable[MessageRecord]) -> None:
        sid = db.execute("INSERT INTO snaps(snapshot, loaded) VALUES (?, ?)",
                         (snapshot_id, time.time())).lastrowid
        sets: dict[tuple[str, ...], int] = {}
        rows = []
        for r in records:
            ls = sets.get(r.labels)
            if ls is None:
                text = SEP.join(r.labels)
                db.execute("INSERT OR IGNORE INTO labelsets(labels) VALUES (?)", (text,))
                ls = sets[r.labels] = int(db.execute("SELECT id FROM labelsets WHERE labels = ?",
                                                     (text,)).fetchone()[0])
            bits = sum(FLAG_BITS.get(f, 0) for f in r.flags)
            mid = "" if r.message_id is None else r.message_id.strip().strip("<>")
            rows.append((sid, r.blob_id, r.key, r.internaldate, r.tz_minutes, r.size, bits, SEP.join(r.flags),
                         ls, r.thread_id, r.message_id, mid, r.blob_id))
        # the body's row is looked up by SQLite (docs.blob is unique): no copy of the docs table in memory
        db.executemany("INSERT INTO recs VALUES "
                       "(?, (SELECT id FROM docs WHERE blob = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def labelsets(self) -> list[tuple[int, tuple[str, ...]]]:
        """Every label set the kept records use: (id, labels)."""
        return [(int(i), tuple(text.split(SEP)) if text else ())
                for i, text in self._db.execute("SELECT id, labels FROM labelsets")]

    def query(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()

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
