"""The version-2 encoding of manifest pages (formats/manifest.md "Pages, version 2"): column-wise, with a
per-page string table, integer keys, dates and UIDs as differences, binary blob and page ids, and thread ids
derived where they can be.  zstd then finds the repetition each column holds.  Pure functions, no I/O.

    leaf:  [2, 0, [table, sets, keys, blobs, sizes, dates, tzs, flags, labels, threads, msgids, uids,
                   gm_msgids, gm_thrids]]
    inner: [2, level, [keys, ids, counts]]
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

from archiver.mail import normalize_id
from archiver.model import MessageRecord
from archiver.threads import PREFIX as THREAD_PREFIX
from archiver.threads import root_key

VERSION = 2
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NUMBERED = re.compile(r"(.*?)([0-9]+)")
_THREAD_HEX = re.compile(r"[0-9a-f]{16}")
_THREAD_PREFIX_LEN = len(THREAD_PREFIX)
_INT_LIMIT = 1 << 63
"""Key numbers and their differences stay msgpack int64s."""

# -- keys ----------------------------------------------------------------------------------------------------


def encode_keys(keys: Sequence[str]) -> tuple[object, ...]:
    """``[prefix, width, numbers]`` when every key is ``prefix`` + a decimal number < 2^63 written in
    ``width`` digits (zero-padded; width 0: no leading zero), numbers as differences from the previous one;
    otherwise ``[nil, 0, keys]``."""
    if keys:
        m = _NUMBERED.fullmatch(keys[0])
        if m is not None:
            prefix, digits = m.group(1), m.group(2)
            width = len(digits) if digits.startswith("0") and len(digits) > 1 else 0
            cut = len(prefix)
            nums: list[int] = []
            for k in keys:
                tail = k[cut:]
                if not k.startswith(prefix) or not tail.isascii() or not tail.isdigit():
                    break
                n = int(tail)
                if n >= _INT_LIMIT or (f"{n:0{width}d}" if width else str(n)) != tail:
                    break
                nums.append(n)
            else:
                return (prefix, width, _deltas(nums))
    return (None, 0, list(keys))


def decode_keys(col: Sequence[Any]) -> list[str]:
    prefix, width, items = col
    if prefix is None:
        return [str(k) for k in items] if any(type(k) is not str for k in items) else list(items)
    nums = itertools.accumulate(items)
    if width:
        return [f"{prefix}{n:0{width}d}" for n in nums]
    return [f"{prefix}{n}" for n in nums]


def _deltas(nums: Sequence[int]) -> list[int]:
    return [nums[0], *(b - a for a, b in itertools.pairwise(nums))] if nums else []


# -- leaves --------------------------------------------------------------------------------------------------

def encode_leaf(records: Sequence[MessageRecord]) -> tuple[object, ...]:
    """The v2 leaf entries (third element of the page array) of ``records`` (in key order)."""
    table = sorted({s for r in records for s in (*r.flags, *r.labels, *(f for f, _u in r.uids))})
    where = {s: i for i, s in enumerate(table)}
    sets: dict[tuple[str, ...], int] = {}

    def set_of(items: tuple[str, ...]) -> int:
        i = sets.get(items)
        if i is None:
            i = sets[items] = len(sets)
        return i

    flags, labels = [], []
    for r in records:
        flags.append(set_of(r.flags))
        labels.append(set_of(r.labels))
    blob_ids = [r.blob_id for r in records]
    blobs: object = (bytes.fromhex("".join(blob_ids)) if all(_HEX64.fullmatch(b) for b in blob_ids)
                     else blob_ids)
    threads: list[object] = []
    first_of: dict[str, int] = {}
    for i, r in enumerate(records):
        threads.append(_thread_item(r, first_of))
        first_of.setdefault(r.thread_id, i)
    counts = [len(r.uids) for r in records]
    pairs = [(where[f], u) for r in records for f, u in r.uids]
    uids = (1 if all(c == 1 for c in counts) else counts, [f for f, _u in pairs],
            _deltas([u for _f, u in pairs]))
    gm_ids: list[object] = []
    gm_thr: list[object] = []
    for r in records:
        gm_ids.append(True if r.gm_msgid is not None and r.key == f"gm:{r.gm_msgid}" else r.gm_msgid)
        gm_thr.append(True if r.gm_thrid is not None and r.gm_thrid == r.gm_msgid else r.gm_thrid)
    return (table, [[where[s] for s in items] for items in sets], encode_keys([r.key for r in records]),
            blobs, [r.size for r in records], _deltas([r.internaldate for r in records]),
            [r.tz_minutes for r in records], flags, labels, threads, [r.message_id for r in records],
            uids, gm_ids, gm_thr)


def _thread_item(r: MessageRecord, first_of: dict[str, int]) -> object:
    """nil: str(gm_thrid); -1: the root key of the message's own Message-ID; n >= 0: the thread of row n;
    bin 8: the ``r:`` key of these 8 bytes; else the string itself."""
    t = r.thread_id
    if r.gm_thrid is not None and t == str(r.gm_thrid):
        return None
    earlier = first_of.get(t)
    if earlier is not None:
        return earlier
    own = normalize_id(r.message_id)
    if own and t == root_key(own):
        return -1
    if t.startswith(THREAD_PREFIX) and _THREAD_HEX.fullmatch(t, _THREAD_PREFIX_LEN):
        return bytes.fromhex(t[_THREAD_PREFIX_LEN:])
    return t


def decode_leaf(cols: Sequence[Any], make: Any) -> tuple[MessageRecord, ...]:
    """Records of a v2 leaf's entries; ``make`` builds one record from the 12 fields (positional).
    Raises TypeError / ValueError / IndexError on malformed input (the caller names the page)."""
    (table, sets_col, keys_col, blobs, sizes, dates, tzs, flags, labels, threads, msgids, uids_col,
     gm_ids, gm_thr) = cols
    sets = [tuple([table[i] for i in s]) for s in sets_col]
    keys = decode_keys(keys_col)
    n = len(keys)
    if isinstance(blobs, bytes):
        if len(blobs) != 32 * n:
            raise ValueError(f"{len(blobs)} bytes of blob ids for {n} records")
        h = blobs.hex()
        blob_ids = [h[i:i + 64] for i in range(0, 64 * n, 64)]
    else:
        blob_ids = list(blobs)
    columns = (sizes, dates, tzs, flags, labels, threads, msgids, gm_ids, gm_thr)
    if any(len(c) != n for c in columns) or len(blob_ids) != n:
        raise ValueError("columns of different lengths")
    msgid_ints = [
        (int(k[3:]) if g is True else g) for k, g in zip(keys, gm_ids, strict=True)]
    thr_ints = [(m if t is True else t) for m, t in zip(msgid_ints, gm_thr, strict=True)]
    counts, folders, uid_deltas = uids_col
    pairs = list(zip([table[f] for f in folders], itertools.accumulate(uid_deltas), strict=True))
    uids: list[tuple[tuple[str, int], ...]]
    if counts == 1:
        if len(pairs) != n:
            raise ValueError(f"{len(pairs)} UIDs for {n} records")
        uids = [(p,) for p in pairs]
    else:
        if len(counts) != n or sum(counts) != len(pairs):
            raise ValueError("UID counts do not match the UIDs")
        at = list(itertools.accumulate(counts, initial=0))
        uids = [tuple(pairs[a:b]) for a, b in itertools.pairwise(at)]
    thread_ids: list[str]
    if all(item is None for item in threads):
        thread_ids = list(map(str, thr_ints))
    else:
        thread_ids = _thread_ids(threads, thr_ints, msgids)
    return tuple(map(make, keys, blob_ids, sizes, itertools.accumulate(dates), tzs,
                     [sets[i] for i in flags], [sets[i] for i in labels], thread_ids, msgids, uids,
                     msgid_ints, thr_ints))


def _thread_ids(threads: Sequence[Any], thr_ints: Sequence[int | None], msgids: Sequence[Any]) -> list[str]:
    thread_ids: list[str] = []
    for i, item in enumerate(threads):
        if item is None:
            if thr_ints[i] is None:
                raise ValueError("a derived thread id without X-GM-THRID")
            thread_ids.append(str(thr_ints[i]))
        elif type(item) is int:
            if item >= 0:
                if item >= i:
                    raise ValueError("a thread reference to a later row")
                thread_ids.append(thread_ids[item])
            else:
                own = normalize_id(msgids[i])
                if not own:
                    raise ValueError("a thread derived from a missing Message-ID")
                thread_ids.append(root_key(own))
        elif isinstance(item, bytes):
            thread_ids.append(THREAD_PREFIX + item.hex())
        elif isinstance(item, str):
            thread_ids.append(item)
        else:
            raise TypeError(f"thread item {item!r}")
    return thread_ids


# -- inner pages ---------------------------------------------------------------------------------------------

def encode_inner(first_keys: Sequence[str], child_ids: Sequence[str], counts: Sequence[int]
                 ) -> tuple[object, ...]:
    return (encode_keys(first_keys), bytes.fromhex("".join(child_ids)), list(counts))


def decode_inner(cols: Sequence[Any]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
    keys_col, ids, counts = cols
    keys = decode_keys(keys_col)
    if len(ids) != 32 * len(keys) or len(counts) != len(keys):
        raise ValueError("columns of different lengths")
    h = ids.hex()
    return tuple(keys), tuple(h[i:i + 64] for i in range(0, len(h), 64)), tuple(counts)
