"""One market's turn in a tick of the trade loop: its stop-loss (at most once per
`stop_loss_retry_s` against the same book), then the strategy's call on the book, the position view
and the books of its event's other markets, and what it decided sent through the
`LoopExecutor`. A quiet market skips the call when nothing it reads has changed
(docs/trade-loop.md "Quiet markets").

Each `decide` runs on its strategy's worker thread under a deadline (`Member.bounded`): the stop's
signals are handled on the loop's thread and Python cannot kill a thread. Its first call is not
waited for past one deadline: the strategy decides nothing until it is back, for up to its start
(`strategies/deadline.py`). One late answer (a call past its deadline or its start) is weather: a
failed decision, its turn skipped, and its turns skip while the call is out. A strategy is
stopped alone (`on_stop`), the others trading on, only on a fault that persists or repeats: its
call still running at a turn one more deadline after it was late (stuck), `LATE_ANSWERS_STOP`
late answers within `strategy_errors_window_s`, or `strategy_errors_stop` failed decisions within
it in one market. A stopped strategy is still asked where its own part of a position is held, and
only its exits go (`reduce_only` orders, cancels); `resume` brings it back. A backtest decides on
the loop's thread (`decide_deadline`).

`MarketPass` keeps what a market's turn remembers between turns: mid history, queue positions, the
last stop-loss (`StopAttempt`), failed decisions and the inputs of the last quiet call. Its inputs
are the parts of runner/loop/shared.py (`Sight`, `Tuning`, `Acting`, `Voice`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from kalshi_cli.runner.books.portfolio import MidHistory
from kalshi_cli.runner.execution.dispatch import CallAnswer
from kalshi_cli.runner.loop.lineup import Lineup, Member
from kalshi_cli.runner.ports import FeedWithIndices
from kalshi_cli.strategies import (
    Cancel,
    Decision,
    Intent,
    MarketSnapshot,
    PositionView,
)
from kalshi_cli.strategies.deadline import MissedDeadline, Starting, StillRunning
from kalshi_cli.strategy_api import EventMarket, EventView, IndexView, MarketTerms
from kalshi_cli.strategy_api.strategy import raised_at
from kalshi_cli.strategy_api.window import MidWindow
from kalshi_cli.vocabulary.decisions import market_bid
from kalshi_cli.vocabulary.errors import KalshiError, ValidationError
from kalshi_cli.vocabulary.models import Level, Orderbook, PriceRange, Side
from kalshi_cli.vocabulary.order_terms import check_count, check_dollars, check_whole_count

if TYPE_CHECKING:
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.runner.loop.shared import Acting, Sight, Tuning, Voice
    from kalshi_cli.runner.ports import LoopClient

LATE_ANSWERS_STOP = 3
"""A strategy's late answers (any market) within `strategy_errors_window_s` that stop it: one is
a pause of the machine, three within a minute a strategy too slow for its deadline, each of whose
calls holds the whole loop one deadline."""


@dataclass(frozen=True)
class EventGroup:
    """The selected markets of one event the exchange flags mutually exclusive (two or more, in
    ticker order), and whether they are every market the event lists: what a strategy that
    `uses_events` is handed of it (`EventView`)."""

    event_ticker: str
    tickers: tuple[str, ...]
    complete: bool


@dataclass(frozen=True)
class StopAttempt:
    """The last firing of a market's stop-loss: when, against which best bid of the held side
    and which position, and whether its closes were tried (not held by the API backoff)."""

    at: float  # monotonic
    against: tuple[Level | None, Decimal]
    tried: bool


class _StrategyRaised(Exception):
    """The strategy's own code other than `decide` (its `clock_free`) raised while the loop
    asked it whether a call could be skipped: that decision fails, as one whose `decide` raised
    (`MarketPass._decide`)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _clock_free(member: Member, view: PositionView) -> bool:
    """The member's `clock_free` for `view` (it has one); what it raises, as `_StrategyRaised`."""
    clock_free = member.strategy.clock_free
    assert clock_free is not None
    try:
        return clock_free(view)
    except Exception as exc:  # user code: contained where the decision is, never the loop
        raise _StrategyRaised(exc) from exc


