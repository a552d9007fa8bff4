"""Fills (table `fills`): stored once by fill_id, streamed in time order at flat memory.

Each fill's price, count and fee are stored once, as canonical Decimal TEXT: `kalshi pnl` parses
each distinct text once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from kalshi_cli.store.connection import Database
from kalshi_cli.store.records import FillRecord
from kalshi_cli.store.values import (
    BOOK_SIDES,
    DECIMAL_CACHE_SIZE,
    dec_text,
    figure_text,
    subaccount_number,
    where_given,
)
from kalshi_cli.vocabulary.units import BookSide

_FILL_COLUMNS = (
    "fill_id, order_id, client_order_id, ticker, book_side, yes_price, count, fee, is_taker, ts, "
    "strategy, realized_pnl, subaccount"
)
_INSERT_FILL_SQL = (
    f"INSERT OR IGNORE INTO fills ({_FILL_COLUMNS}) "  # noqa: S608
    f"VALUES ({', '.join('?' * 13)})"
)
# a fill copied before the row of its order named it (another process's copy, while the order's
# answer was not booked yet) has no intent: the next writer that knows the order gives it one
_ATTRIBUTE_FILL_SQL = (
    "UPDATE fills SET client_order_id = ?, strategy = ? "
    "WHERE fill_id = ? AND client_order_id IS NULL"
)
# fill ids asked of the state file in one statement (SQLite's variables cap, 999 before 3.32)
_IDS_A_STATEMENT = 500
_BOOK_SIDE_TEXT: dict[object, str] = {side.value: side.value for side in BookSide}


class FillRepository:
    """Fills, each stored once; `realized_pnl` set on the fills that close a position."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record_fill(self, fill: FillRecord) -> bool:
        """Store a fill once; True if it was new. A fill_id seen before is ignored, except
        that a copy recorded without an intent takes this one's (`_ATTRIBUTE_FILL_SQL`): the
        strategy a restart rebuilds its part with."""
        cur = self._db.write(_INSERT_FILL_SQL, _fill_row(fill))
        if cur.rowcount == 1:
            return True
        if fill.client_order_id is not None:
            self._db.write(_ATTRIBUTE_FILL_SQL, _attribution(fill))
        return False

    def record_fills(self, fills: Iterable[FillRecord]) -> int:
        """Store many fills in one transaction (all or none); returns how many were new. Those
        seen before are ignored, but for the intent a copy without one takes (`record_fill`).
        None: no transaction, so no wait for the write lock another writer holds."""
        records = list(fills)
        if not records:
            return 0
        with self._db.transaction():
            conn = self._db.conn
            added = max(conn.executemany(_INSERT_FILL_SQL, map(_fill_row, records)).rowcount, 0)
            if added < len(records):
                known = (_attribution(f) for f in records if f.client_order_id is not None)
                conn.executemany(_ATTRIBUTE_FILL_SQL, known)
        return added

    def attribute_fills(self, order_id: str, *, client_order_id: str, strategy: str | None) -> int:
        """Give the fills of `order_id` recorded without an intent (copied before the order's
        lost answer was resolved) their intent and strategy; returns how many changed."""
        cur = self._db.write(
            "UPDATE fills SET client_order_id = ?, strategy = ? "
            "WHERE order_id = ? AND client_order_id IS NULL",
            (client_order_id, strategy, order_id),
        )
        return max(cur.rowcount, 0)

    def set_fill_realized_pnl(self, fill_id: str, realized_pnl: Decimal | None) -> bool:
        cur = self._db.write(
            "UPDATE fills SET realized_pnl = ? WHERE fill_id = ?",
            (figure_text(realized_pnl), fill_id),
        )
        return cur.rowcount == 1

    def read(
        self,
        *,
        ticker: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        subaccount: int | None = None,
    ) -> list[FillRecord]:
        sql, params = _fills_query(since=since, until=None, ticker=ticker, subaccount=subaccount)
        return list(_fill_records(self._db.newest(sql, params, "ts, rowid", limit)))

    def unknown(self, fill_ids: Collection[str]) -> set[str]:
        """Those of `fill_ids` the state file has no fill of."""
        ids = list(fill_ids)
        found: set[str] = set()
        for at in range(0, len(ids), _IDS_A_STATEMENT):
            chunk = ids[at : at + _IDS_A_STATEMENT]
            marks = ", ".join("?" * len(chunk))
            rows = self._db.rows(f"SELECT fill_id FROM fills WHERE fill_id IN ({marks})", chunk)  # noqa: S608
            found.update(str(f) for (f,) in rows)
        return set(ids) - found

    def filled(self, order_id: str) -> Decimal:
        """The contracts the stored fills of `order_id` add up to."""
        rows = self._db.rows("SELECT count FROM fills WHERE order_id = ?", (order_id,))
        return sum((Decimal(count) for (count,) in rows), Decimal(0))

    def of_orders(self, order_ids: Collection[str]) -> list[FillRecord]:
        """The fills of these orders, in time order."""
        ids = list(order_ids)
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        sql = f"SELECT {_FILL_COLUMNS} FROM fills WHERE order_id IN ({marks}) ORDER BY ts, rowid"  # noqa: S608
        return list(_fill_records(self._db.rows(sql, ids)))

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
        return _fill_records(self._db.stream(f"{sql} ORDER BY ts, rowid", params))

    def iter_fill_rows(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        subaccount: int | None = None,
    ) -> Iterator[tuple[str, str, str, str, str, float]]:
        """(ticker, book_side, yes_price, count, fee, ts) in time order, money and
        counts as their canonical TEXT: the lean stream `kalshi pnl` parses itself, because
        building a FillRecord per row costs more than the P&L arithmetic over a million fills."""
        where, params = where_given(
            {"ts >= ?": since, "ts < ?": until, "subaccount = ?": subaccount}
        )
        return self._db.stream(
            "SELECT ticker, book_side, yes_price, count, fee, ts "  # noqa: S608
            f"FROM fills{where} ORDER BY ts, rowid",
            params,
        )

    def next_fill_ts(self, at: float | None, *, subaccount: int | None = None) -> float | None:
        """The time of the first fill at or after `at` (of all, if None): one seek in the
        `ts` index."""
        where, params = where_given({"ts >= ?": at, "subaccount = ?": subaccount})
        found = self._db.rows(f"SELECT min(ts) FROM fills{where}", params)[0][0]  # noqa: S608
        return None if found is None else float(found)  # unix seconds

    def last_fill_ts(self, ticker: str, *, subaccount: int | None = None) -> float | None:
        """The time of the market's last fill (one seek in the `(ticker, ts)` index)."""
        where, params = where_given({"ticker = ?": ticker, "subaccount = ?": subaccount})
        found = self._db.rows(f"SELECT max(ts) FROM fills{where}", params)[0][0]  # noqa: S608
        return None if found is None else float(found)  # unix seconds

    def fill_subaccounts(self) -> list[int]:
        """The subaccounts the state file has fills of, in order: the numbered ones from the
        partial index `fills_subaccount` (empty for an account trading on the primary only),
        the primary by its first fill."""
        numbered = self._db.rows(
            "SELECT DISTINCT subaccount FROM fills WHERE subaccount != 0 ORDER BY 1"
        )
        primary = self._db.rows("SELECT 1 FROM fills WHERE subaccount = 0 LIMIT 1")
        return [0] * len(primary) + [int(n) for (n,) in numbered]

    def fill_tickers(
        self, *, subaccount: int | None = None, since: float | None = None
    ) -> set[str]:
        """The markets the state file has fills in (of `subaccount` only, when given; those
        at or after `since` only, when given)."""
        where, params = where_given({"ts >= ?": since, "subaccount = ?": subaccount})
        rows = self._db.rows(f"SELECT DISTINCT ticker FROM fills{where}", params)  # noqa: S608
        return {str(t) for (t,) in rows}

    def from_flat(
        self,
        ticker: str,
        before: float,
        *,
        since: float | None = None,
        subaccount: int | None = None,
    ) -> list[FillRecord]:
        """The fills of `ticker` a replay of its position from nothing may start with, in time
        order: those after the last moment before `before` at which the market's fills from
        `since` netted to nothing, then every fill from `before` on. `since` must be a flat
        moment. The net is summed in hundredths of a contract; a finer count reads back to
        `since`."""
        where, params = where_given(
            {"ts >= ?": since, "ts < ?": before, "ticker = ?": ticker, "subaccount = ?": subaccount}
        )
        net, finer = self._db.rows(
            "SELECT sum(CASE WHEN book_side = 'bid' THEN 1 ELSE -1 END "  # noqa: S608
            "* CAST(round(count * 100) AS INTEGER)), "
            "max(instr(count, '.') > 0 AND length(count) - instr(count, '.') > 2) "
            f"FROM fills{where}",
            params,
        )[0]
        # the account's position at `before` (None: not summed), walked back fill by fill
        held = None if finer else Decimal(net or 0) / 100
        earlier: list[FillRecord] = []
        if held != 0:
            cursor = self._db.stream(
                f"SELECT {_FILL_COLUMNS} FROM fills{where} ORDER BY ts DESC, rowid DESC",  # noqa: S608
                params,
            )
            for fill in _fill_records(cursor):
                earlier.append(fill)
                if held is not None:
                    held -= fill.signed_count
                    if held == 0:
                        break
            cursor.close()
        earlier.reverse()
        return earlier + list(self.iter_fills(since=before, ticker=ticker, subaccount=subaccount))

    def correct_subaccounts(self, subaccounts: dict[str, int]) -> int:
        """Give each known fill (by fill_id) the subaccount the exchange lists it under, and
        its order the same (an order's fills are all on its subaccount): rows written before
        the state file kept subaccounts were recorded as the primary's. Returns how many fills
        changed; a fill already right is not written."""
        changed = 0
        with self._db.transaction():
            for fill_id, named in subaccounts.items():
                number = subaccount_number(named)
                cur = self._db.conn.execute(
                    "UPDATE fills SET subaccount = ? WHERE fill_id = ? AND subaccount != ?",
                    (number, fill_id, number),
                )
                if cur.rowcount == 1:
                    changed += 1
                    self._db.conn.execute(
                        "UPDATE orders SET subaccount = ? WHERE order_id = "
                        "(SELECT order_id FROM fills WHERE fill_id = ?)",
                        (number, fill_id),
                    )
        return changed

    def iter_fill_moves(
        self, since: float, until: float, *, subaccount: int | None = None, owned: bool = False
    ) -> Iterator[tuple[str, str, str, str, float | None, str | None]]:
        """(ticker, signed count, cost, fee, unix seconds, strategy) of the fills with `since` <=
        ts < `until`, in time order, money and counts as their canonical text: the count as is
        for a bid (buys YES) and with a leading '-' for an ask (buys NO); the cost of one
        contract of the side bought, the YES price for a bid and "1-" before it for an ask ($1
        less it, the NO side's cost). SQLite folds the side into the count and the price, so
        `kalshi pnl` parses three values a fill; its caller asks for one UTC day between
        settlements at a time. The time and strategy are None unless `owned` (whose part each
        fill builds): reading them costs a tenth of `kalshi pnl`'s time."""
        where, params = where_given(
            {"ts >= ?": since, "ts < ?": until, "subaccount = ?": subaccount}
        )
        whose = "ts, strategy" if owned else "NULL, NULL"
        return self._db.stream(
            "SELECT ticker, "  # noqa: S608
            "CASE WHEN book_side = 'bid' THEN count ELSE '-' || count END, "
            "CASE WHEN book_side = 'bid' THEN yes_price ELSE '1-' || yes_price END, "
            f"fee, {whose} FROM fills{where} ORDER BY ts, rowid",
            params,
        )

    def count_fills(self) -> int:
        return int(self._db.rows("SELECT count(*) FROM fills")[0][0])

    def unrealized_books(self) -> set[tuple[int, str]]:
        """The (subaccount, market) pairs of the fills without a realized P&L yet, found by
        the index of those alone (`fills_without_realized`)."""
        rows = self._db.rows(
            "SELECT DISTINCT subaccount, ticker FROM fills WHERE realized_pnl IS NULL"
        )
        return {(int(number), str(ticker)) for number, ticker in rows}


def _attribution(f: FillRecord) -> tuple[object, ...]:
    return (f.client_order_id, f.strategy, f.fill_id)


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
        figure_text(f.realized_pnl),
        subaccount_number(f.subaccount),
    )


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
    where, params = where_given(
        {"ts >= ?": since, "ts < ?": until, "ticker = ?": ticker, "subaccount = ?": subaccount}
    )
    return f"SELECT {_FILL_COLUMNS} FROM fills{where}", params  # noqa: S608


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
