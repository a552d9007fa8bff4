"""Fills (table `fills`): stored once by fill_id, streamed in time order at flat memory.

Each fill's price, count and fee are stored twice: as canonical Decimal TEXT (the record) and as
integers of a fixed unit (`yes_price_e6` in 1e-6 dollars, `count_e2` in 1e-2 contracts, `fee_e8`
in 1e-8 dollars; migration 0002), NULL where the value does not fit the unit exactly.
`iter_fill_units` streams the integers to `kalshi pnl`, which sums them without parsing a string.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from kalshi_cli.store.connection import StoreBase, wrap_error
from kalshi_cli.store.records import FillRecord
from kalshi_cli.store.values import (
    BOOK_SIDES,
    DECIMAL_CACHE_SIZE,
    dec_text,
    opt_dec_text,
    time_range,
)
from kalshi_cli.units import BookSide

_FILL_COLUMNS = (
    "fill_id, order_id, client_order_id, ticker, book_side, yes_price, count, fee, is_taker, ts, "
    "strategy, realized_pnl, subaccount"
)
_UNIT_COLUMNS = "yes_price_e6, count_e2, fee_e8"
_INSERT_FILL_SQL = (
    f"INSERT OR IGNORE INTO fills ({_FILL_COLUMNS}, {_UNIT_COLUMNS}) "  # noqa: S608
    f"VALUES ({', '.join('?' * 16)})"
)
PRICE_SCALE, COUNT_SCALE, FEE_SCALE = 6, 2, 8
_UNITS_CACHE: dict[tuple[str, int], int | None] = {}
_BOOK_SIDE_TEXT: dict[object, str] = {side.value: side.value for side in BookSide}


class FillsMixin(StoreBase):
    """Fills, each stored once; `realized_pnl` set on the fills that close a position."""

    def record_fill(self, fill: FillRecord) -> bool:
        """Store a fill once; True if it was new (a fill_id seen before is ignored)."""
        cur = self._write(_INSERT_FILL_SQL, _fill_row(fill))
        return cur.rowcount == 1

    def record_fills(self, fills: Iterable[FillRecord]) -> int:
        """Store many fills in one transaction (all or none); returns how many were new."""
        with self.transaction():
            cur = self._conn.executemany(_INSERT_FILL_SQL, (_fill_row(f) for f in fills))
        return max(cur.rowcount, 0)

    def attribute_fills(self, order_id: str, *, client_order_id: str, strategy: str | None) -> int:
        """Give the fills of `order_id` recorded without an intent (copied before the order's
        lost answer was resolved) their intent and strategy; returns how many changed."""
        cur = self._write(
            "UPDATE fills SET client_order_id = ?, strategy = ? "
            "WHERE order_id = ? AND client_order_id IS NULL",
            (client_order_id, strategy, order_id),
        )
        return max(cur.rowcount, 0)

    def set_fill_realized_pnl(self, fill_id: str, realized_pnl: Decimal | None) -> bool:
        cur = self._write(
            "UPDATE fills SET realized_pnl = ? WHERE fill_id = ?",
            (opt_dec_text(realized_pnl), fill_id),
        )
        return cur.rowcount == 1

    def fills(
        self,
        *,
        ticker: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        subaccount: int | None = None,
    ) -> list[FillRecord]:
        sql, params = _fills_query(since=since, until=None, ticker=ticker, subaccount=subaccount)
        return list(_fill_records(self._newest(sql, params, "ts, rowid", limit)))

    def iter_fills(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        ticker: str | None = None,
        subaccount: int | None = None,
    ) -> Iterator[FillRecord]:
        """Stream fills in time order (`since` inclusive, `until` exclusive) without loading
        them all: memory stays flat whatever the number of fills. `subaccount` keeps that
        subaccount's only (every subaccount's when None), here and in the readers below."""
        sql, params = _fills_query(since=since, until=until, ticker=ticker, subaccount=subaccount)
        try:
            cursor = self._conn.execute(f"{sql} ORDER BY ts, rowid", params)
        except sqlite3.Error as exc:
            raise wrap_error(exc, self.path) from exc
        cursor.arraysize = 1000
        return _fill_records(cursor)

    def iter_fill_rows(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        subaccount: int | None = None,
    ) -> Iterator[tuple[str, str, str, str, str, float, str | None]]:
        """(ticker, book_side, yes_price, count, fee, ts, strategy) in time order, money and
        counts as their canonical TEXT: the lean stream `kalshi pnl` parses itself, because
        building a FillRecord per row costs more than the P&L arithmetic over a million fills."""
        where, params = time_range("ts", since, until)
        where = _and_subaccount(where, params, subaccount)
        try:
            cursor = self._conn.execute(
                "SELECT ticker, book_side, yes_price, count, fee, ts, strategy "  # noqa: S608
                f"FROM fills{where} ORDER BY ts, rowid",
                params,
            )
        except sqlite3.Error as exc:
            raise wrap_error(exc, self.path) from exc
        cursor.arraysize = 1000
        return cursor

    def iter_fill_units(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        subaccount: int | None = None,
    ) -> Iterator[tuple[str, int, int, int, int, float, str | None]] | None:
        """(ticker, buys_yes, yes_price_e6, count_e2, fee_e8, ts, strategy) in time order, the
        money and counts as integers of their fixed units (see the module docstring) and
        `buys_yes` 1 for a bid, 0 for an ask; None when a fill in the range has no integers
        (a value finer than the units), for the caller to read `iter_fill_rows` instead."""
        where, params = time_range("ts", since, until)
        where = _and_subaccount(where, params, subaccount)
        inexact = "yes_price_e6 IS NULL OR count_e2 IS NULL OR fee_e8 IS NULL"
        try:
            # answered from the partial index `fills_without_units`, which is empty in practice
            if self._conn.execute(
                f"SELECT 1 FROM fills{where}{' AND' if where else ' WHERE'} ({inexact}) LIMIT 1",  # noqa: S608
                params,
            ).fetchone():
                return None
            cursor = self._conn.execute(
                "SELECT ticker, book_side = 'bid', yes_price_e6, count_e2, fee_e8, ts, strategy "  # noqa: S608
                f"FROM fills{where} ORDER BY ts, rowid",
                params,
            )
        except sqlite3.Error as exc:
            raise wrap_error(exc, self.path) from exc
        cursor.arraysize = 1000
        return cursor

    def fills_fit_units(self, *, subaccount: int | None = None) -> bool:
        """Whether every fill has its integers (none holds a value finer than the units);
        answered from the partial index `fills_without_units`, empty in practice."""
        inexact = "yes_price_e6 IS NULL OR count_e2 IS NULL OR fee_e8 IS NULL"
        params: list[object] = []
        where = _and_subaccount(f" WHERE ({inexact})", params, subaccount)
        return not self._rows(f"SELECT 1 FROM fills{where} LIMIT 1", params)  # noqa: S608

    def next_fill_ts(self, at: float | None, *, subaccount: int | None = None) -> float | None:
        """The time of the first fill at or after `at` (of all, if None): one seek in the
        `ts` index."""
        where, params = time_range("ts", at, None)
        where = _and_subaccount(where, params, subaccount)
        found = self._rows(f"SELECT min(ts) FROM fills{where}", params)[0][0]  # noqa: S608
        return None if found is None else float(found)  # unix seconds

    def last_fill_ts(self, ticker: str, *, subaccount: int | None = None) -> float | None:
        """The time of the market's last fill (one seek in the `(ticker, ts)` index)."""
        params: list[object] = [ticker]
        where = _and_subaccount(" WHERE ticker = ?", params, subaccount)
        found = self._rows(f"SELECT max(ts) FROM fills{where}", params)[0][0]  # noqa: S608
        return None if found is None else float(found)  # unix seconds

    def fill_subaccounts(self) -> list[int]:
        """The subaccounts the state file has fills of, in order: the numbered ones from the
        partial index `fills_subaccount` (empty for an account trading on the primary only),
        the primary by its first fill."""
        numbered = self._rows(
            "SELECT DISTINCT subaccount FROM fills WHERE subaccount != 0 ORDER BY 1"
        )
        primary = self._rows("SELECT 1 FROM fills WHERE subaccount = 0 LIMIT 1")
        return [0] * len(primary) + [int(n) for (n,) in numbered]

    def fill_tickers(self, *, subaccount: int | None = None) -> set[str]:
        """The markets the state file has fills in (of `subaccount` only, when given)."""
        params: list[object] = []
        where = _and_subaccount("", params, subaccount)
        rows = self._rows(f"SELECT DISTINCT ticker FROM fills{where}", params)  # noqa: S608
        return {str(t) for (t,) in rows}

    def correct_subaccounts(self, subaccounts: dict[str, int]) -> int:
        """Give each known fill (by fill_id) the subaccount the exchange lists it under, and
        its order the same (an order's fills are all on its subaccount): rows written before
        the state file kept subaccounts were recorded as the primary's. Returns how many fills
        changed; a fill already right is not written."""
        changed = 0
        with self.transaction():
            for fill_id, named in subaccounts.items():
                number = _subaccount_number(named)
                cur = self._conn.execute(
                    "UPDATE fills SET subaccount = ? WHERE fill_id = ? AND subaccount != ?",
                    (number, fill_id, number),
                )
                if cur.rowcount == 1:
                    changed += 1
                    self._conn.execute(
                        "UPDATE orders SET subaccount = ? WHERE order_id = "
                        "(SELECT order_id FROM fills WHERE fill_id = ?)",
                        (number, fill_id),
                    )
        return changed

    def iter_fill_moves(
        self,
        since: float,
        until: float,
        *,
        subaccount: int | None = None,
        usual: str | None = None,
    ) -> Iterator[tuple[str, str | None, int, int, int]]:
        """(ticker, strategy, signed count_e2, cost_e6, fee_e8) of the fills with `since` <= ts <
        `until`, in time order: the count positive for a bid (buys YES), negative for an ask
        (buys NO), and `cost_e6` what one contract of the side bought costs (the YES price for
        a bid, $1 less it for an ask). Only for fills that fit the units (`fills_fit_units`).
        SQLite folds the side into the count and the price, so `kalshi pnl` reads five
        columns, not seven, and no time: its caller asks for one UTC day between settlements
        at a time.

        With `usual` (a strategy, e.g. `last_fill_strategy`'s), a fill of that strategy comes
        with None and a fill of none with '': Python's sqlite3 makes no string for a NULL, and
        a state file mostly names one strategy, so most fills cross as one object fewer."""
        params: list[object] = [since, until]
        where = _and_subaccount(" WHERE ts >= ? AND ts < ?", params, subaccount)
        strategy = "strategy"
        if usual is not None:
            strategy = "CASE WHEN strategy = ? THEN NULL ELSE ifnull(strategy, '') END"
            params.insert(0, usual)
        try:
            cursor = self._conn.execute(
                f"SELECT ticker, {strategy}, "  # noqa: S608
                "CASE WHEN book_side = 'bid' THEN count_e2 ELSE -count_e2 END, "
                "CASE WHEN book_side = 'bid' THEN yes_price_e6 ELSE 1000000 - yes_price_e6 END, "
                f"fee_e8 FROM fills{where} ORDER BY ts, rowid",
                params,
            )
        except sqlite3.Error as exc:
            raise wrap_error(exc, self.path) from exc
        cursor.arraysize = 1000
        return cursor

    def last_fill_strategy(self, *, subaccount: int | None = None) -> str | None:
        """The strategy of the last fill (None: no strategy, or no fill): one seek in the `ts`
        index."""
        params: list[object] = []
        where = _and_subaccount("", params, subaccount)
        found = self._rows(
            f"SELECT strategy FROM fills{where} ORDER BY ts DESC, rowid DESC LIMIT 1",  # noqa: S608
            params,
        )
        return None if not found or found[0][0] is None else str(found[0][0])

    def count_fills(self) -> int:
        return int(self._rows("SELECT count(*) FROM fills")[0][0])