def checked(
    decisions: Sequence[Decision],
    ticker: str,
    event: EventView | None,
    where: str = "",
    terms: Mapping[str, MarketTerms] | None = None,
) -> Sequence[Decision]:
    """What a strategy returned, refused whole (ValueError) unless it is a sequence of
    `Intent`s and `Cancel`s for this market (or another market of its `event`) whose fair values are
    probabilities and whose counts and prices an order may carry (`check_count`,
    `check_dollars`, whole contracts where the market's `terms` say so): a wrong answer from
    user code never reaches the risk engine half-read. The refusal starts with `where`, the
    file and line of the strategy's `decide`."""
    at = f"{where}: " if where else ""
    if not isinstance(decisions, list | tuple):
        raise ValueError(f"{at}decide returned {type(decisions).__name__}, not a list of decisions")
    if not decisions:
        return decisions  # most calls decide nothing: nothing to check
    markets = {ticker} if event is None else {ticker, *(m.ticker for m in event.others)}
    for decision in decisions:
        if not isinstance(decision, Intent | Cancel):
            raise ValueError(f"{at}decide returned {decision!r}, not an Intent or a Cancel")
        if decision.ticker not in markets:
            raise ValueError(f"{at}decide for {ticker} returned a decision for {decision.ticker}")
        if isinstance(decision, Intent):
            fair = decision.model_fair
            if not isinstance(fair, Decimal) or not fair.is_finite() or not 0 <= fair <= 1:
                raise ValueError(f"{at}intent model_fair {fair!r} is not a probability")
            # terms no order may carry (a count of three decimals), refused here rather than by
            # the client as it builds the request, on a worker, after the state file wrote it
            try:
                check_count(decision.count)
                check_dollars(decision.price)
                market = terms.get(decision.ticker) if terms else None
                if market is not None:
                    check_whole_count(decision.ticker, market.whole_contracts, decision.count)
            except ValidationError as exc:
                raise ValueError(f"{at}intent {exc.message}") from exc
    return decisions


