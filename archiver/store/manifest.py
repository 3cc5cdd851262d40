"""Paged, content-addressed manifests: a snapshot's MessageRecords as a prolly tree (formats/manifest.md).

Records are sorted by key and cut into *leaf pages* after every record whose key hash is a multiple of
``LEAF_FACTOR``; leaf pages are grouped into *inner pages* (level 1, 2, ...) the same way, a level-n page
ending after a child whose last key hash is a multiple of ``LEAF_FACTOR * FANOUT**n``.  Boundaries depend on
the keys alone, so two snapshots that differ by a few records share every other page.  A page's id is the
SHA-256 of its msgpack encoding; pages are stored as entries of kind ``page`` in packs.

    leaf:  [1, 0, [row, ...]]        row = MessageRecord fields in declaration order
    inner: [1, level, [[first key, child page id (32 bytes), record count], ...]]
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from archiver.errors import IntegrityError, UnsupportedVersion, UsageError
from archiver.model import MessageRecord
from archiver.store import codec

PAGE_VERSION = 1
LEAF_FACTOR = 32
FANOUT = 16
MAX_ENTRIES = 1024
"""Hard cap on a page's entries (reached only by pathological key sets; it makes the cut positional)."""

ReadPage = Callable[[str], bytes]
"""Returns the msgpack bytes of the page with this id (already checked against the id)."""
EmitPage = Callable[[str, bytes], None]


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def record_row(r: MessageRecord) -> tuple[object, ...]:
    return (r.key, r.blob_id, r.size, r.internaldate, r.tz_minutes, r.flags, r.labels, r.thread_id,
            r.message_id, r.uids, r.gm_msgid, r.gm_thrid)


def encode_page(level: int, entries: list[tuple[object, ...]]) -> tuple[str, bytes]:
    raw = codec.pack((PAGE_VERSION, level, entries))
    return codec.sha256_hex(raw), raw


@dataclass(frozen=True, slots=True)
class Page:
    """A decoded page: level 0 holds records, higher levels hold (first key, child id, count)."""

    level: int
    records: tuple[MessageRecord, ...] = ()
    first_keys: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()


def decode_page(raw: bytes, page_id: str) -> Page:
    what = f"manifest page {page_id[:12]}"
    doc = codec.unpack(raw, what)
    try:
        version, level, entries = doc
    except (TypeError, ValueError):
        raise IntegrityError(f"{what} is not a manifest page") from None
    if version != PAGE_VERSION:
        raise UnsupportedVersion(f"{what} has version {version}; this program reads {PAGE_VERSION}")
    try:
        if level == 0:
            return Page(0, records=tuple([MessageRecord(*row) for row in entries]))
        return Page(level, first_keys=tuple(e[0] for e in entries),
                    children=tuple(e[1].hex() for e in entries), counts=tuple(e[2] for e in entries))
    except (TypeError, IndexError, AttributeError) as exc:
        raise IntegrityError(f"{what} has a malformed entry: {exc}") from None


def sorted_records(records: Iterable[MessageRecord]) -> list[MessageRecord]:
    """Records sorted by key; UsageError on a duplicate key (keys are unique within a snapshot)."""
    out = sorted(records, key=lambda r: r.key)
    for a, b in itertools.pairwise(out):
        if a.key == b.key:
            raise UsageError(f"duplicate message key in a snapshot: {a.key}")
    return out


def build_tree(records: list[MessageRecord], emit: EmitPage) -> str | None:
    """Write (through ``emit``) every page of the tree over sorted ``records``; return the root id."""
    if not records:
        return None
    # level 0: (first key, last key hash, page id, count) per leaf
    level: list[tuple[str, int, str, int]] = []
    rows: list[tuple[object, ...]] = []
    first = ""
    for r in records:
        if not rows:
            first = r.key
        rows.append(record_row(r))
        h = key_hash(r.key)
        if h % LEAF_FACTOR == 0 or len(rows) >= MAX_ENTRIES:
            pid, raw = encode_page(0, rows)
            emit(pid, raw)
            level.append((first, h, pid, len(rows)))
            rows = []
    if rows:
        pid, raw = encode_page(0, rows)
        emit(pid, raw)
        level.append((first, -1, pid, len(rows)))
    n = 1
    while len(level) > 1:
        modulus = LEAF_FACTOR * FANOUT ** n
        upper: list[tuple[str, int, str, int]] = []
        group: list[tuple[str, int, str, int]] = []
        for child in level:
            group.append(child)
            if (child[1] >= 0 and child[1] % modulus == 0) or len(group) >= MAX_ENTRIES:
                upper.append(_inner(n, group, emit))
                group = []
        if group:
            upper.append(_inner(n, group, emit))
        level = upper
        n += 1
    return level[0][2]


def _inner(level: int, group: list[tuple[str, int, str, int]], emit: EmitPage) -> tuple[str, int, str, int]:
    entries: list[tuple[object, ...]] = [(k, bytes.fromhex(pid), c) for k, _, pid, c in group]
    pid, raw = encode_page(level, entries)
    emit(pid, raw)
    return group[0][0], group[-1][1], pid, sum(c for *_, c in group)


def iter_records(root: str | None, read: ReadPage) -> Iterator[MessageRecord]:
    """Every record under ``root``, sorted by key (pages are read one at a time: constant memory)."""
    if root is None:
        return
    page = decode_page(read(root), root)
    if page.level == 0:
        yield from page.records
        return
    for child in page.children:
        yield from iter_records(child, read)


def iter_page_ids(root: str | None, read: ReadPage) -> Iterator[tuple[str, int]]:
    """(page id, level) of every page under ``root``, parents before children (for verify and prune)."""
    if root is None:
        return
    page = decode_page(read(root), root)
    yield root, page.level
    for child in page.children:
        yield from iter_page_ids(child, read)


def lookup(root: str | None, key: str, read_decoded: Callable[[str], Page]) -> MessageRecord | None:
    """The record with ``key`` under ``root``, reading one page per level."""
    pid = root
    while pid is not None:
        page = read_decoded(pid)
        if page.level == 0:
            keys = [r.key for r in page.records]
            i = bisect.bisect_left(keys, key)
            return page.records[i] if i < len(keys) and keys[i] == key else None
        i = bisect.bisect_right(page.first_keys, key) - 1
        if i < 0:
            return None
        pid = page.children[i]
    return None