def _fill_row(f: FillRecord) -> tuple[object, ...]:
    return (
        f.fill_id,
        f.order_id,
        f.client_order_id,
        f.ticker,
        _book_side_text(f.book_side),
        dec_text(f.yes_price),
        dec_text(f.count),
        dec_text(f.fee),
        int(bool(f.is_taker)),
        float(f.ts),  # unix seconds
        f.strategy,
        opt_dec_text(f.realized_pnl),
        _subaccount_number(f.subaccount),
        fixed_units(dec_text(f.yes_price), PRICE_SCALE),
        fixed_units(dec_text(f.count), COUNT_SCALE),
        fixed_units(dec_text(f.fee), FEE_SCALE),
    )


def fixed_units(text: str, scale: int) -> int | None:
    """A canonical Decimal text as an integer of 10**-scale, or None where it does not fit
    exactly (more decimals than `scale`, more than 9 digits before the point). The same string
    rule as migration 0002's backfill (`migrations._text_to_units`), so old and new fills agree."""
    key = (text, scale)
    if key in _UNITS_CACHE:
        return _UNITS_CACHE[key]
    negative = text[:1] == "-"
    whole, _, fraction = (text[1:] if negative else text).partition(".")
    units: int | None = None
    if (
        0 < len(whole) <= 9
        and len(fraction) <= scale
        and (whole + fraction).isascii()
        and (whole + fraction).isdigit()
    ):
        units = int(whole) * 10**scale + int(fraction.ljust(scale, "0"))
        units = -units if negative else units
    if len(_UNITS_CACHE) < DECIMAL_CACHE_SIZE:
        _UNITS_CACHE[key] = units
    return units


