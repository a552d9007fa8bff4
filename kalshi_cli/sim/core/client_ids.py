"""An account's used client order ids, a UUID as a 128-bit number: Kalshi never frees one, so the
set only grows. `UsedClientIds` answers exactly as a `set[str]` would; `IdColumn` holds archived
ids in 16 bytes each.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

_M64 = (1 << 64) - 1


def uuid_number(cid: str) -> int | None:
    """The 128-bit number of a canonical UUID string (as `str(uuid.UUID(...))` writes it), or
    None for any other string."""
    if len(cid) != 36 or cid[8] != "-" or cid[13] != "-" or cid[18] != "-" or cid[23] != "-":
        return None
    digits = cid.replace("-", "")
    if len(digits) != 32:
        return None
    try:
        number = int(digits, 16)
    except ValueError:
        return None
    # int() also takes upper case, "_" and signs: only the canonical spelling maps back
    return number if f"{number:032x}" == digits else None


def uuid_text(number: int) -> str:
    h = f"{number:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class UsedClientIds:
    """A set of client order ids: `in`, `add`, `discard`, `len` and iteration as `set[str]`."""

    __slots__ = ("_last", "_numbers", "_others")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._numbers: set[int] = set()  # the canonical UUIDs, as numbers
        self._others: set[str] = set()
        # the last id looked up and its number: placing an order asks `in`, then `add`s it
        self._last: tuple[str, int | None] = ("", None)
        for cid in ids:
            self.add(cid)

    def _number(self, cid: str) -> int | None:
        last, number = self._last
        if cid is not last:
            number = uuid_number(cid)
            self._last = (cid, number)
        return number

    def __contains__(self, cid: object) -> bool:
        if not isinstance(cid, str):
            return False
        number = self._number(cid)
        return cid in self._others if number is None else number in self._numbers

    def add(self, cid: str) -> None:
        number = self._number(cid)
        if number is None:
            self._others.add(cid)
        else:
            self._numbers.add(number)

    def add_number(self, cid: str, number: int) -> None:
        """`add(cid)` for an id whose number the caller already has (`uuid_number(cid) ==
        number`): the exchange's own ids, made from a counter (`Reference.new_id`)."""
        self._numbers.add(number)
        self._last = (cid, number)

    def discard(self, cid: str) -> None:
        number = uuid_number(cid)
        if number is None:
            self._others.discard(cid)
        else:
            self._numbers.discard(number)

    def __len__(self) -> int:
        return len(self._numbers) + len(self._others)

    def __iter__(self) -> Iterator[str]:
        yield from self._others
        for number in self._numbers:
            yield uuid_text(number)


class IdColumn:
    """A column of client order ids for an archive (sim/core/trade_archive.py): a canonical UUID
    as its number in two 64-bit arrays (16 bytes, and the id's string is no longer kept
    alive by the archive), any other id as its string in `odd` by position. `column[i]`
    gives back a string equal to the one appended."""

    __slots__ = ("_hi", "_lo", "odd")

    def __init__(self) -> None:
        self._hi = array("Q")
        self._lo = array("Q")
        self.odd: dict[int, str] = {}

    def append(self, cid: str) -> None:
        number = uuid_number(cid)
        if number is None:
            self.odd[len(self._lo)] = cid
            number = 0
        self._hi.append(number >> 64)
        self._lo.append(number & _M64)

    def __getitem__(self, position: int) -> str:
        if position < 0:
            position += len(self._lo)
        odd = self.odd.get(position)
        if odd is not None:
            return odd
        return uuid_text((self._hi[position] << 64) | self._lo[position])

    def __len__(self) -> int:
        return len(self._lo)
