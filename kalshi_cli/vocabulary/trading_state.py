"""The trading state: what the account may still do, as the state file holds it.

    ACTIVE      everything the other rules allow
    REDUCING    only reduce_only orders (the daily circuit breaker; stop-losses still go out)
    HALTED      nothing at all (`kalshi cancel-all` / `kalshi halt`)
    SAFE_MODE   nothing at all (the API error guard)

HALTED and SAFE_MODE are lifted only by a person (`kalshi resume`); the breaker's REDUCING lifts
itself on the next UTC day. The risk layer moves it (risk/state.py); the state file checks each
state it writes against it (store/trading.py).
"""

from __future__ import annotations

from enum import StrEnum


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"
    SAFE_MODE = "SAFE_MODE"

    def allows(self, *, reduce_only: bool) -> bool:
        if self is TradingState.ACTIVE:
            return True
        return self is TradingState.REDUCING and reduce_only

    @property
    def needs_person(self) -> bool:
        """Only `kalshi resume` lifts it."""
        return self in (TradingState.HALTED, TradingState.SAFE_MODE)