def _subaccount_number(value: object) -> int:
    """A subaccount as the state file keeps it: 0 (the primary) to 63."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 63:
        raise ValueError(f"a subaccount is 0 (primary) to 63, not {value!r}")
    return value


def _book_side_text(value: object) -> str:
    # a dict lookup, not BookSide(value): this runs once per fill in a batch of a million
    text = _BOOK_SIDE_TEXT.get(value)
    if text is None:
        raise ValueError(f"book side must be bid or ask, not {value!r}")
    return text


def _fills_query(
    *,
    since: float | None,
    until: float | None,
    ticker: str | None,
    subaccount: int | None = None,
) -> tuple[str, list[object]]:
    where, params = time_range("ts", since, until)
    if ticker is not None:
        where = f"{where} AND ticker = ?" if where else " WHERE ticker = ?"
        params.append(ticker)
    where = _and_subaccount(where, params, subaccount)
    return f"SELECT {_FILL_COLUMNS} FROM fills{where}", params  # noqa: S608


def _and_subaccount(where: str, params: list[object], subaccount: int | None) -> str:
    """`where` narrowed to one subaccount's fills (unchanged when None: every subaccount)."""
    if subaccount is None:
        return where
    params.append(subaccount)
    return f"{where} AND subaccount = ?" if where else " WHERE subaccount = ?"


