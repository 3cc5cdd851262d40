"""A compact in-memory map id -> Location (10^6 entries in ~150 MB instead of ~600 MB).

Keys are stored as the 32 raw bytes of the id, values as one int packing (pack number, offset, length,
raw length, dictionary number); pack and dictionary ids live once in tables shared by the maps of one
Index.  The map behaves as ``Mapping[str, Location]`` (hex ids in, Location objects out).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

_DICT_BITS = 16
_LEN_BITS = 32
_OFF_BITS = 40
_INNER_BITS = 33
"""The offset of an entry inside its v2 block, plus one (0: a v1 frame, the entry itself)."""
_HEAD = _OFF_BITS + 2 * _LEN_BITS + _DICT_BITS + _INNER_BITS


@dataclass(frozen=True, slots=True)
class Location:
    """Where the stored frame of one blob or page is: one seek into one pack."""

    pack: str
    offset: int
    length: int
    raw_length: int
    dict_id: str | None
    inner: int | None = None
    """In a v2 pack: where the entry starts inside the decompressed block at (offset, length)."""


@dataclass
class Tables:
    """Pack and dictionary ids by number, shared by the maps of one index."""

    packs: list[str] = field(default_factory=list)
    pack_no: dict[str, int] = field(default_factory=dict)
    dicts: list[str | None] = field(default_factory=lambda: [None])
    dict_no: dict[str | None, int] = field(default_factory=lambda: {None: 0})

    def pack_number(self, pack_id: str) -> int:
        n = self.pack_no.get(pack_id)
        if n is None:
            n = self.pack_no[pack_id] = len(self.packs)
            self.packs.append(pack_id)
        return n

    def dict_number(self, dict_id: str | None) -> int:
        n = self.dict_no.get(dict_id)
        if n is None:
            n = self.dict_no[dict_id] = len(self.dicts)
            self.dicts.append(dict_id)
        return n


class LocationMap(Mapping[str, Location]):
    """id (hex str) -> Location, stored compactly; ``put`` keeps the entry of the smallest pack id as the
    mapping's value and the entries of other packs as :meth:`others` (copies a reader falls back on when
    the first is lost or damaged: formats/index.md "Several copies")."""

    __slots__ = ("_alt", "_d", "_t")

    def __init__(self, tables: Tables) -> None:
        self._d: dict[bytes, int] = {}
        self._alt: dict[bytes, list[int]] = {}
        self._t = tables

    def put(self, entry_id: bytes, pack_no: int, offset: int, length: int, raw_length: int,
            dict_no: int, inner: int | None = None) -> None:
        tag = 0 if inner is None else 1 + inner
        new = ((((((pack_no << _OFF_BITS | offset) << _LEN_BITS | length) << _LEN_BITS
                  | raw_length) << _DICT_BITS) | dict_no) << _INNER_BITS) | tag
        old = self._d.get(entry_id)
        if old is None:
            self._d[entry_id] = new
            return
        old_pack = old >> _HEAD
        if old_pack == pack_no:
            return  # the same pack listed again (two segments, or a segment and its TOC)
        alt = self._alt.setdefault(entry_id, [])
        if any(a >> _HEAD == pack_no for a in alt):
            return
        if self._t.packs[old_pack] <= self._t.packs[pack_no]:
            alt.append(new)  # stored twice: the smallest pack id wins, the other copy is kept aside
        else:
            alt.append(old)
            self._d[entry_id] = new

    def others(self, key: str) -> list[Location]:
        """The entries of ``key`` in packs other than the one the mapping gives, by pack id."""
        try:
            alt = self._alt.get(bytes.fromhex(key), ())
        except ValueError:
            return []
        return sorted((self._loc(v) for v in alt), key=lambda loc: loc.pack)

    def spans(self, key: str) -> list[tuple[str, int]]:
        """(pack id, end of the frame) of every copy of ``key``, the mapping's first; [] when absent.
        Cheap (no Location objects): for presence checks over every blob of a snapshot."""
        raw = bytes.fromhex(key)
        v = self._d.get(raw)
        if v is None:
            return []
        out = []
        for w in (v, *self._alt.get(raw, ())):
            w >>= _INNER_BITS + _DICT_BITS + _LEN_BITS  # drop inner, dict and raw length: pack|offset|length
            length = w & 0xFFFFFFFF
            w >>= _LEN_BITS
            out.append((self._t.packs[w >> _OFF_BITS], (w & ((1 << _OFF_BITS) - 1)) + length))
        return out

    def all_items(self) -> Iterator[tuple[str, Location]]:
        """Every entry, the other copies included (what a cache of the index must keep)."""
        yield from self.items()
        for k, alt in self._alt.items():
            for v in alt:
                yield k.hex(), self._loc(v)

    def _loc(self, v: int) -> Location:
        inner = v & ((1 << _INNER_BITS) - 1)
        v >>= _INNER_BITS
        dict_no = v & 0xFFFF
        v >>= _DICT_BITS
        raw = v & 0xFFFFFFFF
        v >>= _LEN_BITS
        length = v & 0xFFFFFFFF
        v >>= _LEN_BITS
        offset = v & ((1 << _OFF_BITS) - 1)
        return Location(self._t.packs[v >> _OFF_BITS], offset, length, raw, self._t.dicts[dict_no],
                        inner - 1 if inner else None)

    def __getitem__(self, key: str) -> Location:
        try:
            return self._loc(self._d[bytes.fromhex(key)])
        except ValueError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            return bytes.fromhex(key) in self._d
        except ValueError:
            return False

    def __iter__(self) -> Iterator[str]:
        return (k.hex() for k in self._d)

    def __len__(self) -> int:
        return len(self._d)

    def raw_lengths(self) -> Iterator[tuple[int, int, int, int | None]]:
        """(length, raw length, dictionary number, block key) of every entry, without building Locations
        (stats); the block key (pack and offset) is None for a v1 frame, the same for entries of one block."""
        for v in self._d.values():
            inner = v & ((1 << _INNER_BITS) - 1)
            v >>= _INNER_BITS
            yield ((v >> (_DICT_BITS + _LEN_BITS)) & 0xFFFFFFFF, (v >> _DICT_BITS) & 0xFFFFFFFF, v & 0xFFFF,
                   v >> (_DICT_BITS + 2 * _LEN_BITS) if inner else None)
