"""What every part of the trade loop (`TradeLoop`, runner/loop.py) shares: its settings
(`LoopSettings`), the record of a market's last stop-loss (`StopAttempt`), and `LoopBase`, the
state set up once a run and kept from tick to tick, with what every part asks: is this order
the loop's own (`_placed_by_us`), withdraw its adding quotes (`_cancel_adding`: a blocking state,
a stale market, a strategy failing in a market), and the alert to post (`_alert`).

The loop is layered as the simulator's exchange is (sim/core/exchange.py): `MarketPass`
(runner/market_pass.py, one market's stop-loss and strategy call) and `LoopWatch`
(runner/loop_watch.py, the feed's events, the trading state, the pause, withdrawals and
breaches) on this base, and `TradeLoop` (the run, the tick, heartbeat and status, shutdown) on
both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.models import BookSide, Level
from kalshi_cli.risk import RiskEngine, utc_day
from kalshi_cli.runner.alerting import TradeAlerts
from kalshi_cli.runner.config import STRATEGY_ERRORS_ALERT, STRATEGY_ERRORS_SAFE_MODE
from kalshi_cli.runner.eventlog import EventLog
from kalshi_cli.runner.execution import Executor
from kalshi_cli.runner.ledger import LoopLedger
from kalshi_cli.runner.portfolio import MidHistory, OpenOrder, Portfolio
from kalshi_cli.runner.ports import LoopClient, MarketFeed
from kalshi_cli.runner.schedule import LagReport, MarketSchedule
from kalshi_cli.strategies import MarketSnapshot, PositionView, Strategy
from kalshi_cli.strategy_api import MarketTerms

if TYPE_CHECKING:
    from kalshi_cli.clock import Clock
    from kalshi_cli.orders import OrderService
    from kalshi_cli.store import Store


@dataclass(frozen=True)
class LoopSettings:
    strategy_name: str
    params: Any
    dry_run: bool = False
    status_interval_s: float = 60.0
    tick_interval_s: float = 1.0
    heartbeat_interval_s: float = 1.0
    # a `deadman` alert channel is pinged from the heartbeat at most this often (healthchecks'
    # shortest period is a minute; more often only costs requests)
    deadman_interval_s: float = 60.0
    fill_poll_s: float = 5.0
    resolve_s: float = 1.0  # how often an order of unknown outcome is looked up
    poll_s: float = 0.001  # a feed without `wait_for_events` is polled this often
    # the longest the idle loop waits for a feed event before it looks at `stop` again
    idle_wait_s: float = 0.05
    # the time a tick of `run` spends visiting markets before it goes back to the feed for
    # news (risk exits of held positions are not counted against it): docs/trade-loop.md
    tick_budget_s: float = 0.1
    # the longest an order that adds waits for others to join its batch before the batch goes
    # out anyway (runner/outbox.py): a tick-to-order cost a trader would not notice, a batch
    # of the orders some twenty visits decide
    batch_wait_s: float = 0.02
    # the fairness bound: a market not visited for this long goes ahead of markets with news
    # (`trade.max_revisit_s`); a loop past it, or whose news waits longer, is behind
    max_revisit_s: float = 10.0
    # seconds of mid history kept per market: the strategy's window (build_loop sets it); a
    # strategy without one reads no mids, so a minute is plenty
    history_s: float = 60.0
    pause_file: Path | None = None
    # a stop-loss whose close did not fill is sent again at once only if the held side's best
    # bid or the position changed; against the same book, only after this long
    stop_loss_retry_s: float = 2.0
    # failed strategy decisions in a row in one market: an alert, then SAFE_MODE
    strategy_errors_alert: int = STRATEGY_ERRORS_ALERT
    strategy_errors_safe_mode: int = STRATEGY_ERRORS_SAFE_MODE
    # how often the exchange's announced maintenance windows are read again
    schedule_poll_s: float = 60.0


@dataclass(frozen=True)
class StopAttempt:
    """The last firing of a market's stop-loss: when, against which best bid of the held side
    and which position, and whether its closes were tried (not held by the API backoff)."""

    at: float  # monotonic
    against: tuple[Level | None, Decimal]
    tried: bool


class LoopBase:
    def __init__(
        self,
        *,
        client: LoopClient,
        store: Store,
        orders: OrderService,
        feed: MarketFeed,
        clock: Clock,
        strategy: Strategy[Any],
        risk: RiskEngine,
        ledger: LoopLedger,
        portfolio: Portfolio,
        log: EventLog,
        settings: LoopSettings,
        alerts: TradeAlerts | None = None,
        complements: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        # ticker -> the other market of its two-outcome, mutually exclusive event
        self.complements: Mapping[str, str] = complements or {}
        self.ledger = ledger
        self.feed = feed
        self.clock = clock
        self.strategy = strategy
        self.risk = risk
        self.portfolio = portfolio
        # how each market settles (its strike fields, close, the index its rules name), and the
        # markets of each index: a new value of an index is news for them
        self.terms = {t: MarketTerms.from_market(m.raw) for t, m in portfolio.markets.items()}
        self.index_markets: dict[str, list[str]] = {}
        for ticker, terms in self.terms.items():
            if terms.index_id is not None:
                self.index_markets.setdefault(terms.index_id, []).append(ticker)
        self.log = log
        self.settings = settings
        self.alerts = alerts
        self.client = client
        # order id -> contracts ahead of it, read each full tick for a strategy that uses it
        self.queue_positions: dict[str, Decimal] = {}
        self.executor = Executor(
            client=client,
            store=store,
            orders=orders,
            risk=risk,
            ledger=ledger,
            portfolio=portfolio,
            log=log,
            clock=clock,
            dry_run=settings.dry_run,
        )
        self.history = MidHistory(settings.history_s)
        self.ticks = 0
        self.closed: set[str] = set()
        self.paused_by_signal = False
        self._paused = False
        self._state = ""
        self._day = utc_day(clock.wall())
        self._started = clock.monotonic()
        self._realized_at_start = portfolio.pnl.realized
        self._next_heartbeat = self._started
        self._next_deadman = self._started
        self._next_status = self._started + settings.status_interval_s
        self._next_fill_poll = self._started + settings.fill_poll_s
        self._next_resolve = self._started
        self._breached: set[str] = set()
        self._blocked_by: str | None = None  # the blocking state the quotes were withdrawn for
        self._next_schedule = self._started  # when the maintenance windows are read again
        self._maintenance: tuple[float, float] | None = None  # the window holding now, if any
        self._stops: dict[str, StopAttempt] = {}
        # ticker -> the strategy's failed decisions there in a row (runner/market_pass.py)
        self._strategy_errors: dict[str, int] = {}
        self.strategy_error_count = 0  # failed decisions of this run, every market
        # ticker -> the inputs of the strategy's last call there, when it decided nothing
        self._quiet: dict[str, tuple[Strategy[Any], MarketSnapshot, PositionView]] = {}
        # the strategy's window reaches back at least as far as the mids the loop keeps, so a
        # window over unchanged mids is unchanged (docs: `history_s` is set to `window_s`)
        window_s = getattr(settings.params, "window_s", None)
        self._window_is_horizon = window_s is None or settings.history_s <= window_s
        # which market a tick visits next, and the lag figures (runner/schedule.py)
        self.schedule = MarketSchedule(
            portfolio.markets, now=self._started, revisit_s=settings.max_revisit_s
        )
        # ticker -> the position view a held market's last visit saw: a new one (a fill, an
        # order) is news for its risk exits
        self._seen_views: dict[str, PositionView] = {}
        self.lag: LagReport | None = None  # the last heartbeat's figures
        self._behind = False
        self._pass_paused = False
        # `kill -HUP`: the params file read again at the next tick (TradeLoop.reload_params)
        self.params_file: Path | None = None
        self.reload_requested = threading.Event()
        # optional: MarketFeed does not require it, so a feed that cannot wake (recorded data
        # on a simulated clock) keeps working unchanged
        self._wait_for_events: Callable[[float], bool] | None = getattr(
            feed, "wait_for_events", None
        )
        # a paper loop answers its kill switch here, on each full pass while HALTED
        # (runner/paper.py `answer_kill`, paper_kill.py)
        self.on_halted: Callable[[], None] | None = None

    def _placed_by_us(self, order: OpenOrder) -> bool:
        """Sent by this loop, or resting under this strategy's name from an earlier run: an
        order placed by hand or by another strategy is not ours to cancel."""
        return order.order_id in self.executor.sent or order.strategy == self.settings.strategy_name

    def _cancel_adding(self, why: str, wanted: Callable[[OpenOrder], bool]) -> None:
        """Cancel this loop's orders (of the markets `wanted`) that would add to a position.
        An order the other way reduces it only as far as the position goes: once the orders
        placed by hand, then this loop's oldest first, would close all of it, the rest would
        open the opposite position, so they go too."""
        orders = list(self.portfolio.orders.values())
        closing: dict[str, Decimal] = {}  # ticker -> contracts already set to close it
        for order in sorted(orders, key=self._placed_by_us):  # orders placed by hand first
            if not wanted(order):
                continue
            position = self.portfolio.position(order.ticker)
            towards_yes = order.view.book_side is BookSide.BID
            reduces = position != 0 and (position > 0) != towards_yes
            if reduces:
                after = closing.get(order.ticker, Decimal(0)) + order.remaining
                if after <= abs(position) or not self._placed_by_us(order):
                    closing[order.ticker] = after
                    continue
            if self._placed_by_us(order):
                self._withdraw_one(order, why)

    def _withdraw_one(self, order: OpenOrder, why: str) -> None:
        """One withdraw cancel, then the heartbeat if it is due: during an outage each cancel
        fails only after the client's retries (seconds), and a dozen of them in one tick made a
        halted loop look dead (no heartbeat for 71 s) while it was doing its job."""
        self.executor.cancel_order(order.ticker, order.order_id, why, withdraw=True)
        self._beat_if_due(self.clock.monotonic())

    def _beat_if_due(self, now_m: float) -> None:  # monotonic seconds
        """Write the heartbeat when it is due (`TradeLoop`, runner/loop.py)."""

    def _alert(self, kind: str, key: str, summary: str, details: dict[str, str]) -> None:
        if self.alerts is not None:
            self.alerts.post(kind, key, summary, details)
