"""Paged, content-addressed manifests: a snapshot's MessageRecords as a prolly tree (formats/manifest.md).

Records are sorted by key and cut into *leaf pages*: a leaf ends after a record once it holds at least
``LEAF_MIN`` records and the record's key hash is a multiple of ``LEAF_DIV`` (mean ~ LEAF_MIN + LEAF_DIV).
Leaves are grouped into *inner pages* (level 1, 2, ...) the same way (``INNER_MIN``, ``INNER_DIV``, with a
hash of the child's last key salted by the level).  Boundaries depend on the keys alone (and on the previous
boundary), so two snapshots that differ by a few records share every other page.  The minimum size keeps
page sizes even: a random change then rewrites a page of average size, not a size-biased large one.
A page's id is the SHA-256 of its msgpack encoding; pages are stored as entries of kind ``page`` in packs.

    leaf:  [1, 0, [row, ...]]        row = MessageRecord fields in declaration order
    inner: [1, level, [[first key, child page id (32 bytes), record count], ...]]
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import gc
import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from archiver.errors import IntegrityError, UnsupportedVersion, UsageError
from archiver.model import MessageRecord
from archiver.store import codec

PAGE_VERSION = 1
LEAF_MIN = 10
LEAF_DIV = 10
INNER_MIN = 4
INNER_DIV = 4
MAX_ENTRIES = 1024
"""Hard cap on a page's entries (reached only by pathological key sets; it makes the cut positional)."""

ReadPage = Callable[[str], bytes]
"""Returns the msgpack bytes of the page with this id (already checked against the id)."""
EmitPage = Callable[[str, bytes], None]