class MarketPass:
    def __init__(
        self,
        *,
        sight: Sight,
        acting: Acting,
        tuning: Tuning,
        voice: Voice,
        client: LoopClient,
        terms: Mapping[str, MarketTerms],
        events: Mapping[str, EventGroup],
        closed: set[str],
        on_stop: Callable[[str, str], None],
    ) -> None:
        self._feed, self._portfolio, self._clock = sight.feed, sight.portfolio, sight.clock
        self._risk, self._executor, self._own = acting.risk, acting.executor, acting.own
        self._dispatch = acting.dispatch
        self._tuning = tuning
        self._log, self._alert = voice.log, voice.alert
        self._on_stop = on_stop  # a strategy stopped alone, and why (module docstring)
        self._client = client  # the queue positions of the loop's orders are read through it
        # how each market settles (its strike fields, close, the index its rules name)
        self._terms = terms
        # ticker -> its mutually exclusive event's selected markets, for a strategy that
        # `uses_events` (a market in none costs one look-up a turn)
        self._events = events
        self._closed = closed  # markets closed, determined or settled: no more turns
        self.history = MidHistory(tuning.settings.history_s)
        # order id -> contracts ahead of it, read each full tick for a strategy that uses it
        self.queue_positions: dict[str, Decimal] = {}
        self._reading_queue = False  # a read of them is out
        self.paused = False  # new orders paused: read once a tick by the loop
        self._stops: dict[str, StopAttempt] = {}
        # (strategy, ticker) -> the strategy's failed decisions there in a row
        self._strategy_errors: dict[tuple[str, str], int] = {}
        # (strategy, ticker) -> when its failed decisions there within the window were
        self._failed_at: dict[tuple[str, str], deque[float]] = {}
        self.stopped: dict[str, str] = {}  # strategy -> why it was stopped, until resumed
        # strategy -> when its late answers within the window were (monotonic), the last one
        # that of the call still out, if one is
        self._late: dict[str, deque[float]] = {}
        self.strategy_error_count = 0  # failed decisions of this run, every market
        # (strategy, ticker) -> the inputs of the strategy's last call there, when it decided
        # nothing
        self._quiet: dict[tuple[str, str], tuple[Member, MarketSnapshot, PositionView]] = {}
        # ticker -> what the account held there, and whose, when its strategies' resting
        # orders last took nothing not their own
        self._owns_checked: dict[str, tuple[object, ...]] = {}

    @property
    def settings(self) -> LoopSettings:
        return self._tuning.settings

    @property
    def lineup(self) -> Lineup:
        return self._tuning.lineup

    def _window_is_horizon(self, member: Member) -> bool:
        """The strategy's window reaches back at least as far as the mids the loop keeps, so a
        window over unchanged mids is unchanged (`history_s` is the longest window)."""
        window_s = member.window_s
        return window_s is None or self.settings.history_s <= window_s

    def stop_waiting(self, ticker: str) -> bool:
        """A stop-loss fired in this market whose close did not fill: its retry is due by
        time, not only on a new book."""
        return ticker in self._stops

    def forget_quiet(self) -> None:
        """The params changed: a market skipped as quiet was judged with the old ones."""
        self._quiet.clear()

    def trade(self, ticker: str) -> None:
        """One market's turn: its stop-loss, then each strategy of the lineup in turn, each on
        its own view (its own resting orders and its own part of the position)."""
        if ticker in self._closed:
            return
        book = self._feed.book(ticker)
        if book is None:
            return
        self._keep_within_own(ticker)
        now = self._clock.wall()
        # the stop-loss first, on the account's view: a strategy quiet on its own (flat) part
        # says nothing of the account's position, which the floor counts; a flat account has
        # nothing to stop (a quiet market's visit stays a few look-ups)
        if self._portfolio.view(ticker).position == 0:
            self._stops.pop(ticker, None)
        elif self._stopped(ticker, now, book, self._loop_view(ticker)):
            return
        lineup = self.lineup
        members = [
            m
            for m in lineup
            if (m.name not in self.stopped or self._portfolio.view_for(ticker, m.name).position)
            and not self._untouched(m, ticker, now, book)
        ]
        if not members:
            return
        mids = self.history.record(ticker, now, book) if lineup.any("reads_mids") else ()
        if self._executor.guard.backing_off or self.paused:
            return
        price_ranges = self._portfolio.markets[ticker].price_ranges
        taker_rate, maker_rate = self._portfolio.fee_rates(ticker, now)
        event = self._event(ticker, now) if ticker in self._events else None
        market = _Market(ticker, now, book, mids, price_ranges, taker_rate, maker_rate, event)
        guard = self._executor.guard
        for member in members:
            self._decide(member, market)
            if guard.backing_off:
                return  # a call of this strategy's turn failed: the others wait it out

    def _decide(self, member: Member, market: _Market) -> None:
        """One strategy's call on one market, and what it decided sent."""
        ticker, now = market.ticker, market.now
        view = self._member_view(member, ticker)
        strategy = member.strategy
        mids = market.mids if strategy.reads_mids else ()
        # the snapshot is built only for a call: a quiet market's full pass costs no allocation
        try:
            if self._still_quiet(member, market, view, mids):
                return
        except _StrategyRaised as raised:
            self._strategy_failed(member, ticker, raised.error)
            return
        snapshot = MarketSnapshot(
            ticker,
            now,
            market.book,
            mids,
            market.price_ranges,
            fee_rate=market.taker_rate,
            maker_fee_rate=market.maker_rate,
            event=market.event,
            terms=self._terms.get(ticker),
            index=self._index_of(ticker) if strategy.reads_index else None,
        )
        try:
            decide = member.bounded if self.settings.decide_deadline else strategy.decide
            decisions = decide(snapshot, view, member.params)
            decisions = checked(decisions, ticker, market.event, strategy.decide_at, self._terms)
        except Starting:
            return  # its first call, still within its start: no decision yet, and no fault
        except StillRunning:
            self._still_running(member, ticker)
            return
        except Exception as exc:  # a strategy bug must not take the loop (and its stops) down
            self._strategy_failed(member, ticker, exc)
            return
        if member.name in self.stopped:  # its exits alone (module docstring)
            decisions = [d for d in decisions if isinstance(d, Cancel) or d.reduce_only]
        key = (member.name, ticker)
        self._strategy_errors.pop(key, None)
        if decisions or strategy.clock_free is None:
            self._quiet.pop(key, None)
        else:
            self._quiet[key] = (member, snapshot, view)
        if not decisions:
            return
        # the book's freshness and age are read only when an order may go out
        fresh = self._feed.is_fresh(ticker)
        last_data_at = self._last_data_at(ticker, now, fresh)
        mine = {o.order_id for o in view.resting}
        intents: list[Intent] = []
        gone: set[str] = set()  # its resting orders this decision cancels or replaces
        for decision in decisions:
            if isinstance(decision, Cancel):
                if decision.order_id in mine:  # never another strategy's or a person's order
                    self._executor.cancels.cancel(decision)
                    gone.add(decision.order_id)
                continue
            intent = _owned(decision, member.name, mine)
            gone.update(intent.replaces)
            intents.append(intent)
        grouped = len(intents) > 1 and (
            len({i.ticker for i in intents}) > 1 or strategy.uses_events
        )
        intents, cut = self._within_own(intents, member.name, gone)
        if grouped:
            # legs that only pay together (an arbitrage set, in several markets or in one) go
            # out together, as decided, or not at all: a leg cut to fewer contracts would leave
            # the others' extra contracts unhedged
            if cut:
                self._log.emit(
                    "group_dropped",
                    {"ticker": ticker, "reason": "a leg would take contracts not its own"},
                )
                return
            self._executor.execute_group(
                intents, last_data_at=last_data_at, in_sync=fresh, unwind_price=self.unwind_price
            )
            return
        for intent in intents:
            # an order that adds waits for the tick's batch; one that reduces goes at once
            self._executor.execute(intent, last_data_at=last_data_at, in_sync=fresh, batch=True)

    def _within_own(
        self, intents: list[Intent], name: str, gone: Collection[str]
    ) -> tuple[list[Intent], bool]:
        """The strategy's orders cut to what they may take of the account's position
        (`OwnPart`: never the contracts another strategy or a person holds), and whether one
        was cut or dropped. One cut to nothing is dropped (`exit_cut`, `order_cut`); the
        orders it replaces are cancelled, as it asked."""
        part = self._own.within_own(name, gone)
        kept: list[Intent] = []
        cut = False
        for intent in intents:
            count = part.count(intent)
            if count == intent.count:
                kept.append(intent)
                continue
            cut = True
            ticker = intent.ticker
            self._log.emit(
                "exit_cut" if intent.reduce_only else "order_cut",
                {"ticker": ticker, "strategy": name, "asked": intent.count, "count": count},
            )
            if count > 0:
                kept.append(replace(intent, count=count))
                continue
            for order_id in intent.replaces:
                self._executor.cancels.cancel(Cancel(ticker, order_id, intent.reason))
        return kept, cut

    def _index_of(self, ticker: str) -> IndexView | None:
        """The reference index the market's rules name, as the feed last gave it."""
        terms = self._terms.get(ticker)
        feed = self._feed
        if terms is None or terms.index_id is None or not isinstance(feed, FeedWithIndices):
            return None
        return feed.index_view(terms.index_id)

    def _strategy_failed(self, member: Member, ticker: str, error: Exception) -> None:
        """Containment of a strategy that raised, answered late or answered garbage, per market:
        the decision is skipped and counted, and the loop's adding quotes there are withdrawn.
        The `strategy_errors_alert`-th failure in a row alerts; the `LATE_ANSWERS_STOP`-th late
        answer, or the `strategy_errors_stop`-th failure in one market, within
        `strategy_errors_window_s`, stops the strategy alone."""
        name, settings = member.name, self.settings
        key = (name, ticker)
        count = self._strategy_errors.get(key, 0) + 1
        self._strategy_errors[key] = count
        now = self._clock.monotonic()
        recent = self._failed_at.setdefault(key, deque())
        recent.append(now)
        while recent[0] <= now - settings.strategy_errors_window_s:
            recent.popleft()
        self.strategy_error_count += 1
        text = str(error) or repr(error)
        self._log.emit(
            "strategy_error",
            {
                "ticker": ticker,
                "strategy": name,
                "error": text,
                "kind": type(error).__name__,
                "at": raised_at(error),
                "in_a_row": count,
            },
        )
        if not settings.dry_run:
            self._own.cancel_adding("strategy error", lambda o: o.ticker == ticker, owner=name)
        if count == settings.strategy_errors_alert:
            summary = f"{ticker}: {count} failed decisions in a row, last: {text}"
            self._alert(
                "strategy_error", f"{name}:{ticker}", summary, {"ticker": ticker, "strategy": name}
            )
        if name in self.stopped:
            return
        window_s = settings.strategy_errors_window_s
        if isinstance(error, MissedDeadline):
            late = self._late.setdefault(name, deque())
            late.append(now)
            while late[0] <= now - window_s:
                late.popleft()
            if len(late) < LATE_ANSWERS_STOP:
                return
            why = f"{len(late)} late answers within {window_s:g} s, the last in {ticker}: {text}"
        elif len(recent) >= settings.strategy_errors_stop:
            why = f"{len(recent)} failed decisions in {ticker} within {window_s:g} s, last: {text}"
        else:
            return
        self._stop(name, why)

    def _still_running(self, member: Member, ticker: str) -> None:
        """A turn while the strategy's late call is still out: skipped, no fault, until the call
        has been out one more deadline since it was late (or since it was resumed with the call
        out); then it is stuck, and stopped."""
        name = member.name
        if name in self.stopped:
            return
        now = self._clock.monotonic()
        late = self._late.setdefault(name, deque((now,)))
        out_s = now - late[-1]
        if out_s >= member.bounded.timeout_s:
            why = f"its decide is still running {out_s:.1f} s past its deadline ({ticker})"
            self._stop(name, why)

    def _stop(self, name: str, why: str) -> None:
        self.stopped[name] = why
        self._on_stop(name, why)

    def resume(self, name: str) -> str | None:
        """The strategy asked again, its late answers and failures forgotten (`kalshi resume
        --strategy`); why it was stopped (None: it was not)."""
        self._late.pop(name, None)
        for key in [k for k in self._failed_at if k[0] == name]:
            del self._failed_at[key]
            self._strategy_errors.pop(key, None)
        return self.stopped.pop(name, None)

    def exit(self, ticker: str) -> None:
        """A held market's stop-loss alone: for a tick that brings it no book change but a new
        position view (a fill read, an order's update) or a stop waiting for its retry. The
        strategy is called on a book change and on the sweep, as before; the stop-loss, which
        reads only the book and the view, does not wait for either."""
        if ticker in self._closed:
            return
        book = self._feed.book(ticker)
        if book is None:
            return
        self._keep_within_own(ticker)
        self._stopped(ticker, self._clock.wall(), book, self._loop_view(ticker))

    def _keep_within_own(self, ticker: str) -> None:
        """Withdraw the strategies' resting orders that would take contracts the account holds that
        are not their own (`OwnOrders.beyond_own`). Asked when what the account holds there, or
        whose it is, changed, and again each turn while a withdrawal is not booked."""
        view = self._portfolio.view(ticker)
        held = (view.position, view.unbooked, self._portfolio.owners.parts(ticker))
        if held == self._owns_checked.get(ticker):
            return
        beyond = self._own.beyond_own(ticker) if view.resting else []
        for order in beyond:
            self._executor.cancels.withdraw(ticker, order.order_id, "takes contracts not its own")
        if beyond:
            self._owns_checked.pop(ticker, None)
        else:
            self._owns_checked[ticker] = held

    def _stopped(
        self,
        ticker: str,
        now: float,  # unix seconds
        book: Orderbook,
        view: PositionView,
    ) -> bool:
        """Fire the market's stop-loss if it asks to close (True), else forget its last one."""
        stops = self._risk.stop_loss(view, book)
        if stops:
            fresh = self._feed.is_fresh(ticker)
            against = (market_bid(book, stops[0].side, view.resting), view.contracts)
            self._stop_loss(ticker, stops, against, self._last_data_at(ticker, now, fresh), fresh)
            return True
        self._stops.pop(ticker, None)
        return False

    def _last_data_at(self, ticker: str, now: float, fresh: bool) -> float | None:
        """When this market's book last had data (its last data message or poll), never the
        feed's last frame: pings arrive every 10 s while data can stall behind them. Read only
        when an order may go out."""
        age = self._feed.data_age(ticker) if fresh else math.inf
        return now - age if age != math.inf else None

    def _still_quiet(
        self,
        member: Member,
        market: _Market,
        view: PositionView,
        mids: Sequence[tuple[float, Decimal]],
    ) -> bool:
        """Quiet markets: the strategy decided nothing on this market last time, and nothing it
        reads has changed since: the same params, book (and its event's), position, resting
        orders and queue positions, fee rates, and the same mid points (none added, none aged
        out of the window). A strategy that is `clock_free` for this position then decides
        nothing again, and the call is skipped: a full pass over markets whose books did not
        move costs no strategy call. Any doubt (the wall clock stepped back, a history horizon
        longer than the strategy's window) calls it. Compared field by field against the last
        call's snapshot, before a new one is built."""
        last = self._quiet.get((member.name, market.ticker))
        clock_free = member.strategy.clock_free
        if last is None or clock_free is None:
            return False
        before_member, before, before_view = last
        if before_member is not member:
            return False
        # the book first: on a visit for news it is what changed
        if not (market.book is before.book or market.book == before.book):
            return False
        if not (view is before_view or view == before_view) or not _clock_free(member, view):
            return False
        if (
            market.taker_rate != before.fee_rate
            or market.maker_rate != before.maker_fee_rate
            or market.event != before.event
            or market.price_ranges != before.price_ranges
            or market.now < before.ts
        ):
            return False
        before_mids = before.mids
        if isinstance(mids, MidWindow) and isinstance(before_mids, MidWindow):
            return (
                self._window_is_horizon(member)
                and mids.same_as(before_mids)
                and mids.in_order_until(market.now)
            )
        return mids == before_mids == ()

    def _untouched(self, member: Member, ticker: str, now: float, book: Orderbook) -> bool:
        """A quiet market none of whose inputs was even touched since the strategy's last call there
        (which decided nothing): the very same book object (only a recorded feed reuses one),
        position view and event books, equal price ranges and fee rates, the clock not
        stepped back, for a strategy that reads no mids and is `clock_free` for that view. Its
        turn could then only end as it did last time, so a pass over unmoved markets costs a few
        look-ups each."""
        last = self._quiet.get((member.name, ticker))
        if last is None:
            return False
        before_member, before, before_view = last
        strategy = member.strategy
        if before_member is not member or strategy.reads_mids or now < before.ts:
            return False
        if book is not before.book or before_view.resting:
            return False
        view = self._portfolio.view_for(ticker, member.name)
        if view is not before_view or strategy.clock_free is None:
            return False
        try:
            if not _clock_free(member, view):
                return False
        except _StrategyRaised:
            return False  # the full path asks again, and fails the decision (`_decide`)
        if ticker in self._events and not self._event_untouched(ticker, now, before.event):
            return False
        if self._portfolio.markets[ticker].price_ranges is not before.price_ranges:
            return False
        taker_rate, maker_rate = self._portfolio.fee_rates(ticker, now)
        return taker_rate == before.fee_rate and maker_rate == before.maker_fee_rate

    def _loop_view(self, ticker: str) -> PositionView:
        """The market's whole position with only the loop's resting orders (any strategy's):
        what the stop-loss may replace. Orders placed by hand are the person's; the risk
        engine still counts them (it reads the whole view)."""
        view = self._portfolio.view(ticker)
        if not view.resting:
            return view
        mine = {o.order_id for o in self._portfolio.resting(ticker) if self._own.placed_by_us(o)}
        if len(mine) != len(view.resting):
            view = replace(view, resting=tuple(o for o in view.resting if o.order_id in mine))
        return view

    def _member_view(self, member: Member, ticker: str) -> PositionView:
        """What one strategy decides on: the market's whole position (the risk rules count
        it), the part its own fills built (`own`), and only its own resting orders, with their
        queue positions: what it may cancel or replace. Another strategy's orders and the
        person's are not its to touch; the risk engine still counts them."""
        name = member.name
        # what its own orders filled that is not read yet, not another strategy's
        view = self._portfolio.owned_view(ticker, name, self._own.owner)
        if not view.resting:
            return view
        mine = {o.order_id for o in self._portfolio.resting(ticker) if self._own.owner(o) == name}
        if len(mine) != len(view.resting):
            view = replace(view, resting=tuple(o for o in view.resting if o.order_id in mine))
        if self.queue_positions and view.resting:
            ahead = self.queue_positions
            resting = (replace(o, queue_position=ahead.get(o.order_id)) for o in view.resting)
            view = replace(view, resting=tuple(resting))
        return view

    def read_queue_positions(self) -> None:
        """The queue positions of this loop's resting orders, for a strategy that requotes by
        them (the market maker). A failed read leaves them unknown, which never keeps an order
        that would otherwise be replaced. The read goes off the deciding path
        (runner/execution/dispatch.py); the positions last read stand until its answer is booked."""
        if (
            not self.lineup.any("uses_queue_positions")
            or self.settings.dry_run
            or self._executor.guard.backing_off
        ):
            self.queue_positions = {}
            return
        tickers = {o.ticker for o in self._portfolio.orders.values() if self._own.placed_by_us(o)}
        if not tickers:
            self.queue_positions = {}
            return
        if self._reading_queue:
            return
        self._reading_queue = True
        orders = self._client.orders

        def booked(answer: CallAnswer[dict[str, Decimal]]) -> None:
            self._reading_queue = False
            try:
                self.queue_positions = answer.get()
            except KalshiError as exc:
                self.queue_positions = {}
                self._log.emit("queue_positions_unavailable", {"error": str(exc)})

        self._dispatch.send(
            (), lambda: orders.get_queue_positions(market_tickers=sorted(tickers)), booked
        )

    def _event(self, ticker: str, now: float) -> EventView | None:
        """The market's event as a strategy sees it: its other markets that are open with a
        fresh book (None: no such market)."""
        group = self._events[ticker]
        others: list[EventMarket] = []
        for other in group.tickers:
            book = None if other == ticker or other in self._closed else self._feed.book(other)
            if book is not None:  # None unless fresh
                ranges = self._portfolio.markets[other].price_ranges
                rate = self._portfolio.fee_rates(other, now)[0]
                others.append(EventMarket(other, book, ranges, rate))
        if not others:
            return None
        complete = group.complete and len(others) + 1 == len(group.tickers)
        return EventView(group.event_ticker, tuple(others), complete)

    def _event_untouched(self, ticker: str, now: float, before: EventView | None) -> bool:
        """The event's other markets as at the last call: the very same books and grids, equal
        fee rates, none closed or gone stale since."""
        if before is None:
            return self._event(ticker, now) is None
        group = self._events[ticker]
        if len(before.others) + 1 != len(group.tickers):
            return False  # one was closed or stale: whether it is back is a fresh look
        for other in before.others:
            if (
                other.ticker in self._closed
                or self._feed.book(other.ticker) is not other.book
                or self._portfolio.markets[other.ticker].price_ranges is not other.price_ranges
                or self._portfolio.fee_rates(other.ticker, now)[0] != other.fee_rate
            ):
                return False
        return True

    def unwind_price(self, ticker: str, side: Side, count: Decimal) -> Decimal | None:
        """The price a reducing IOC sell of `count` contracts of `side` needs to sell them all
        into the market's bids now (the bid at which their depth covers `count`, the last bid
        when none does); None when nobody bids or the book is stale."""
        book = self._feed.book(ticker)
        bids = () if book is None else (book.yes_bids if side is Side.YES else book.no_bids)
        covered = Decimal(0)
        for level in bids:
            covered += level.size
            if covered >= count:
                return level.price
        return bids[-1].price if bids else None

    def _stop_loss(
        self,
        ticker: str,
        stops: list[Intent],
        against: tuple[Level | None, Decimal],
        last_data_at: float | None,
        fresh: bool,
    ) -> None:
        """Fire the stop-loss, at most once per `stop_loss_retry_s` against the same book. A
        close that cannot fill (the bid is gone) would otherwise go out on every tick: a slot of
        the order-rate cap each time, which every other market shares, and a `stop_loss` event
        and alert each time. A new bid or a partial fill (a
        new position) makes it fire at once."""
        now = self._clock.monotonic()
        last = self._stops.get(ticker)
        if (
            last is not None
            and last.against == against
            and now < last.at + self.settings.stop_loss_retry_s
        ):
            # closes held by the backoff go out as soon as it is over, without a new signal
            if last.tried or self._executor.guard.backing_off:
                return
        else:
            first = stops[0]
            self._log.emit(
                "stop_loss", {"ticker": ticker, "reason": first.reason, "orders": len(stops)}
            )
            self._alert("stop_loss", ticker, first.reason, {"ticker": ticker})
        tried = not self._executor.guard.backing_off
        self._stops[ticker] = StopAttempt(now, against, tried)
        if tried:
            for intent in stops:
                self._executor.execute(intent, last_data_at=last_data_at, in_sync=fresh)


class _Market(msgspec.Struct, frozen=True):
    """What every strategy's call on one market in one turn reads alike (a Struct: built once
    per visit, and a frozen dataclass's `__init__` costs ten times as much)."""

    ticker: str
    now: float  # unix seconds
    book: Orderbook
    mids: Sequence[tuple[float, Decimal]]
    price_ranges: tuple[PriceRange, ...]
    taker_rate: Decimal
    maker_rate: Decimal
    event: EventView | None


def _owned(intent: Intent, owner: str, mine: set[str]) -> Intent:
    """The intent as its strategy's own: it carries the strategy's name whatever the strategy
    wrote (the owner of its order, fills and position), and replaces only that strategy's own
    orders (an id of another's order is dropped: it is not this strategy's to cancel)."""
    replaces = intent.replaces
    if replaces and not mine.issuperset(replaces):
        replaces = tuple(i for i in replaces if i in mine)
    if intent.strategy == owner and replaces is intent.replaces:
        return intent
    return replace(intent, strategy=owner, replaces=replaces)
