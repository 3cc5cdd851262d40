"""The version-2 encoding of manifest pages (formats/manifest.md "Pages, version 2"): column-wise, with a
per-page string table, integer keys, dates and UIDs as differences in little-endian integer arrays, binary
blob and page ids, and thread ids derived where they can be.  zstd then finds the repetition each column
holds, and decoding an integer column is one C call.  Pure functions, no I/O.

    leaf:  [2, 0, [table, sets, keys, blobs, sizes, dates, tzs, flags, labels, uids, msgids, threads,
                   gm_msgids, gm_thrids]]
    inner: [2, level, [keys, ids, counts]]
"""

from __future__ import annotations

import array
import itertools
import operator
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from archiver.mail import normalize_id
from archiver.model import MessageRecord
from archiver.threads import PREFIX as THREAD_PREFIX
from archiver.threads import root_key

VERSION = 2
_HEX = re.compile(r"[0-9a-f]*")
_NUMBERED = re.compile(r"(.*?)([0-9]+)")
_THREAD_HEX = re.compile(r"[0-9a-f]{16}")
_THREAD_PREFIX_LEN = len(THREAD_PREFIX)
_INT_LIMIT = 1 << 63
"""Key numbers and their differences stay msgpack int64s."""

_TYPECODES = {array.array(c).itemsize: c for c in "qlihb"}
"""Signed array typecode of each width 1, 2, 4, 8 (the smallest C type of that size)."""
_BIG_ENDIAN = sys.byteorder == "big"

# -- integer columns -----------------------------------------------------------------------------------------


def encode_ints(values: Sequence[int]) -> bytes | list[int]:
    """An integer column: bin = one byte w (1, 2, 4 or 8) then each value as a w-byte little-endian signed
    integer, w the smallest that holds them all; a msgpack array when a value needs more than 64 bits."""
    lo, hi = (min(values), max(values)) if values else (0, 0)
    for width in (1, 2, 4, 8):
        bound = 1 << (8 * width - 1)
        if -bound <= lo and hi < bound:
            arr = array.array(_TYPECODES[width], values)
            if _BIG_ENDIAN:
                arr.byteswap()
            return bytes((width,)) + arr.tobytes()
    return list(values)


def decode_ints(col: Any) -> list[int]:
    if not isinstance(col, bytes):
        if any(type(v) is not int for v in col):
            raise TypeError("an integer column holds something else")
        return list(col)
    code = _TYPECODES.get(col[0]) if col else None
    if code is None or (len(col) - 1) % col[0]:
        raise ValueError("an integer column of a bad width or length")
    arr = array.array(code)
    arr.frombytes(memoryview(col)[1:])
    if _BIG_ENDIAN:
        arr.byteswap()
    return arr.tolist()


# -- keys ----------------------------------------------------------------------------------------------------


def encode_keys(keys: Sequence[str]) -> tuple[object, ...]:
    return _key_column(keys)[0]


def _key_column(keys: Sequence[str]) -> tuple[tuple[object, ...], list[int] | None]:
    """The key column and the keys' numbers (None when they are stored as strings):
    ``[prefix, width, numbers]`` when every key is ``prefix`` + a decimal number < 2^63 written in
    ``width`` digits (zero-padded; width 0: no leading zero), numbers as differences from the previous one;
    otherwise ``[nil, 0, keys]``."""
    if keys:
        m = _NUMBERED.fullmatch(keys[0])
        if m is not None:
            prefix, digits = m.group(1), m.group(2)
            width = len(digits) if digits.startswith("0") and len(digits) > 1 else 0
            cut = len(prefix)
            try:
                nums = [int(k[cut:]) for k in keys]
            except ValueError:
                nums = []
            # int() also takes signs, spaces, "_" and other digits: the keys must be exactly what decodes
            fits = bool(nums) and min(nums) >= 0 and max(nums) < _INT_LIMIT
            if fits and _format_keys(prefix, width, nums) == list(keys):
                return (prefix, width, encode_ints(_deltas(nums))), nums
    return (None, 0, list(keys)), None


def _format_keys(prefix: str, width: int, nums: Iterable[int]) -> list[str]:
    if width:
        return [f"{prefix}{n:0{width}d}" for n in nums]
    return [f"{prefix}{n}" for n in nums]


