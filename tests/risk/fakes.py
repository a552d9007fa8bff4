"""The risk engine over an in-memory stand-in for the state file's trading records, and the
events it emits, for the risk tests."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from decimal import Decimal as D

from kalshi_cli.risk.engine import RiskEngine, RiskLimits
from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import standard_rates

START = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@dataclass(frozen=True)
class Row:
    state: str
    reason: str
    source: str


class MemoryRecords:
    """The TradingRecords part of the Store in memory, keeping every row written as the store
    does (the state file keeps a trading-state history a person reads); outlives any engine
    built over it."""

    def __init__(self) -> None:
        self.history: list[Row] = [Row("ACTIVE", "", "default")]
        self.trips: list[dict[str, str | None]] = []
        self.pnl: dict[str, D] = {}

    @property
    def state(self) -> Row:
        return self.history[-1]

    def trading_state(self) -> Row:
        return self.state

    def set_trading_state(self, state: str, *, reason: str, source: str) -> None:
        self.history.append(Row(str(state), reason, source))

    def record_risk_trip(self, *, rule, code, detail, ticker=None, day=None) -> None:
        self.trips.append(
            {"rule": rule, "code": str(code), "detail": detail, "ticker": ticker, "day": day}
        )

    def risk_trips(self, *, rule=None, day=None):
        return [t for t in self.trips if rule in (None, t["rule"]) and day in (None, t["day"])]

    def daily_realized_pnl(self, day: str) -> D:
        return self.pnl.get(day, D(0))

    def transaction(self) -> contextlib.nullcontext[None]:  # one process: nothing to commit
        return contextlib.nullcontext()


class Events:
    """The engine's event sink: every event it emitted, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []

    def __call__(self, kind, data) -> None:
        self.seen.append((kind, dict(data)))

    def kinds(self) -> list[str]:
        return [k for k, _ in self.seen]


def make(limits: RiskLimits | None = None, records: MemoryRecords | None = None, clock=None):
    """A risk engine at `START` (or on `clock`) over `records`: (engine, records, clock,
    events)."""
    records = records or MemoryRecords()
    clock = clock or ManualClock(START)
    events = Events()
    return (
        RiskEngine(records, limits, clock=clock, fee_rates=standard_rates, sink=events),
        records,
        clock,
        events,
    )
