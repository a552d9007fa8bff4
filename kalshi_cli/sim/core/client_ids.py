"""An account's used client order ids, a UUID as a 128-bit number.

Kalshi refuses a `client_order_id` that any order of the account ever had, one cancelled long
ago included ("client ids are never freed": REFERENCE.md "Observed on the real wire", 409
`order_already_exists`), so the set of used ids grows with every order an account places, for
as long as the exchange runs, and must: it cannot be bounded without changing which requests
are refused. A `set[str]` held each id as its string (~85 bytes for 36 characters) and a set
slot. Most ids are UUID-shaped: the exchange's own (`Reference.new_id`: a UUID-shaped prefix
and a 48-bit counter, the order's client id when it is sent none) and this project's
(`str(uuid4())`, client/requests.py). An id written exactly as `str(uuid.UUID(...))` writes it
(36 characters, lowercase hex, hyphens at 8, 13, 18, 23) is one 128-bit number and back, so
`UsedClientIds` holds such an id as that number (a 44-byte int: ~41 bytes an id fewer than the
string, measured 127 -> 86 bytes an id with the set's slots at 100,000 ids), and any other id
(other case, other shape) as its string. The mapping is one to one, so `in` answers exactly
what the set of strings answered: no request is refused or let through differently
(tests/sim/test_client_ids.py compares with a `set[str]` over adds, discards and lookups).
`IdColumn` holds the client ids of archived orders and fills (sim/core/trade_archive.py) in 16
bytes each, so an archived order's id string is no longer kept alive at all.
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
