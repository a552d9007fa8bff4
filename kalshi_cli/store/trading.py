"""The trading state and the risk trips (tables `trading_state`, `trading_state_history` and
`risk_trips`): rows, so no restart clears a HALTED state or the day's circuit breaker. With
them, the day's realized P&L the circuit breaker compares with its limit: this repository is
what the risk layer reads and writes (`kalshi_cli.risk.state.TradingRecords`). And the markets
whose unowned contracts are given to a strategy (`assignments`), kept for the next start."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from kalshi_cli.store.connection import APPLIED_SQL, Database
from kalshi_cli.store.records import TRADING_STATES, RiskTripRecord, TradingStateRecord
from kalshi_cli.store.settlements import SettlementRepository
from kalshi_cli.store.values import DAY_SECONDS, where_given
from kalshi_cli.vocabulary.clock import day_start, utc_day
from kalshi_cli.vocabulary.units import ZERO


class TradingStateRepository:
    """ACTIVE / REDUCING / HALTED / SAFE_MODE with its history, every risk trip, and the
    realized P&L of a UTC day (from the fills, and the settlements through `settlements`)."""

    def __init__(self, db: Database, settlements: SettlementRepository) -> None:
        self._db = db
        self._settlements = settlements
        self._created: float | None = None
        # on a file only this connection can write, the state as last read, and the count of
        # rollbacks then (`_kept`)
        self._state: TradingStateRecord | None = None
        self._state_rolled_back = -1
        # each day's fills' realized P&L as last read (`_fills_pnl`)
        self._pnl: dict[str, _KeptSum] = {}

    def assignments(self) -> dict[str, str]:
        """The strategy each market's unowned contracts are given to (`kalshi trade --assign`),
        by ticker."""
        rows = self._db.rows("SELECT ticker, strategy FROM assignments ORDER BY ticker")
        return {str(ticker): str(strategy) for ticker, strategy in rows}

    def set_assignments(self, given: Mapping[str, str | None]) -> None:
        """Each ticker's assignment replaced by its strategy, or cleared (None), in one
        transaction."""
        with self._db.transaction():
            for ticker, strategy in given.items():
                if strategy is None:
                    self._db.write("DELETE FROM assignments WHERE ticker = ?", (ticker,))
                else:
                    self._db.write(
                        "INSERT OR REPLACE INTO assignments (ticker, strategy, at) "
                        "VALUES (?, ?, ?)",
                        (ticker, strategy, self._db.clock.wall()),
                    )

    def trading_state(self) -> TradingStateRecord:
        """The current state; ACTIVE (source "default") when never set, as of the file's
        creation. The state is read before every order, inside the transaction that records
        its intent; on a file held exclusively (a backtest's), no other connection can write
        it and every write of this one goes through `set_trading_state`, so the row read last
        is the row a read would return, until a write or a rollback (`_kept`)."""
        kept = self._kept()
        if kept is not None:
            return kept
        rows = self._db.rows("SELECT state, reason, source, at FROM trading_state WHERE id = 1")
        if rows:
            state = TradingStateRecord(*rows[0])
        else:
            state = TradingStateRecord("ACTIVE", "never set", "default", self._created_at())
        if self._db.exclusive:
            self._state, self._state_rolled_back = state, self._db.rolled_back
        return state

    def _kept(self) -> TradingStateRecord | None:
        """The state read last, while nothing can have changed it since: the file is held
        exclusively, this repository wrote no state since, and no transaction was rolled back
        since (one that wrote the state, and was read inside, would leave it stale)."""
        if self._state is None or self._state_rolled_back != self._db.rolled_back:
            return None
        return self._state

    def _created_at(self) -> float:  # unix seconds
        """When the file was made (its first migration): read once, as it never changes; the
        trading state is read before every order."""
        if self._created is None:
            first = self._db.rows(APPLIED_SQL + " LIMIT 1")
            if not first:
                return 0.0
            self._created = float(first[0][1])
        return self._created

    def set_trading_state(self, state: str, *, reason: str, source: str) -> TradingStateRecord:
        state = str(state.value if isinstance(state, Enum) else state)
        if state not in TRADING_STATES:
            raise ValueError(f"trading state must be one of {TRADING_STATES}, not {state!r}")
        record = TradingStateRecord(state, reason, source, self._db.clock.wall())
        values = (record.state, record.reason, record.source, record.at)
        self._state = None  # read again after this write, whether it commits or not
        with self._db.transaction():
            self._db.conn.execute(
                "INSERT INTO trading_state (id, state, reason, source, at) VALUES (1, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET state = excluded.state, reason = excluded.reason, "
                "source = excluded.source, at = excluded.at",
                values,
            )
            self._db.conn.execute(
                "INSERT INTO trading_state_history (state, reason, source, at) VALUES (?, ?, ?, ?)",
                values,
            )
        return record

    def trading_state_history(self, limit: int | None = 20) -> list[TradingStateRecord]:
        """The states set, oldest first: the newest `limit` of them (None: every one)."""
        rows = self._db.newest(
            "SELECT state, reason, source, at FROM trading_state_history", [], "id", limit
        )
        return [TradingStateRecord(*r) for r in rows]

    def states_since_active(self) -> list[TradingStateRecord]:
        """The states set since trading was last ACTIVE, oldest first (none while it is): who
        stopped trading, and who stopped it further since."""
        rows = self._db.rows(
            "SELECT state, reason, source, at FROM trading_state_history WHERE id > "
            "(SELECT COALESCE(MAX(id), 0) FROM trading_state_history WHERE state = 'ACTIVE') "
            "ORDER BY id"
        )
        return [TradingStateRecord(*r) for r in rows]

    def transaction(self) -> AbstractContextManager[None]:
        """The store's transaction (`Store.transaction`), for the risk layer's writes made
        together."""
        return self._db.transaction()

    def record_risk_trip(
        self,
        *,
        rule: str,
        code: str,
        detail: str,
        ticker: str | None = None,
        day: str | None = None,
    ) -> RiskTripRecord:
        """A risk rule tripped. `day` defaults to today (UTC) by the store's clock."""
        now = self._db.clock.wall()
        if day is None:
            day = utc_day(now)
        else:
            day_start(day)
        record = RiskTripRecord(rule, code, detail, ticker, day, now)
        self._db.write(
            "INSERT INTO risk_trips (rule, code, detail, ticker, day, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (rule, code, detail, ticker, day, now),
        )
        return record

    def risk_trips(
        self, *, rule: str | None = None, day: str | None = None
    ) -> list[RiskTripRecord]:
        where, params = where_given({"rule = ?": rule, "day = ?": day})
        rows = self._db.rows(
            f"SELECT rule, code, detail, ticker, day, at FROM risk_trips{where} "  # noqa: S608
            "ORDER BY id",
            params,
        )
        return [RiskTripRecord(*r) for r in rows]

    def daily_realized_pnl(self, day: str) -> Decimal:
        """Realized P&L of one UTC day ("YYYY-MM-DD"): the `realized_pnl` of that day's fills
        (those that carry one) plus each settlement of that day's `realized_pnl`
        (revenue - yes_total_cost - no_total_cost: the fee is out of the revenue already; every
        subaccount's, each once). The fills' part is kept and read again at the cost of the
        fills added since (`_fills_pnl`), not of the day's."""
        start = day_start(day)
        total = self._fills_pnl(day, start)
        for s in self._settlements.read(since=start, until=start + DAY_SECONDS):
            total += s.realized_pnl
        return total

    def _fills_pnl(self, day: str, start: float) -> Decimal:
        """The day's fills' realized P&L, summed exactly (Decimal, in Python: SQLite's sum is
        floating point). The sum read last is kept with the file's count of changes to fills
        other than additions (migration 0011's triggers) and the last fill it covered; while
        that count has not moved, no rollback of this connection came since, and that fill is
        still where it was, the only fills it lacks are those with a higher rowid, and those
        alone are read. Each read is one statement, so one snapshot of the file."""
        kept = self._pnl.get(day)
        if kept is not None and kept.rolled_back == self._db.rolled_back:
            rows = self._db.rows(_FILLS_SINCE_SQL, (kept.rowid,))
            changes, rowid, fill_id = rows[0][:3]
            if changes == kept.changes and (kept.fill_id is None or fill_id == kept.fill_id):
                end = start + DAY_SECONDS
                total = kept.total
                anchor = 0 if kept.fill_id is None else 1  # the kept last fill: summed
                for _, _, _, ts, value in rows[anchor:]:
                    if value is not None and start <= ts < end:
                        total += Decimal(value)
                if rows[-1][1] is not None:
                    kept.rowid, kept.fill_id = rows[-1][1], rows[-1][2]
                kept.total = total
                return total
        rows = self._db.rows(_DAY_FILLS_SQL, (start, start + DAY_SECONDS))
        changes, rowid, fill_id, _ = rows[0]
        total = ZERO
        for *_, value in rows:
            if value is not None:
                total += Decimal(value)
        if len(self._pnl) >= _DAYS_KEPT and day not in self._pnl:
            del self._pnl[next(iter(self._pnl))]  # the day asked about first
        self._pnl[day] = _KeptSum(changes, rowid or 0, fill_id, total, self._db.rolled_back)
        return total


@dataclass(eq=False, slots=True)
class _KeptSum:
    """A day's fills' realized P&L as read last: the file's count of changes other than
    additions then, the last fill (highest rowid) then (0 and None: there was none), and the
    count of this connection's rollbacks then."""

    changes: int
    rowid: int
    fill_id: str | None
    total: Decimal
    rolled_back: int


# the days whose sums are kept: today, with room for the day before and a few asked about
_DAYS_KEPT = 4
# the count of changes, then the kept last fill (when it still has its rowid) and every fill
# after it, in rowid order (the primary key: a seek, not a scan)
_FILLS_SINCE_SQL = (
    "SELECT c.changes, f.rowid, f.fill_id, f.ts, f.realized_pnl FROM fill_pnl_changes c "
    "LEFT JOIN fills f ON f.rowid >= ? ORDER BY f.rowid"
)
# the count of changes and the last fill, with the day's realized P&L (in the `ts` index)
_DAY_FILLS_SQL = (
    "SELECT c.changes, m.id, m.fill_id, f.realized_pnl FROM fill_pnl_changes c "
    "LEFT JOIN (SELECT rowid AS id, fill_id FROM fills ORDER BY rowid DESC LIMIT 1) m "
    "LEFT JOIN fills f ON f.ts >= ? AND f.ts < ? AND f.realized_pnl IS NOT NULL"
)
