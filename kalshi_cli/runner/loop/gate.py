"""What may go out now, by the rules the loop withdraws its quotes by: a market closed or stale
holds every order there, and a blocking state (a trading state other than ACTIVE, the circuit
breaker, the pause, a maintenance window) holds every order that adds to a position.

`MarketGate` keeps what those rules read as the watch last saw it (runner/loop/watch.py): the
markets closed, the trading state, the circuit breaker, the pause and the maintenance window.
It is built before the executor and the watch, and handed to both: the watch tells it what it
sees, the executor asks it of an order decided earlier before it goes (`withheld`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kalshi_cli.vocabulary.trading_state import TradingState

if TYPE_CHECKING:
    from kalshi_cli.risk.engine import RiskEngine
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.execution.call_guard import CallGuard
    from kalshi_cli.runner.loop.shared import Tuning
    from kalshi_cli.runner.ports import MarketFeed
    from kalshi_cli.vocabulary.decisions import Intent


class MarketGate:
    def __init__(
        self, *, feed: MarketFeed, risk: RiskEngine, tuning: Tuning, log: EntryLog
    ) -> None:
        self._feed = feed
        self._risk = risk
        self._tuning = tuning
        self._log = log
        # markets closed, determined or settled: the watch adds them, the market pass skips them
        self.closed: set[str] = set()
        self.state: str = ""  # the trading state last read ("" before the first read)
        self.tripped = False  # the daily circuit breaker, as the loop last handed it
        self.maintenance: tuple[float, float] | None = None  # the window holding now, if any
        self.paused_by_signal = False
        self._paused = False  # as last logged

    @property
    def paused(self) -> bool:
        pause_file = self._tuning.settings.pause_file
        paused = self.paused_by_signal or (pause_file is not None and pause_file.exists())
        if paused != self._paused:
            self._paused = paused
            self._log.emit("paused" if paused else "unpaused", {"pause_file": pause_file})
        return paused

    @property
    def last_paused(self) -> bool:
        """The pause as last read: the heartbeat reports it without reading the file again."""
        return self._paused

    def toggle_pause(self) -> None:
        """SIGUSR1: pause new orders, or resume them (stop-losses always go out)."""
        self.paused_by_signal = not self.paused_by_signal

    def blocked(self, tripped: bool) -> str | None:
        """Why no order that adds to a position may go out in any market now, if so."""
        if self.state != "ACTIVE":
            return self.state
        if tripped:
            return "circuit breaker"
        if self.paused:
            return "paused"
        if self.maintenance is not None and self._risk.limits.maintenance_withdraw != "none":
            return "maintenance"
        return None

    def nothing_leaves(self, guard: CallGuard) -> str | None:
        """Why no order may leave now (None: they may), asked off the deciding path as a send
        worker takes an order's call and again at its request's turn from the rate limiter
        (runner/execution/dispatch.py `withheld`): the API error guard has just put trading
        into SAFE_MODE (the tick reads it at its end), or the trading state last read is one
        only a person lifts. So an order recorded while trading was ACTIVE, still waiting for a
        worker or the write budget, is withdrawn, never sent after it."""
        if guard.safe_mode_tripped:
            return "trading went into SAFE_MODE (the API error guard)"
        if self.state in (TradingState.HALTED, TradingState.SAFE_MODE):
            return f"trading is {self.state}"
        return None

    def stale(self, ticker: str) -> bool:
        """The stale-feed rule's reading of this market: no fresh book, or no market data for it
        for `risk.stale_after_s` (its own book age, pings excluded: docs/feed.md)."""
        if not self._feed.is_fresh(ticker):
            return True
        return self._feed.data_age(ticker) >= self._risk.limits.stale_after_s

    def withheld(self, intent: Intent) -> str | None:
        """Why this order may not go out now (None: it may): its market closed or stale, or,
        unless reduce-only, a blocking state."""
        ticker = intent.ticker
        if ticker in self.closed:
            return "market closed"
        if self.stale(ticker):
            return "stale feed"
        if intent.reduce_only:
            return None
        return self.blocked(self.tripped)
