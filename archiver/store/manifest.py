"""Paged, content-addressed manifests: a snapshot's MessageRecords as a prolly tree (formats/manifest.md).

Records are sorted by key and cut into *leaf pages*; leaves are grouped into *inner pages* (level 1, 2, ...).
A page ends after an entry once it is big enough and the entry's key hash is a multiple of a divisor, so
boundaries depend on the keys alone (and on the previous boundary): two snapshots that differ by a few
records share every other page.  Version 1 measures pages in entries (``LEAF_MIN`` records, ``INNER_MIN``
children); version 2 (written now) in bytes of a record's *weight* (``LEAF_MIN_BYTES``...), and encodes a
page column-wise (manifest_v2.py).  A page's id is the SHA-256 of its msgpack encoding; pages are stored as
entries of kind ``page`` in packs.  Both versions are read.

    v1 leaf:  [1, 0, [row, ...]]        row = MessageRecord fields in declaration order
    v1 inner: [1, level, [[first key, child page id (32 bytes), record count], ...]]
    v2:       [2, level, columns]       (manifest_v2.py)
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
from archiver.store import codec, manifest_v2

PAGE_VERSION = 1
"""The first page version (its constants below are part of it)."""
READ_VERSIONS = (1, 2)
WRITE_VERSION = 2
"""The page version new trees are written in (1 only to regenerate v1 goldens)."""
LEAF_MIN = 10
LEAF_DIV = 10
INNER_MIN = 4
INNER_DIV = 4
MAX_ENTRIES = 1024
"""Hard cap on a page's entries (reached only by pathological key sets; it makes the cut positional)."""
LEAF_MIN_BYTES = 4096
LEAF_DIV_V2 = 16
INNER_MIN_BYTES = 2048
INNER_DIV_V2 = 8
MAX_BYTES = 65536
"""Version 2: a page closes after an entry once its weight is >= the minimum and the entry's hash is a
multiple of the divisor, or once it reaches ``MAX_BYTES`` (formats/manifest.md)."""

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


def encode_leaf(records: Sequence[MessageRecord], version: int | None = None) -> tuple[str, bytes]:
    if (version or WRITE_VERSION) == 1:
        return encode_page(0, [record_row(r) for r in records], 1)
    return encode_page(0, manifest_v2.encode_leaf(records), 2)


def encode_page(level: int, entries: object, version: int = PAGE_VERSION) -> tuple[str, bytes]:
    raw = codec.pack((version, level, entries))
    return codec.sha256_hex(raw), raw


@dataclass(frozen=True, slots=True)
class Page:
    """A decoded page: level 0 holds records, higher levels hold (first key, child id, count)."""

    level: int
    records: tuple[MessageRecord, ...] = ()
    first_keys: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()
    version: int = PAGE_VERSION


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
        if version not in READ_VERSIONS:
            raise UnsupportedVersion(f"{what} has version {version}; this program reads versions "
                                     f"{', '.join(map(str, READ_VERSIONS))}")
        try:
            if version == 2:
                if level == 0:
                    return Page(0, records=manifest_v2.decode_leaf(entries, make_record), version=2)
                keys, ids, counts = manifest_v2.decode_inner(entries)
                return Page(level, first_keys=keys, children=ids, counts=counts, version=2)
            if level == 0:
                return Page(0, records=tuple(itertools.starmap(make_record, entries)))
            return Page(level, first_keys=tuple([e[0] for e in entries]),
                        children=tuple([e[1].hex() for e in entries]), counts=tuple([e[2] for e in entries]))
        except (TypeError, IndexError, AttributeError, ValueError, KeyError) as exc:
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


def leaf_weight(r: MessageRecord) -> int:
    """Version 2: what a record counts towards its leaf's size, about its encoded bytes: 40 + the
    characters of its key and of its Message-ID."""
    return 40 + len(r.key) + len(r.message_id or "")


def build_tree(records: list[MessageRecord], emit: EmitPage, version: int | None = None) -> str | None:
    """Write (through ``emit``) every page of the tree over sorted ``records``; return the root id."""
    if not records:
        return None
    version = version or WRITE_VERSION
    level: list[tuple[str, str, str, int]] = []  # (first key, last key, page id, records)
    rows: list[MessageRecord] = []
    if version == 1:
        for r in records:
            rows.append(r)
            if (len(rows) >= LEAF_MIN and key_hash(r.key) % LEAF_DIV == 0) or len(rows) >= MAX_ENTRIES:
                level.append(_leaf(rows, emit, version))
                rows = []
    else:
        weight = 0
        for r in records:
            rows.append(r)
            weight += leaf_weight(r)
            if (weight >= LEAF_MIN_BYTES and key_hash(r.key) % LEAF_DIV_V2 == 0) or weight >= MAX_BYTES:
                level.append(_leaf(rows, emit, version))
                rows, weight = [], 0
    if rows:
        level.append(_leaf(rows, emit, version))
    n = 1
    while len(level) > 1:
        upper: list[tuple[str, str, str, int]] = []
        group: list[tuple[str, str, str, int]] = []
        weight = 0
        for child in level:
            group.append(child)
            if version == 1:
                close = ((len(group) >= INNER_MIN and inner_hash(child[1], n) % INNER_DIV == 0)
                         or len(group) >= MAX_ENTRIES)
            else:
                weight += 40 + len(child[0])
                close = ((weight >= INNER_MIN_BYTES and inner_hash(child[1], n) % INNER_DIV_V2 == 0)
                         or weight >= MAX_BYTES)
            if close:
                upper.append(_inner(n, group, emit, version))
                group, weight = [], 0
        if group:
            upper.append(_inner(n, group, emit, version))
        level = upper
        n += 1
    return level[0][2]


def _leaf(rows: list[MessageRecord], emit: EmitPage, version: int) -> tuple[str, str, str, int]:
    pid, raw = encode_leaf(rows, version)
    emit(pid, raw)
    return rows[0].key, rows[-1].key, pid, len(rows)


def _inner(level: int, group: list[tuple[str, str, str, int]], emit: EmitPage,
           version: int) -> tuple[str, str, str, int]:
    if version == 1:
        entries: object = [(k, bytes.fromhex(pid), c) for k, _, pid, c in group]
    else:
        entries = manifest_v2.encode_inner([g[0] for g in group], [g[2] for g in group],
                                           [g[3] for g in group])
    pid, raw = encode_page(level, entries, version)
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
