"""The wait after the exchange refused a buy for insufficient balance.

Otherwise the loop would send the same refused buy pass after pass, each a slot of the order-rate
cap and a write. After such a refusal, adding orders wait until the account changes as far as the
loop can see (a fill, a cancel), or `BALANCE_RETRY_S` passes. Reducing orders never wait.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kalshi_cli.runner.books.eventlog import EventLog
    from kalshi_cli.runner.execution.call_guard import Counters
    from kalshi_cli.vocabulary.clock import Clock

BALANCE_RETRY_S = 30.0
INSUFFICIENT_BALANCE = "insufficient_balance"  # the exchange's error code (REFERENCE.md)


class BalanceHold:
    def __init__(self, *, clock: Clock, counters: Counters, log: EventLog) -> None:
        self._clock = clock
        self._counters = counters
        self._log = log
        self._until: float | None = None  # monotonic; None: not holding
        self._seen = (0, 0)  # the fills and cancels counted when the refusal came

    def refused(self, code: str | None) -> None:
        """An order was refused with `code`; an insufficient balance starts the wait."""
        if code != INSUFFICIENT_BALANCE:
            return
        if self._until is None:
            self._log.emit("balance_short", {"retry_in_s": BALANCE_RETRY_S})
        self._until = self._clock.monotonic() + BALANCE_RETRY_S
        self._seen = (self._counters.fills, self._counters.cancels)

    def holds(self) -> bool:
        """Whether an order that adds to a position waits now."""
        if self._until is None:
            return False
        changed = (self._counters.fills, self._counters.cancels) != self._seen
        if changed or self._clock.monotonic() >= self._until:
            self._until = None
            return False
        return True
