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


@dataclass(frozen=True, slots=True)
class Location:
    """Where the stored frame of one blob or page is: one seek into one pack."""

    pack: str
    offset: int
    length: int
    raw_length: int
    dict_id: str | None


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
    """id (hex str) -> Location, stored compactly; ``put`` keeps the entry of the smallest pack id, and
    the other copies of an entry stored twice as :meth:`alternates` (read when the first is damaged)."""

    __slots__ = ("_alt", "_d", "_t")

    def __init__(self, tables: Tables) -> None:
        self._d: dict[bytes, int] = {}
        self._alt: dict[bytes, list[int]] = {}
        self._t = tables

    def put(self, entry_id: bytes, pack_no: int, offset: int, length: int, raw_length: int,
            dict_no: int) -> None:
        new = ((((pack_no << _OFF_BITS | offset) << _LEN_BITS | length) << _LEN_BITS
                | raw_length) << _DICT_BITS) | dict_no
        old = self._d.get(entry_id)
        if old is not None:
            if old == new:
                return
            if self._t.packs[old >> (_OFF_BITS + 2 * _LEN_BITS + _DICT_BITS)] <= self._t.packs[pack_no]:
                self._alt.setdefault(entry_id, []).append(new)  # stored twice: the smallest pack id wins
                return
            self._alt.setdefault(entry_id, []).append(old)
        self._d[entry_id] = new

    def alternate_items(self) -> Iterator[tuple[str, Location]]:
        """(id, location) of every copy :meth:`alternates` holds (to write them out, e.g. in the cache)."""
        for k, vs in self._alt.items():
            for v in vs:
                yield k.hex(), self._loc(v)

    def alternates(self, key: str) -> list[Location]:
        """The other stored copies of ``key`` (in other packs), for a reader whose first copy is damaged."""
        try:
            return [self._loc(v) for v in self._alt.get(bytes.fromhex(key), ())]
        except ValueError:
            return []

    def _loc(self, v: int) -> Location:
        dict_no = v & 0xFFFF
        v >>= _DICT_BITS
        raw = v & 0xFFFFFFFF
        v >>= _LEN_BITS
        length = v & 0xFFFFFFFF
        v >>= _LEN_BITS
        offset = v & ((1 << _OFF_BITS) - 1)
        return Location(self._t.packs[v >> _OFF_BITS], offset, length, raw, self._t.dicts[dict_no])

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

    def raw_lengths(self) -> Iterator[tuple[int, int, int]]:
        """(length, raw length, dictionary number) of every entry, without building Locations (stats)."""
        for v in self._d.values():
            yield (v >> (_DICT_BITS + _LEN_BITS)) & 0xFFFFFFFF, (v >> _DICT_BITS) & 0xFFFFFFFF, v & 0xFFFF