def decode_keys(col: Sequence[Any]) -> tuple[list[str], list[int] | None]:
    """The keys, and their numbers when they are ``prefix`` + number."""
    prefix, width, items = col
    if prefix is None:
        if any(type(k) is not str for k in items):
            raise TypeError("a key that is not a string")
        return list(items), None
    if not isinstance(prefix, str) or type(width) is not int:
        raise TypeError("a malformed key column")
    nums = list(itertools.accumulate(decode_ints(items)))
    return _format_keys(prefix, width, nums), nums


def _deltas(nums: list[int]) -> list[int]:
    return [nums[0], *map(operator.sub, nums[1:], nums)] if nums else []


# -- leaves --------------------------------------------------------------------------------------------------

def encode_leaf(records: Sequence[MessageRecord]) -> tuple[object, ...]:
    """The v2 leaf entries (third element of the page array) of ``records`` (in key order)."""
    sets: dict[tuple[str, ...], int] = {}
    flags, labels = [], []
    for r in records:
        flags.append(sets.setdefault(r.flags, len(sets)))
        labels.append(sets.setdefault(r.labels, len(sets)))
    folder_names = {f for r in records for f, _u in r.uids}
    table = sorted(folder_names.union(*sets))
    where = {s: i for i, s in enumerate(table)}
    blob_ids = [r.blob_id for r in records]
    joined = "".join(blob_ids)
    blobs: object = blob_ids
    if all(len(b) == 64 for b in blob_ids) and _HEX.fullmatch(joined):
        blobs = bytes.fromhex(joined)
    counts = [len(r.uids) for r in records]
    pairs = [(where[f], u) for r in records for f, u in r.uids]
    uids = (1 if all(c == 1 for c in counts) else encode_ints(counts), encode_ints([f for f, _u in pairs]),
            encode_ints(_deltas([u for _f, u in pairs])))
    key_col, nums = _key_column([r.key for r in records])
    gm_numbers = nums if key_col[0] == "gm:" and key_col[1] == 0 else None
    return (table, [[where[s] for s in items] for items in sets], key_col, blobs,
            encode_ints([r.size for r in records]), encode_ints(_deltas([r.internaldate for r in records])),
            encode_ints([r.tz_minutes for r in records]), encode_ints(flags), encode_ints(labels), uids,
            [r.message_id for r in records], _threads(records), *_gmail(records, gm_numbers))


def _gmail(records: Sequence[MessageRecord], gm_numbers: list[int] | None) -> tuple[object, object]:
    """gm_msgids: nil (none has one) | true (each is its key's number, keys being ``gm:<number>``) |
    array of int or nil.  gm_thrids: nil (none) | integer column of gm_msgid - gm_thrid (every record has
    both, differences within 64 bits) | array of int or nil."""
    ids = [r.gm_msgid for r in records]
    thrs = [r.gm_thrid for r in records]
    msgids: object = ids
    if all(i is None for i in ids):
        msgids = None
    elif ids == gm_numbers:
        msgids = True
    thrids: object = thrs
    if all(t is None for t in thrs):
        thrids = None
    elif all(i is not None and t is not None for i, t in zip(ids, thrs, strict=True)):
        diffs = [i - t for i, t in zip(ids, thrs, strict=True)]  # type: ignore[operator]
        if min(diffs) >= -_INT_LIMIT and max(diffs) < _INT_LIMIT:
            thrids = encode_ints(diffs)
    return msgids, thrids


def _threads(records: Sequence[MessageRecord]) -> object:
    """nil: every thread id is str(gm_thrid); else an array, each item nil: str(gm_thrid); -1: the root
    key of the message's own Message-ID; n >= 0: the thread of row n; bin 8: the ``r:`` key of these 8
    bytes; a string: itself."""
    thrs = [r.gm_thrid for r in records]
    if None not in thrs and list(map(str, thrs)) == [r.thread_id for r in records]:
        return None
    items: list[object] = []
    first_of: dict[str, int] = {}
    for i, r in enumerate(records):
        items.append(_thread_item(r, first_of))
        first_of.setdefault(r.thread_id, i)
    return None if all(item is None for item in items) else items


