"""The trading state and the risk trips (tables `trading_state`, `trading_state_history` and
`risk_trips`): rows, so no restart clears a HALTED state or the day's circuit breaker."""

from __future__ import annotations

from enum import Enum

from kalshi_cli.clock import utc_datetime
from kalshi_cli.store.connection import APPLIED_SQL, StoreBase
from kalshi_cli.store.records import TRADING_STATES, RiskTripRecord, TradingStateRecord
from kalshi_cli.store.values import day_start, where_clause


class TradingStateMixin(StoreBase):
    """ACTIVE / REDUCING / HALTED / SAFE_MODE with its history, and every risk trip."""

    def trading_state(self) -> TradingStateRecord:
        """The current state; ACTIVE (source "default") when never set, as of the file's
        creation."""
        rows = self._rows("SELECT state, reason, source, at FROM trading_state WHERE id = 1")
        if rows:
            return TradingStateRecord(*rows[0])
        first = self._rows(APPLIED_SQL + " LIMIT 1")
        return TradingStateRecord(
            "ACTIVE",
            "never set",
            "default",
            float(first[0][1]) if first else 0.0,
        )

    def set_trading_state(self, state: str, *, reason: str, source: str) -> TradingStateRecord:
        state = str(state.value if isinstance(state, Enum) else state)
        if state not in TRADING_STATES:
            raise ValueError(f"trading state must be one of {TRADING_STATES}, not {state!r}")
        record = TradingStateRecord(state, reason, source, self.clock.wall())
        values = (record.state, record.reason, record.source, record.at)
        with self.transaction():
            self._conn.execute(
                "INSERT INTO trading_state (id, state, reason, source, at) VALUES (1, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET state = excluded.state, reason = excluded.reason, "
                "source = excluded.source, at = excluded.at",
                values,
            )
            self._conn.execute(
                "INSERT INTO trading_state_history (state, reason, source, at) VALUES (?, ?, ?, ?)",
                values,
            )
        return record

    def trading_state_history(self, limit: int = 20) -> list[TradingStateRecord]:
        rows = self._newest(
            "SELECT state, reason, source, at FROM trading_state_history", [], "id", limit
        )
        return [TradingStateRecord(*r) for r in rows]

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
        now = self.clock.wall()
        if day is None:
            day = utc_datetime(now).strftime("%Y-%m-%d")
        else:
            day_start(day)
        record = RiskTripRecord(rule, code, detail, ticker, day, now)
        self._write(
            "INSERT INTO risk_trips (rule, code, detail, ticker, day, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (rule, code, detail, ticker, day, now),
        )
        return record

    def risk_trips(
        self, *, rule: str | None = None, day: str | None = None
    ) -> list[RiskTripRecord]:
        where: list[str] = []
        params: list[object] = []
        if rule is not None:
            where.append("rule = ?")
            params.append(rule)
        if day is not None:
            where.append("day = ?")
            params.append(day)
        rows = self._rows(
            f"SELECT rule, code, detail, ticker, day, at FROM risk_trips{where_clause(where)} "  # noqa: S608
            "ORDER BY id",
            params,
        )
        return [RiskTripRecord(*r) for r in rows]
