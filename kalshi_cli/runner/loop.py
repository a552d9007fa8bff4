"""The trade loop: one `tick` at a time, with the clock, the feed and the client injected.

A tick: take the feed's events (book changes, fills, order updates, freshness), look up orders
whose answer was lost (once a second while there are any), read new fills when one is due (not
while the API error guard asks for a backoff), note trading-state changes made by other
processes (`kalshi halt`, `cancel-all`, `resume`, which also lifts the API backoff), check the
daily circuit breaker, withdraw this loop's resting orders that would add to a position while
trading is blocked (outside ACTIVE, the breaker tripped, paused, or the market stale: at once
when the block begins, backoff or not, then on each full pass), then for each market (those
whose book changed, or all of them on a full pass) run the stop-loss and the strategy and send
what the risk engine allows. It ends with the
heartbeat row and the feed age in the state file, and every `status_interval_s` a status line.

`run` repeats ticks: one as soon as the feed has something and a full pass at least every
`tick_interval_s` (the timer work, heartbeats, fill polls, lookups of unknown orders, rides on
it). A feed that offers `wait_for_events` (MarketData) wakes the loop the moment it queues an
event; the wait never outlasts the next full pass, the run's deadline or `idle_wait_s` (how
soon a stop is seen), so it neither spins nor delays the timer work. A feed without it (a
recorded one on a simulated clock) is polled every `poll_s` of its clock. Nothing in a tick
sleeps or reads the wall clock directly, so tests drive it with a `ManualClock`, a fake feed
and a fake client, thousands of ticks a second.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.errors import KalshiError
from kalshi_cli.feed.book import EventKind, FeedEvent
from kalshi_cli.models import BookSide, Level, Orderbook, PriceRange, Side, parse_count
from kalshi_cli.risk import RiskEngine, utc_day
from kalshi_cli.runner.alerting import TradeAlerts
from kalshi_cli.runner.eventlog import EventLog
from kalshi_cli.runner.execution import Executor
from kalshi_cli.runner.ledger import LoopLedger
from kalshi_cli.runner.portfolio import MidHistory, OpenOrder, Portfolio, open_order
from kalshi_cli.runner.ports import LoopClient, MarketFeed
from kalshi_cli.runner.summary import Summary
from kalshi_cli.strategies import Cancel, Intent, MarketSnapshot, PositionView, Strategy
from kalshi_cli.strategies.base import Complement, best_bid
from kalshi_cli.strategies.window import MidWindow

if TYPE_CHECKING:
    from kalshi_cli.clock import Clock
    from kalshi_cli.orders import OrderService
    from kalshi_cli.store import Store

CLOSED_EVENTS = frozenset({"closed", "determined", "settled", "deactivated"})


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
    # seconds of mid history kept per market: the strategy's window (build_loop sets it); a
    # strategy without one reads no mids, so a minute is plenty
    history_s: float = 60.0
    pause_file: Path | None = None
    # a stop-loss whose close did not fill is sent again at once only if the held side's best
    # bid or the position changed; against the same book, only after this long
    stop_loss_retry_s: float = 2.0


@dataclass(frozen=True)
class StopAttempt:
    """The last firing of a market's stop-loss: when, against which best bid of the held side
    and which position, and whether its closes were tried (not held by the API backoff)."""

    at: float  # monotonic
    against: tuple[Level | None, Decimal]
    tried: bool


class TradeLoop:
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
        self._stops: dict[str, StopAttempt] = {}
        # ticker -> the inputs of the strategy's last call there, when it decided nothing
        self._quiet: dict[str, tuple[Strategy[Any], MarketSnapshot, PositionView]] = {}
        # the strategy's window reaches back at least as far as the mids the loop keeps, so a
        # window over unchanged mids is unchanged (docs: `history_s` is set to `window_s`)
        window_s = getattr(settings.params, "window_s", None)
        self._window_is_horizon = window_s is None or settings.history_s <= window_s
        self._pass_paused = False
        # optional: MarketFeed does not require it, so a feed that cannot wake (recorded data
        # on a simulated clock) keeps working unchanged
        self._wait_for_events: Callable[[float], bool] | None = getattr(
            feed, "wait_for_events", None
        )
        # a paper loop answers its kill switch here, on each full pass while HALTED
        # (runner/paper.py `answer_kill`, paper_kill.py)
        self.on_halted: Callable[[], None] | None = None

    # ---------------------------------------------------------------- running

    def run(
        self,
        *,
        stop: threading.Event,
        duration_s: float | None = None,
        max_ticks: int | None = None,
    ) -> None:
        deadline = None if duration_s is None else self._started + duration_s
        next_full = self.clock.monotonic()
        while not stop.is_set():
            now = self.clock.monotonic()
            if deadline is not None and now >= deadline:
                break
            if max_ticks is not None and self.ticks >= max_ticks:
                break
            events = self.feed.drain_events()
            full = now >= next_full
            if events or full:
                self.tick(events, full=full)
                if full:
                    next_full = now + self.settings.tick_interval_s
            elif self._wait_for_events is None:
                self.clock.sleep(self.settings.poll_s)
            else:
                wait_s = min(next_full - now, self.settings.idle_wait_s)
                if deadline is not None:
                    wait_s = min(wait_s, deadline - now)
                self._wait_for_events(max(wait_s, 0.0))

    def tick(self, events: Iterable[FeedEvent] = (), *, full: bool = True) -> None:
        self.ticks += 1
        changed, went_stale = self._handle_events(events)
        if self.portfolio.fee_changes:
            for change in self.portfolio.apply_fee_changes(self.clock.wall()):
                self.log.emit("fee_change", change.to_json())
        now_m = self.clock.monotonic()
        # while trading is blocked an order of unknown outcome may rest: it is looked up through
        # the backoff, as the withdrawing cancels go, so it is withdrawn once found
        may_look = self._blocked_by is not None or not self.executor.backing_off
        if self.executor.unknown and now_m >= self._next_resolve and may_look:
            self.executor.resolve_unknown(guarded=not self.executor.backing_off)
            self._next_resolve = now_m + self.settings.resolve_s
        due = self.executor.fills_due or now_m >= self._next_fill_poll
        # a failed read leaves fills_due set; retrying it every tick would ignore the backoff
        # and turn a short 429 burst into SAFE_MODE within milliseconds
        if due and not self.executor.backing_off:
            self.executor.sync_fills()
            self._next_fill_poll = now_m + self.settings.fill_poll_s
        # one look at the state file for the tick's own questions (docs/trade-loop.md)
        with self.ledger.tick(full=full):
            self._watch_state()
            if full and self.on_halted is not None and self._state == "HALTED":
                self.on_halted()
            tripped = self.risk.check_circuit_breaker()
        self._withdraw(tripped, full=full, went_stale=went_stale)
        self._check_breaches()
        tickers = (
            self.portfolio.markets if full else [t for t in changed if t in self.portfolio.markets]
        )
        if full:
            self._read_queue_positions()
        # the pause file is read once a pass, not once per market
        self._pass_paused = self.paused
        for ticker in tickers:
            self._trade(ticker)
        if self.executor.safe_mode_tripped:
            # an order or a fill read of this pass tripped SAFE_MODE: its quotes go now, not
            # on the next pass
            self.executor.safe_mode_tripped = False
            self._watch_state()
            self._withdraw(tripped, full=False, went_stale=set())
        self._housekeeping(now_m)

    # ---------------------------------------------------------------- one market

    def _trade(self, ticker: str) -> None:
        if ticker in self.closed:
            return
        book = self.feed.book(ticker)
        if book is None:
            return
        now = self.clock.wall()
        last = self._quiet.get(ticker)
        if last is not None and self._untouched(ticker, now, book, last):
            return
        mids = self.history.record(ticker, now, book) if self.strategy.reads_mids else ()
        view = self.portfolio.view(ticker)
        if view.resting:  # `_own_view`, whose answer is this view when nothing rests
            view = self._own_view(ticker)
        stops = self.risk.stop_loss(view, book)
        if stops:
            fresh = self.feed.is_fresh(ticker)
            against = (best_bid(book, stops[0].side), view.contracts)
            self._stop_loss(ticker, stops, against, self._last_data_at(ticker, now, fresh), fresh)
            return
        self._stops.pop(ticker, None)
        if self.executor.backing_off or self._pass_paused:
            return
        price_ranges = self.portfolio.markets[ticker].price_ranges
        taker_rate, maker_rate = self.portfolio.fee_rates(ticker, now)
        complement = self._complement(ticker) if ticker in self.complements else None
        # the snapshot is built only for a call: a quiet market's full pass costs no allocation
        if self._still_quiet(
            ticker,
            now,
            book,
            view,
            mids=mids,
            price_ranges=price_ranges,
            fee_rate=taker_rate,
            maker_fee_rate=maker_rate,
            complement=complement,
        ):
            return
        snapshot = MarketSnapshot(
            ticker,
            now,
            book,
            mids,
            price_ranges,
            fee_rate=taker_rate,
            maker_fee_rate=maker_rate,
            complement=complement,
        )
        # the book's freshness and age are read only when an order may go out
        fresh = self.feed.is_fresh(ticker)
        last_data_at = self._last_data_at(ticker, now, fresh)
        try:
            decisions = self.strategy.decide(snapshot, view, self.settings.params)
        except Exception as exc:  # a strategy bug must not take the loop (and its stops) down
            self.log.emit("strategy_error", {"ticker": ticker, "error": repr(exc)})
            return
        if decisions or self.strategy.clock_free is None:
            self._quiet.pop(ticker, None)
        else:
            self._quiet[ticker] = (self.strategy, snapshot, view)
        intents = [d for d in decisions if not isinstance(d, Cancel)]
        for decision in decisions:
            if isinstance(decision, Cancel):
                self.executor.cancel(decision)
        if len(intents) > 1 and (
            len({i.ticker for i in intents}) > 1 or self.strategy.uses_complements
        ):
            # legs that only pay together (an arbitrage pair, in two markets or in one) go out
            # together or not at all
            self.executor.execute_group(intents, last_data_at=last_data_at, in_sync=fresh)
            return
        for intent in intents:
            self.executor.execute(intent, last_data_at=last_data_at, in_sync=fresh)

    def _last_data_at(self, ticker: str, now: float, fresh: bool) -> float | None:  # float-ok
        """When this market's book last had data (its last data message or poll), never the
        feed's last frame: pings arrive every 10 s while data can stall behind them. Read only
        when an order may go out."""
        age = self.feed.data_age(ticker) if fresh else math.inf
        return now - age if age != math.inf else None

    def _still_quiet(
        self,
        ticker: str,
        now: float,  # float-ok: unix seconds
        book: Orderbook,
        view: PositionView,
        *,
        mids: Sequence[tuple[float, Decimal]],
        price_ranges: tuple[PriceRange, ...],
        fee_rate: Decimal,
        maker_fee_rate: Decimal,
        complement: Complement | None,
    ) -> bool:
        """Quiet markets: the strategy decided nothing on this market last time, and nothing it
        reads has changed since: the same strategy, book (and complement's), position, resting
        orders and queue positions, fee rates, and the same mid points (none added, none aged
        out of the window). A strategy that is `clock_free` for this position then decides
        nothing again, and the call is skipped: a full pass over markets whose books did not
        move costs no strategy call. Any doubt (the wall clock stepped back, a history horizon
        longer than the strategy's window) calls it. Compared field by field against the last
        call's snapshot, before a new one is built."""
        last = self._quiet.get(ticker)
        clock_free = self.strategy.clock_free
        if last is None or clock_free is None:
            return False
        strategy, before, before_view = last
        if strategy is not self.strategy:
            return False
        if not (view is before_view or view == before_view) or not clock_free(view):
            return False
        if not (book is before.book or book == before.book):
            return False
        if (
            fee_rate != before.fee_rate
            or maker_fee_rate != before.maker_fee_rate
            or complement != before.complement
            or price_ranges != before.price_ranges
            or now < before.ts
        ):
            return False
        before_mids = before.mids
        if isinstance(mids, MidWindow) and isinstance(before_mids, MidWindow):
            return (
                self._window_is_horizon and mids.same_as(before_mids) and mids.in_order_until(now)
            )
        return mids == before_mids == ()

    def _untouched(
        self,
        ticker: str,
        now: float,  # float-ok: unix seconds
        book: Orderbook,
        last: tuple[Strategy[Any], MarketSnapshot, PositionView],
    ) -> bool:
        """A quiet market none of whose inputs was even touched since the strategy's last call
        there (which decided nothing): the very same book object (a recorded feed builds one
        per change and hands it out until the next; the live feeds build one per read, so a
        live market always takes the full path), position view (the portfolio makes a new one
        on each fill, order or settlement of the market), complement book and price ranges,
        equal fee rates, the clock not stepped back, for a strategy that reads no mids (a mid
        strategy's window moves with the clock: it takes the full path) and is `clock_free`
        for that view. The rest of `_trade` could then only end where it ended last time: the
        stop-loss gave nothing for this view and book (it reads only them, and answers the
        same), the backoff and the pause only hold back a call, and `_still_quiet` would skip
        the call. So a full pass over markets whose books did not move costs a few look-ups
        each, not the whole chain; anything not the same object takes the full path."""
        strategy, before, before_view = last
        if strategy is not self.strategy or strategy.reads_mids or now < before.ts:
            return False
        if book is not before.book or before_view.resting:
            return False
        view = self.portfolio.view(ticker)
        if view is not before_view or strategy.clock_free is None:
            return False
        if not strategy.clock_free(view):
            return False
        complement = before.complement
        if complement is None:
            if ticker in self.complements and self._complement(ticker) is not None:
                return False
        else:
            other = self.complements.get(ticker)
            if (
                other != complement.ticker
                or other in self.closed
                or self.feed.book(other) is not complement.book
                or self.portfolio.markets[other].price_ranges is not complement.price_ranges
            ):
                return False
        if self.portfolio.markets[ticker].price_ranges is not before.price_ranges:
            return False
        taker_rate, maker_rate = self.portfolio.fee_rates(ticker, now)
        return taker_rate == before.fee_rate and maker_rate == before.maker_fee_rate

    def _own_view(self, ticker: str) -> PositionView:
        """The market's view with only this loop's resting orders: what the strategy and the
        stop-loss may cancel or replace. Orders placed by hand are the person's; the risk
        engine still counts them (it reads the whole view)."""
        view = self.portfolio.view(ticker)
        if not view.resting:
            return view
        mine = {o.order_id for o in self.portfolio.resting(ticker) if self._placed_by_us(o)}
        if len(mine) != len(view.resting):
            view = replace(view, resting=tuple(o for o in view.resting if o.order_id in mine))
        if self.queue_positions:
            ahead = self.queue_positions
            resting = (replace(o, queue_position=ahead.get(o.order_id)) for o in view.resting)
            view = replace(view, resting=tuple(resting))
        return view

    def _read_queue_positions(self) -> None:
        """The queue positions of this loop's resting orders, for a strategy that requotes by
        them (the market maker). A failed read leaves them unknown, which never keeps an order
        that would otherwise be replaced."""
        self.queue_positions = {}
        if (
            not self.strategy.uses_queue_positions
            or self.settings.dry_run
            or self.executor.backing_off
        ):
            return
        tickers = {o.ticker for o in self.portfolio.orders.values() if self._placed_by_us(o)}
        if not tickers:
            return
        try:
            self.queue_positions = self.client.get_queue_positions(market_tickers=sorted(tickers))
        except KalshiError as exc:
            self.log.emit("queue_positions_unavailable", {"error": str(exc)})

    def _complement(self, ticker: str) -> Complement | None:
        other = self.complements.get(ticker)
        if other is None or other in self.closed:
            return None
        book = self.feed.book(other)  # None unless fresh
        if book is None:
            return None
        return Complement(other, book, self.portfolio.markets[other].price_ranges)

    def _stop_loss(
        self,
        ticker: str,
        stops: list[Intent],
        against: tuple[Level | None, Decimal],
        last_data_at: float | None,
        fresh: bool,
    ) -> None:
        """Fire the stop-loss, at most once per `stop_loss_retry_s` against the same book. A
        close that cannot fill (the bid is gone, or is the trader's own order) would otherwise
        go out on every tick: a slot of the order-rate cap each time, which every other market
        shares, and a `stop_loss` event and alert each time. A new bid or a partial fill (a
        new position) makes it fire at once."""
        now = self.clock.monotonic()
        last = self._stops.get(ticker)
        if (
            last is not None
            and last.against == against
            and now < last.at + self.settings.stop_loss_retry_s
        ):
            # closes held by the backoff go out as soon as it is over, without a new signal
            if last.tried or self.executor.backing_off:
                return
        else:
            first = stops[0]
            self.log.emit(
                "stop_loss", {"ticker": ticker, "reason": first.reason, "orders": len(stops)}
            )
            self._alert("stop_loss", ticker, first.reason, {"ticker": ticker})
        tried = not self.executor.backing_off
        self._stops[ticker] = StopAttempt(now, against, tried)
        if tried:
            for intent in stops:
                self.executor.execute(intent, last_data_at=last_data_at, in_sync=fresh)

    # ---------------------------------------------------------------- events from the feed

    def _handle_events(self, events: Iterable[FeedEvent]) -> tuple[dict[str, None], set[str]]:
        """The markets whose book changed (in the order their news arrived: a set's order
        changes with the process's hash seed, and with it the order of the pass's orders), and
        those the feed has just called stale."""
        changed: dict[str, None] = {}
        went_stale: set[str] = set()
        for event in events:
            kind, ticker = event.kind, event.ticker
            if kind is EventKind.BOOK and ticker is not None:
                changed[ticker] = None
            elif kind is EventKind.FILL:
                self.executor.fills_due = True
            elif kind is EventKind.USER_ORDER and event.data is not None:
                self._order_update(event.data)
            elif kind is EventKind.STALE and ticker is not None:
                went_stale.add(ticker)
                self.log.emit("feed_stale", {"ticker": ticker, "reason": event.reason})
                self._alert("feed_stale", ticker, f"{ticker}: {event.reason}", {"ticker": ticker})
            elif kind is EventKind.FRESH and ticker is not None:
                self.log.emit("feed_fresh", {"ticker": ticker})
            elif kind is EventKind.LIFECYCLE and event.data is not None:
                self._lifecycle(event.data)
            elif kind is not EventKind.TICKER:
                self.log.emit(f"feed_{kind}", {"reason": event.reason, "source": event.source})
        return changed, went_stale

    def _order_update(self, data: Any) -> None:
        number = data.get("subaccount_number")  # the channel covers every subaccount
        if isinstance(number, int) and number != (self.client.subaccount or 0):
            return  # another subaccount's order: another book, never this loop's
        order_id = str(data.get("order_id", ""))
        ticker = str(data.get("ticker", ""))
        status = str(data.get("status", ""))
        remaining = parse_count(data.get("remaining_count_fp", "0"))
        if parse_count(data.get("fill_count_fp", "0")) > 0:
            self.executor.fills_due = True
        if not self.executor.order_message(data):
            return
        known = self.portfolio.orders.get(order_id)
        if known is not None and status == "resting" and remaining > 0:
            # an amend (by hand, or on the website) can move the price as well as the count;
            # the exposure rule prices every resting order
            self.portfolio.add_order(
                open_order(
                    order_id=order_id,
                    client_order_id=known.client_order_id,
                    ticker=known.ticker,
                    book_side=BookSide(str(data.get("book_side", "bid"))),
                    yes_price=Decimal(str(data.get("yes_price_dollars", "0"))),
                    side=known.side,
                    remaining=remaining,
                    strategy=known.strategy,
                )
            )
        elif known is not None:
            self.portfolio.update_order(order_id, remaining=remaining, status=status)
        elif status == "resting" and ticker in self.portfolio.markets:
            # placed elsewhere (by hand): it still counts toward the position limit
            self.portfolio.add_order(
                open_order(
                    order_id=order_id,
                    client_order_id=str(data.get("client_order_id", "")),
                    ticker=ticker,
                    book_side=BookSide(str(data.get("book_side", "bid"))),
                    yes_price=Decimal(str(data.get("yes_price_dollars", "0"))),
                    side=Side.YES,
                    remaining=remaining,
                    strategy=None,
                )
            )

    def _lifecycle(self, data: Any) -> None:
        ticker = str(data.get("market_ticker", ""))
        kind = str(data.get("event_type", ""))
        if ticker in self.portfolio.markets and kind in CLOSED_EVENTS and ticker not in self.closed:
            self.closed.add(ticker)
            self.log.emit("market_closed", {"ticker": ticker, "event_type": kind})

    # ---------------------------------------------------------------- state, pause, breaches

    @property
    def paused(self) -> bool:
        pause_file = self.settings.pause_file
        paused = self.paused_by_signal or (pause_file is not None and pause_file.exists())
        if paused != self._paused:
            self._paused = paused
            self.log.emit("paused" if paused else "unpaused", {"pause_file": pause_file})
        return paused

    def toggle_pause(self) -> None:
        """SIGUSR1: pause new orders, or resume them (stop-losses always go out)."""
        self.paused_by_signal = not self.paused_by_signal

    def _watch_state(self) -> None:
        row = self.ledger.trading_state()
        if row.state == self._state:
            return
        first = not self._state
        if not first and row.state == "ACTIVE" and self._state in ("HALTED", "SAFE_MODE"):
            # `kalshi resume`: a person has looked; the backoff of the errors that led to
            # SAFE_MODE must not keep the loop idle for another minute
            self.executor.lift_backoff()
        self._state = row.state
        self.log.emit(
            "trading_state", {"state": row.state, "reason": row.reason, "source": row.source}
        )
        if not first and row.state == "HALTED":
            self._alert("kill_switch", "", f"trading HALTED by {row.source}: {row.reason}", {})

    def _blocked(self, tripped: bool) -> str | None:
        """Why no order that adds to a position may go out in any market now, if so."""
        if self._state != "ACTIVE":
            return self._state
        if tripped:
            return "circuit breaker"
        if self.paused:
            return "paused"
        return None

    def _stale(self, ticker: str) -> bool:
        """The stale-feed rule's reading of this market: no fresh book, or no market data for it
        for `risk.stale_after_s` (its own book age, pings excluded: docs/feed.md)."""
        if not self.feed.is_fresh(ticker):
            return True
        return self.feed.data_age(ticker) >= self.risk.limits.stale_after_s

    def _withdraw(self, tripped: bool, *, full: bool, went_stale: set[str]) -> None:
        """While a blocking state holds (SAFE_MODE, HALTED, REDUCING, the circuit breaker, the
        pause) no order that adds to a position may be sent, and one the loop left resting
        would add one all the same when it fills, so it is cancelled: in the tick that first
        sees the state, then again on each full pass for any whose cancel failed. A stale
        market loses its adding quotes the same way (its book may be wrong). The API error
        guard's backoff does not hold these cancels back: they are what makes waiting safe.
        Orders that only reduce stay (the stop-loss and exits may still be working), and
        orders placed by hand are left to the person who placed them."""
        why = self._blocked(tripped)
        new_block = why is not None and why != self._blocked_by
        self._blocked_by = why
        if self.settings.dry_run:
            return
        if why is not None:
            if full or new_block:
                self._cancel_adding(why, lambda _: True)
            return
        if full or went_stale:
            stale = {
                t
                for t in {o.ticker for o in self.portfolio.orders.values()}
                if (full or t in went_stale) and self._stale(t)
            }
            if stale:
                self._cancel_adding("stale feed", lambda o: o.ticker in stale)

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
                self.executor.cancel_order(order.ticker, order.order_id, why, withdraw=True)

    def _placed_by_us(self, order: OpenOrder) -> bool:
        """Sent by this loop, or resting under this strategy's name from an earlier run: an
        order placed by hand or by another strategy is not ours to cancel."""
        return order.order_id in self.executor.sent or order.strategy == self.settings.strategy_name

    def _check_breaches(self) -> None:
        limit = self.risk.limits.max_position_per_market
        for m in self.portfolio.open_positions():
            if abs(m.position) > limit and m.ticker not in self._breached:
                self._breached.add(m.ticker)
                detail = f"{m.ticker}: position {m.position} over the limit {limit}"
                self.log.emit("position_breach", {"ticker": m.ticker, "position": m.position})
                self._alert("position_breach", m.ticker, detail, {"ticker": m.ticker})
            elif abs(m.position) <= limit:
                self._breached.discard(m.ticker)

    def _alert(self, kind: str, key: str, summary: str, details: dict[str, str]) -> None:
        if self.alerts is not None:
            self.alerts.post(kind, key, summary, details)

    # ---------------------------------------------------------------- heartbeat and status

    def _housekeeping(self, now_m: float) -> None:
        if now_m >= self._next_heartbeat:
            self._next_heartbeat = now_m + self.settings.heartbeat_interval_s
            self._heartbeat()
            if self.alerts is not None and now_m >= self._next_deadman:
                self._next_deadman = now_m + self.settings.deadman_interval_s
                self.alerts.beat("", self.beat_text("alive"))
        if now_m >= self._next_status:
            self._next_status = now_m + self.settings.status_interval_s
            self.log.emit("status", self.summary().to_json())
        day = utc_day(self.clock.wall())
        if day != self._day:
            text = f"{self._day}: realized P&L {self.store.daily_realized_pnl(self._day)}"
            self._alert("daily_summary", self._day, text, {"day": self._day})
            self._day = day

    def _heartbeat(self) -> None:
        now = self.clock.wall()
        age = self.feed.last_message_age()
        detail = {
            "ticks": self.ticks,
            "orders": self.executor.counters.orders,
            "fills": self.executor.counters.fills,
            "state": self._state,
            "paused": self._paused,
            "feed_age_s": round(age, 3) if age != math.inf else None,
            "subaccount": self.client.subaccount or 0,
        }
        # one transaction, so one fsync of the state file per heartbeat rather than two; rows
        # the ledger does not answer from, so they leave its answers in place
        with self.ledger.writing_heartbeat(), self.store.transaction():
            self.store.heartbeat(source="trade", detail=detail)
            if age != math.inf:
                self.store.set_kv("feed.last_message_at", f"{now - age:.3f}")
        self.log.emit("heartbeat", detail)

    def beat_text(self, what: str) -> str:
        """The body of a dead-man ping (healthchecks.io shows it in the check's log)."""
        c = self.executor.counters
        return (
            f"kalshi trade {self.settings.strategy_name}: {what}; ticks {self.ticks}, "
            f"orders {c.orders}, fills {c.fills}"
        )

    def summary(self) -> Summary:
        books = {m.ticker: self.feed.book(m.ticker) for m in self.portfolio.open_positions()}
        c = self.executor.counters
        return Summary(
            uptime_s=self.clock.monotonic() - self._started,
            ticks=self.ticks,
            orders=c.orders,
            fills=c.fills,
            denied=c.denied,
            open_positions={m.ticker: m.position for m in self.portfolio.open_positions()},
            resting_orders=len(self.portfolio.orders),
            realized_pnl=self.portfolio.pnl.realized - self._realized_at_start,
            daily_pnl=self.store.daily_realized_pnl(utc_day(self.clock.wall())),
            unrealized_pnl=self.portfolio.unrealized(books),
            trading_state=self.store.trading_state().state,
            subaccount=self.client.subaccount or 0,
        )

    # ---------------------------------------------------------------- the end

    def own_resting(self) -> list[OpenOrder]:
        """The resting orders this loop placed: those its shutdown cancels (not one by hand)."""
        return [o for o in list(self.portfolio.orders.values()) if self._placed_by_us(o)]

    def _cancel_own(self, abandon: threading.Event | None) -> bool:
        """Cancel the resting orders this loop placed; True when `abandon` stopped it."""
        own = self.own_resting()
        for n, order in enumerate(own):
            if abandon is not None and abandon.is_set():
                self.log.emit(
                    "shutdown_abandoned",
                    {"left_resting": len(own) - n, "reason": "interrupted again"},
                )
                return True
            self.executor.cancel_order(order.ticker, order.order_id, "shutdown")
        return False

    def shutdown(self, *, cancel_resting: bool, abandon: threading.Event | None = None) -> Summary:
        """Cancel the orders this loop placed (never orders placed by hand), write a last
        heartbeat, and return the final summary. Once `abandon` is set (a second Ctrl-C: the
        person will not wait for an exchange that answers slowly), the cancels left are given
        up and logged, and fills are not read again."""
        abandoned = False
        if cancel_resting and not self.settings.dry_run:
            abandoned = self._cancel_own(abandon)
            if not abandoned and self.executor.unknown:
                # one whose answer was lost may still land; with the session's order group it is
                # looked up once (the group, deleted or triggered, refuses it later), else until
                # it cannot
                wait = self.executor.order_group_id is None
                self.executor.see_unknown_through(abandon, wait=wait)  # logs what it leaves
                abandoned = self._cancel_own(abandon) or bool(abandon and abandon.is_set())
        if not abandoned:
            self.executor.sync_fills()
        self._heartbeat()
        summary = self.summary()
        self.log.emit("stopped", summary.to_json())
        return summary