def _thread_item(r: MessageRecord, first_of: dict[str, int]) -> object:
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
    (table, sets_col, keys_col, blobs, sizes_col, dates_col, tzs_col, flags_col, labels_col, uids_col, msgids,
     threads, gm_ids, gm_thr) = cols
    pick = table.__getitem__
    sets = [tuple(map(pick, s)) for s in sets_col]
    keys, nums = decode_keys(keys_col)
    n = len(keys)
    if isinstance(blobs, bytes):
        if len(blobs) != 32 * n:
            raise ValueError(f"{len(blobs)} bytes of blob ids for {n} records")
        h = blobs.hex()
        blob_ids = [h[i:i + 64] for i in range(0, 64 * n, 64)]
    else:
        blob_ids = list(blobs)
    sizes, dates, tzs = decode_ints(sizes_col), decode_ints(dates_col), decode_ints(tzs_col)
    flag_sets, label_sets = decode_ints(flags_col), decode_ints(labels_col)
    msgid_ints: list[Any]
    if gm_ids is None:
        msgid_ints = [None] * n
    elif gm_ids is True:
        if nums is None or not keys or not keys[0].startswith("gm:"):
            raise ValueError("X-GM-MSGIDs said to be the keys' numbers, keys not gm:<number>")
        msgid_ints = nums
    else:
        msgid_ints = list(gm_ids)
    thr_ints: list[Any]
    if gm_thr is None:
        thr_ints = [None] * n
    elif isinstance(gm_thr, bytes):
        diffs = decode_ints(gm_thr)
        if len(diffs) != n or None in msgid_ints:
            raise ValueError("X-GM-THRIDs without X-GM-MSGIDs")
        thr_ints = list(map(operator.sub, msgid_ints, diffs))
    else:
        thr_ints = list(gm_thr)
    counts, folders_col, deltas_col = uids_col
    folders, uid_deltas = decode_ints(folders_col), decode_ints(deltas_col)
    if len(folders) != len(uid_deltas):
        raise ValueError("UID columns of different lengths")
    pairs = zip(map(table.__getitem__, folders), itertools.accumulate(uid_deltas), strict=True)
    uids: Iterable[tuple[tuple[str, int], ...]]
    if counts == 1:
        if len(folders) != n:
            raise ValueError(f"{len(folders)} UIDs for {n} records")
        uids = zip(pairs)  # one (folder, UID) each: 1-tuples
    else:
        per = decode_ints(counts)
        if len(per) != n or sum(per) != len(folders) or min(per, default=0) < 0:
            raise ValueError("UID counts do not match the UIDs")
        flat = list(pairs)
        at = list(itertools.accumulate(per, initial=0))
        uids = [tuple(flat[a:b]) for a, b in itertools.pairwise(at)]
    thread_ids: Iterable[str]
    if threads is None:
        if n and (gm_thr is None or None in thr_ints):
            raise ValueError("a derived thread id without X-GM-THRID")
        thread_ids = map(str, thr_ints)
    else:
        thread_ids = _thread_ids(threads, thr_ints, msgids)
        if len(thread_ids) != n:
            raise ValueError("columns of different lengths")
    columns = (blob_ids, sizes, dates, tzs, flag_sets, label_sets, msgids, msgid_ints, thr_ints)
    if any(len(c) != n for c in columns):
        raise ValueError("columns of different lengths")
    return tuple(map(make, keys, blob_ids, sizes, itertools.accumulate(dates), tzs,
                     map(sets.__getitem__, flag_sets), map(sets.__getitem__, label_sets), thread_ids,
                     msgids, uids, msgid_ints, thr_ints))


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
    return (encode_keys(first_keys), bytes.fromhex("".join(child_ids)), encode_ints(counts))


def decode_inner(cols: Sequence[Any]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
    keys_col, ids, counts_col = cols
    keys, _nums = decode_keys(keys_col)
    counts = decode_ints(counts_col)
    if len(ids) != 32 * len(keys) or len(counts) != len(keys):
        raise ValueError("columns of different lengths")
    h = ids.hex()
    return tuple(keys), tuple(h[i:i + 64] for i in range(0, len(h), 64)), tuple(counts)
