"""What several of the executor's components share, each for one purpose, built once by
runner/assembly.py and handed only to the components that use all of it:

- `Bookkeeping`: where a component books the exchange's answers: the state file, the trading records
  read from it, and the loop's view of positions and orders;
- `Report`: the entry log and the run's counters;
- `Holds`: what holds an order back: the API error guard's backoff, the markets with an order of
  unknown outcome, the wait after a refusal for balance; and which of them an order's refusal or
  lost answer holds.

Each is a frozen record of components that exist on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kalshi_cli.vocabulary.errors import ApiError, answered_code

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.books.records import LoopTradingRecords
    from kalshi_cli.runner.execution.balance_hold import BalanceHold
    from kalshi_cli.runner.execution.call_guard import CallGuard, Counters
    from kalshi_cli.runner.execution.unknown_orders import UnknownOrders
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.errors import KalshiError, OrderOutcomeUnknown


@dataclass(frozen=True)
class Bookkeeping:
    store: Store
    records: LoopTradingRecords
    portfolio: Portfolio


@dataclass(frozen=True)
class Report:
    log: EntryLog
    counters: Counters


@dataclass(frozen=True)
class Holds:
    guard: CallGuard
    unknown: UnknownOrders
    balance_hold: BalanceHold

    def refused(self, exc: KalshiError, ticker: str, sent_at: float) -> None:
        """A write of `ticker` sent at `sent_at` refused, or never sent: a shard short of
        collateral is no API error (runner/execution/balance_hold.py); any other refusal the API
        error guard counts."""
        code = exc.code if isinstance(exc, ApiError) else None
        if not self.balance_hold.refused(code, ticker):
            self.guard.failed(exc, sent_at)

    def lost(self, exc: OrderOutcomeUnknown, ticker: str, sent_at: float) -> None:
        """A write of `ticker` sent at `sent_at` whose answer was lost: a paused shard's answer
        is no API error (runner/execution/balance_hold.py); any other the API error guard
        counts."""
        if not self.balance_hold.unavailable(answered_code(exc), ticker):
            self.guard.failed(exc, sent_at)
