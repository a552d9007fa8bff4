"""The risk engine's ledger during the loop: the state file, with the day's P&L kept in memory.

The circuit breaker asks for today's realized P&L every tick and again for every intent, and the
state file answers by reading every fill of the day, so the cost of an order would grow with the
day's fill count (a thousand fills made each order wait a millisecond more). The loop is the one
that records its own fills, each with its realized P&L, so it adds those to the cached total as
it writes them; the total is read again from the file on every full pass (every
`tick_interval_s`), which brings in what other processes wrote (`kalshi reconcile` importing
fills, a settlement). Risk trips are cached the same way and dropped whenever one is recorded.
The trading state is never cached: `kalshi halt` in another process must stop the next order.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.risk import utc_day

if TYPE_CHECKING:
    from kalshi_cli.risk.state import StateRow
    from kalshi_cli.store import Store


class LoopLedger:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pnl: dict[str, Decimal] = {}
        self._trips: dict[tuple[str | None, str | None], Sequence[object]] = {}

    def refresh(self) -> None:
        """Forget what was cached: the next questions are answered from the state file."""
        self._pnl.clear()
        self._trips.clear()

    def add_realized(self, ts: float, amount: Decimal) -> None:
        """A fill this loop just wrote with its realized P&L."""
        day = utc_day(ts)
        if day in self._pnl:
            self._pnl[day] += amount

    # ---------------------------------------------------------------- RiskLedger

    def trading_state(self) -> StateRow:
        return self.store.trading_state()

    def set_trading_state(self, state: str, *, reason: str, source: str) -> object:
        return self.store.set_trading_state(state, reason=reason, source=source)

    def record_risk_trip(
        self,
        *,
        rule: str,
        code: str,
        detail: str,
        ticker: str | None = None,
        day: str | None = None,
    ) -> object:
        self._trips.clear()
        return self.store.record_risk_trip(
            rule=rule, code=code, detail=detail, ticker=ticker, day=day
        )

    def risk_trips(self, *, rule: str | None = None, day: str | None = None) -> Sequence[object]:
        key = (rule, day)
        trips = self._trips.get(key)
        if trips is None:
            trips = self._trips[key] = self.store.risk_trips(rule=rule, day=day)
        return trips

    def daily_realized_pnl(self, day: str) -> Decimal:
        pnl = self._pnl.get(day)
        if pnl is None:
            pnl = self._pnl[day] = self.store.daily_realized_pnl(day)
        return pnl