def key_hash(key: str) -> int:
    """64-bit BLAKE2b of the key (UTF-8), little-endian: the boundary hash of a leaf record."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def inner_hash(last_key: str, level: int) -> int:
    """The boundary hash of a child page at ``level``: key_hash of ``last_key + NUL + str(level)``."""
    return key_hash(f"{last_key}\0{level}")


def _fast_record_factory() -> Callable[..., MessageRecord]:
    """A positional constructor of MessageRecord ~2.5x faster than its own (frozen dataclass __init__ sets
    each field through object.__setattr__, ~0.9 us per record; 10^6 of them dominate a manifest load).

    It builds a non-frozen twin with the very same slots, then sets ``__class__`` to MessageRecord (Python
    allows this between classes of identical layout): the result *is* a MessageRecord, equal, hashed and
    frozen like one.  Checked once here; if anything differs, the plain constructor is used.
    """
    twin = dataclasses.make_dataclass(
        "_MessageRecordRow", [(f.name, f.type) for f in dataclasses.fields(MessageRecord)], slots=True,
        eq=False, repr=False)

    def make(*row: Any, _twin: Any = twin, _cls: type = MessageRecord) -> MessageRecord:
        obj = _twin(*row)
        obj.__class__ = _cls
        return obj  # type: ignore[no-any-return]

    sample = ("k", "0" * 64, 1, 2, 3, ("\\Seen",), ("L",), "t", None, (("INBOX", 1),), 4, 5)
    try:
        made, plain = make(*sample), MessageRecord(*sample)
        if type(made) is MessageRecord and made == plain and hash(made) == hash(plain):
            return make
    except (TypeError, ValueError):
        pass
    return MessageRecord


make_record = _fast_record_factory()


def record_row(r: MessageRecord) -> tuple[object, ...]:
    return (r.key, r.blob_id, r.size, r.internaldate, r.tz_minutes, r.flags, r.labels, r.thread_id,
            r.message_id, r.uids, r.gm_msgid, r.gm_thrid)


def encode_leaf(records: list[MessageRecord]) -> tuple[str, bytes]:
    return encode_page(0, [record_row(r) for r in records])


def encode_page(level: int, entries: Sequence[tuple[object, ...]]) -> tuple[str, bytes]:
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
    enabled = gc.isenabled()
    gc.disable()  # a page makes thousands of objects that all survive: no point in collecting meanwhile
    try:
        doc = codec.unpack(raw, what)
        try:
            version, level, entries = doc
        except (TypeError, ValueError):
            raise IntegrityError(f"{what} is not a manifest page") from None
        if version != PAGE_VERSION:
            raise UnsupportedVersion(f"{what} has version {version}; this program reads {PAGE_VERSION}")
        try:
            if level == 0:
                return Page(0, records=tuple(itertools.starmap(make_record, entries)))
            return Page(level, first_keys=tuple([e[0] for e in entries]),
                        children=tuple([e[1].hex() for e in entries]), counts=tuple([e[2] for e in entries]))
        except (TypeError, IndexError, AttributeError, ValueError) as exc:
            raise IntegrityError(f"{what} has a malformed entry: {exc}") from None
    finally:
        if enabled:
            gc.enable()


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
    level: list[tuple[str, str, str, int]] = []  # (first key, last key, page id, records)
    rows: list[MessageRecord] = []
    for r in records:
        rows.append(r)
        if (len(rows) >= LEAF_MIN and key_hash(r.key) % LEAF_DIV == 0) or len(rows) >= MAX_ENTRIES:
            level.append(_leaf(rows, emit))
            rows = []
    if rows:
        level.append(_leaf(rows, emit))
    n = 1
    while len(level) > 1:
        upper: list[tuple[str, str, str, int]] = []
        group: list[tuple[str, str, str, int]] = []
        for child in level:
            group.append(child)
            if ((len(group) >= INNER_MIN and inner_hash(child[1], n) % INNER_DIV == 0)
                    or len(group) >= MAX_ENTRIES):
                upper.append(_inner(n, group, emit))
                group = []
        if group:
            upper.append(_inner(n, group, emit))
        level = upper
        n += 1
    return level[0][2]


def _leaf(rows: list[MessageRecord], emit: EmitPage) -> tuple[str, str, str, int]:
    pid, raw = encode_leaf(rows)
    emit(pid, raw)
    return rows[0].key, rows[-1].key, pid, len(rows)


def _inner(level: int, group: list[tuple[str, str, str, int]], emit: EmitPage) -> tuple[str, str, str, int]:
    entries: list[tuple[object, ...]] = [(k, bytes.fromhex(pid), c) for k, _, pid, c in group]
    pid, raw = encode_page(level, entries)
    emit(pid, raw)
    return group[0][0], group[-1][1], pid, sum(c for *_, c in group)


def leaf_ids(root: str | None, read: ReadPage) -> list[str]:
    """The ids of the leaf pages under ``root`` in key order (reads the inner pages only)."""
    if root is None:
        return []
    out: list[str] = []
    stack = [root]
    while stack:
        pid = stack.pop()
        page = decode_page(read(pid), pid)
        if page.level == 0:
            out.append(pid)
        elif page.level == 1:
            out.extend(page.children)
        else:
            stack.extend(reversed(page.children))
    return out


READ_AHEAD_BATCH = 64
READ_AHEAD_BATCHES = 4


def _prefetched(ids: list[str], read: ReadPage) -> Iterator[tuple[str, bytes]]:
    """(id, bytes) of ``ids`` in order, read by one helper thread a few batches ahead of the consumer:
    reading, decompressing and hashing release the GIL, so they overlap the decoding."""
    batches = [ids[i:i + READ_AHEAD_BATCH] for i in range(0, len(ids), READ_AHEAD_BATCH)]

    def fetch(batch: list[str]) -> list[bytes]:
        return [read(pid) for pid in batch]

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="manifest-read") as pool:
        pending = collections.deque(pool.submit(fetch, b) for b in batches[:READ_AHEAD_BATCHES])
        try:
            for i, batch in enumerate(batches):
                raws = pending.popleft().result()
                if i + READ_AHEAD_BATCHES < len(batches):
                    pending.append(pool.submit(fetch, batches[i + READ_AHEAD_BATCHES]))
                yield from zip(batch, raws, strict=True)
        finally:  # the consumer stopped early (or a read failed): drop what is not started yet
            for f in pending:
                f.cancel()


def iter_records(root: str | None, read: ReadPage) -> Iterator[MessageRecord]:
    """Every record under ``root``, sorted by key; leaves are read ahead on a helper thread when there are
    more than a few batches of them."""
    ids = leaf_ids(root, read)
    if len(ids) <= 2 * READ_AHEAD_BATCH:
        pages: Iterator[tuple[str, bytes]] = ((pid, read(pid)) for pid in ids)
    else:
        pages = _prefetched(ids, read)
    return itertools.chain.from_iterable(decode_page(raw, pid).records for pid, raw in pages)


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
