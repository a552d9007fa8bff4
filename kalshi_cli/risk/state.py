"""The trading state's moves (vocabulary/trading_state.py), and the narrow view of the state file
the risk layer persists through. The state is a row in the state file, so no restart clears it.
`TradingRecords` names the Store methods the risk layer uses, so tests pass a small fake.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Protocol

from kalshi_cli.vocabulary.trading_state import TradingState


class StateRow(Protocol):
    @property
    def state(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def source(self) -> str: ...


class TradingRecords(Protocol):
    """What the risk layer reads and writes: the state file's `store.trading`, or the trade
    loop's cache over it (`runner/books/records.py`)."""

    def trading_state(self) -> StateRow: ...

    # the store returns the record written; the risk layer has no use for it
    def set_trading_state(self, state: str, *, reason: str, source: str) -> object: ...

    def record_risk_trip(
        self,
        *,
        rule: str,
        code: str,
        detail: str,
        ticker: str | None = None,
        day: str | None = None,
    ) -> object: ...

    def risk_trips(
        self, *, rule: str | None = None, day: str | None = None
    ) -> Sequence[object]: ...

    def daily_realized_pnl(self, day: str) -> Decimal: ...

    def transaction(self) -> AbstractContextManager[None]:
        """Writes made in the block are one commit: a trip and the state it sets, so no kill
        leaves one without the other (a restart reads the state, not the trip)."""
        ...


_BY_VALUE = {state.value: state for state in TradingState}


def state_named(name: str) -> TradingState:
    """The state a row names (ValueError for a name no state has): a dictionary's look-up, as
    every order action asks it once or twice, where the enum's own call costs several Python
    calls."""
    found = _BY_VALUE.get(name)
    return TradingState(name) if found is None else found


def current_state(records: TradingRecords) -> TradingState:
    return state_named(records.trading_state().state)


def halt(records: TradingRecords, *, reason: str, source: str) -> None:
    """Stop all order placement until a person resumes (the kill switch's first step)."""
    records.set_trading_state(TradingState.HALTED, reason=reason, source=source)


def resume(records: TradingRecords, *, source: str = "kalshi resume") -> TradingState:
    """Back to ACTIVE; returns the state that was lifted. A circuit breaker tripped today keeps
    denying new orders anyway, because it reads today's trip, not the state."""
    before = current_state(records)
    records.set_trading_state(TradingState.ACTIVE, reason=f"resumed from {before}", source=source)
    return before