def _fill_records(rows: Iterable[Sequence[Any]]) -> Iterator[FillRecord]:
    """Rows to FillRecords, as fast as Python allows: this loop is most of `kalshi pnl`.

    Prices, counts and fees repeat (a few hundred distinct values), so their Decimals are cached;
    the record's dict is filled directly instead of through the frozen dataclass __init__.
    """
    cache: dict[str, Decimal] = {}
    cached = cache.get
    new = object.__new__
    set_attr = object.__setattr__
    sides = BOOK_SIDES
    limit = DECIMAL_CACHE_SIZE

    def parse(text: str) -> Decimal:
        number = Decimal(text)
        if len(cache) < limit:
            cache[text] = number
        return number

    for r in rows:
        yes_price = cached(r[5])
        if yes_price is None:
            yes_price = parse(r[5])
        count = cached(r[6])
        if count is None:
            count = parse(r[6])
        fee = cached(r[7])
        if fee is None:
            fee = parse(r[7])
        pnl = r[11]
        record = new(FillRecord)
        set_attr(
            record,
            "__dict__",
            {
                "fill_id": r[0],
                "order_id": r[1],
                "client_order_id": r[2],
                "ticker": r[3],
                "book_side": sides[r[4]],
                "yes_price": yes_price,
                "count": count,
                "fee": fee,
                "is_taker": r[8] == 1,
                "ts": r[9],
                "strategy": r[10],
                "realized_pnl": None if pnl is None else Decimal(pnl),
                "subaccount": r[12],
            },
        )
        yield record
