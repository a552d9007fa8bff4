"""One market's turn in a tick of the trade loop, decided: its stop-loss (the risk engine's), then
each strategy's call on the book, the position view and the books of its event's other markets
(runner/loop/event_groups.py), checked (runner/loop/decision_check.py) and handed to
runner/loop/sending.py. A quiet market skips the call when nothing it reads has changed
(docs/trade-loop.md "Quiet markets"). Each `decide` runs on its strategy's worker under a
deadline (`Member.bounded`; a backtest's on the loop's thread): its first call is not waited for
past one deadline (`strategies/deadline.py`); a late answer is a failed decision, and a fault that
persists or repeats stops the strategy alone (runner/loop/strategy_stops.py), whose exits alone
then go where its own part of a position is held.

`MarketPass` keeps the mid history and the inputs of the last quiet call. It is given more than
six collaborators because a turn reads each of them: the book, the account, the time, the risk
engine's stop-loss, which orders are whose, the API error guard's backoff and the queue
positions, its event's markets, and it hands what it decided to the sender and the strategy
stops.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from kalshi_cli.runner.books.portfolio import MidHistory, waived
from kalshi_cli.runner.loop.decision_check import checked
from kalshi_cli.runner.loop.lineup import Member
from kalshi_cli.runner.loop.turn_views import Hedged, TurnViews
from kalshi_cli.runner.ports import FeedWithIndices
from kalshi_cli.strategies.deadline import Starting, StillRunning
from kalshi_cli.strategy_api import EventView, IndexView, MarketTerms
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.strategy_api.window import MidWindow
from kalshi_cli.vocabulary.decisions import Cancel, Note, PositionView
from kalshi_cli.vocabulary.models import Orderbook, PriceRange, same_top

if TYPE_CHECKING:
    from kalshi_cli.risk.engine import RiskEngine
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.call_guard import CallGuard
    from kalshi_cli.runner.execution.own_orders import OwnOrders
    from kalshi_cli.runner.loop.event_groups import EventGroups
    from kalshi_cli.runner.loop.queue_positions import QueuePositions
    from kalshi_cli.runner.loop.sending import TurnSender
    from kalshi_cli.runner.loop.shared import Tuning
    from kalshi_cli.runner.loop.strategy_stops import StrategyStops
    from kalshi_cli.runner.ports import MarketFeed
    from kalshi_cli.strategy_api.snapshot import EventLimit
    from kalshi_cli.vocabulary.clock import Clock


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


def _same_book(member: Member, book: Orderbook, before: Orderbook) -> bool:
    """The book is, for what the member's strategy reads of it, the one its last call read: the
    same object, the same top for a strategy that `reads_top`, else equal."""
    if book is before:
        return True
    if member.strategy.reads_top:
        return same_top(book, before)
    return book == before


_Quiet = tuple[Member, MarketSnapshot, PositionView]
"""A strategy's last call on a market that decided nothing: its member, snapshot and view."""


class MarketPass:
    def __init__(
        self,
        *,
        feed: MarketFeed,
        portfolio: Portfolio,
        clock: Clock,
        risk: RiskEngine,
        own: OwnOrders,
        guard: CallGuard,
        queue: QueuePositions,
        sender: TurnSender,
        stops: StrategyStops,
        tuning: Tuning,
        terms: Mapping[str, MarketTerms],
        events: EventGroups,
        closed: set[str],
        event_limits: Callable[[str, str], tuple[EventLimit, ...]],
        hedged: Hedged,
    ) -> None:
        """`event_limits`: the limits on an event's loss a strategy's orders are held to, with
        what each book holds (runner/execution/execution.py `LoopExecutor.event_limits`), for a
        strategy that `uses_events` to size to; `hedged`: what the stop-loss leaves to sets."""
        self._feed, self._portfolio, self._clock = feed, portfolio, clock
        self._risk, self._own, self._guard = risk, own, guard
        self._views = TurnViews(portfolio, own, queue, hedged)
        self._sender = sender
        self._stops = stops
        self._tuning = tuning
        # how each market settles (its strike fields, close, the index its rules name)
        self._terms = terms
        self._events = events  # the markets of each one's mutually exclusive event
        self._closed = closed  # markets closed, determined or settled: no more turns
        self._event_limits = event_limits
        self.history = MidHistory(tuning.settings.history_s)
        # (strategy, ticker) -> the inputs of the strategy's last call there, when it decided
        # nothing
        self._quiet: dict[tuple[str, str], _Quiet] = {}
        # ticker -> what the account held there, and whose, when its strategies' resting
        # orders last took nothing not their own
        self._owns_checked: dict[str, tuple[object, ...]] = {}
        # strategy -> its `_event_limit`, worked out from the settings and the account's
        # limits held here (a reload of the params replaces the settings: worked out again)
        self._event_limit_of: dict[str, Decimal | None] = {}
        self._event_limit_from: tuple[object, object] = (None, None)

    def _window_is_horizon(self, member: Member) -> bool:
        """The strategy's window reaches back at least as far as the mids the loop keeps, so a
        window over unchanged mids is unchanged (`history_s` is the longest window)."""
        window_s = member.window_s
        return window_s is None or self._tuning.settings.history_s <= window_s

    def forget_quiet(self) -> None:
        """The params changed: a market skipped as quiet was judged with the old ones."""
        self._quiet.clear()

    def trade(self, ticker: str, *, paused: bool = False) -> bool:
        """One market's turn: its stop-loss, then each strategy of the lineup in turn, each on
        its own view (its own resting orders and its own part of the position). While new
        orders are `paused` (the pause, read once a tick), only the stop-loss goes. True: the
        market is at rest (`_at_rest`)."""
        if ticker in self._closed:
            return False
        book = self._feed.book(ticker)
        if book is None:
            return False
        held = self._keep_within_own(ticker)
        now = self._clock.wall()
        # the stop-loss first, on the account's view: a strategy quiet on its own (flat) part
        # says nothing of the account's position, which the floor counts; a flat account has
        # nothing to stop (a quiet market's visit stays a few look-ups); fills told and not read
        # are held at the exchange already
        if not held.position and not held.unbooked:  # a Decimal's truth: no int to compare
            self._sender.forget_stop(ticker)
        elif self._stopped(ticker, now, book, self._views.loop(ticker)):
            return False
        # nothing held, resting or told filled: every strategy's own view is the account's
        # (`TurnViews.member`), and no strategy's part is to be worked out
        flat = None if held.position or held.resting or held.unbooked else held
        members = self._called(ticker, now, book, flat)
        if members is None:
            return self._at_rest(ticker, flat, now)
        if not members:
            return False
        mids = self.history.record(ticker, now, book) if self._tuning.lineup.reads_mids else ()
        if self._guard.backing_off or paused:
            return False
        price_ranges = self._portfolio.markets[ticker].price_ranges
        taker_rate, maker_rate = self._portfolio.fee_rates(ticker, now)
        event = self._events.view(ticker, now)
        market = _Market(ticker, now, book, mids, price_ranges, taker_rate, maker_rate, event)
        guard = self._guard
        for n, (member, last) in enumerate(members):
            if n and guard.backing_off:
                return False  # a call of an earlier strategy's turn failed: the others wait it out
            # a call may send orders, so `flat` holds for the first call alone
            self._decide(member, last, market, None if n else flat)
        return False

    def _called(
        self, ticker: str, now: float, book: Orderbook, flat: PositionView | None
    ) -> list[tuple[Member, _Quiet | None]] | None:
        """The members whose call this turn makes, each with its last quiet call here (read
        once a turn: only its own call replaces it): each not `_untouched`, and of a stopped
        strategy only one whose own part of the position is not flat (its exits). None: every
        member was untouched. `flat`: the account's view when it holds nothing there (`trade`)."""
        stopped, view_for, quiet = self._stops.stopped, self._portfolio.view_for, self._quiet
        members: list[tuple[Member, _Quiet | None]] = []
        touched = False
        for member in self._tuning.lineup.members:
            last = quiet.get((member.name, ticker))
            if last is not None and self._untouched(member, last, now, book, flat):
                continue
            touched = True
            if member.name not in stopped or (
                flat is None and view_for(ticker, member.name).position
            ):
                members.append((member, last))
        return members if touched else None

    def _at_rest(self, ticker: str, flat: PositionView | None, now: float) -> bool:
        """Every strategy was `_untouched`; nothing held, resting or told filled in the account's
        view (`flat`: no stop-loss, order or fill to come due), no fee waiver to end with the
        time alone, no call sized to a limit on its event's loss, which the event's other
        markets (some not traded) change with no news here (docs/trade-loop.md "Markets at
        rest")."""
        quiet, lineup = self._quiet, self._tuning.lineup
        if any(q[1].event_limits for m in lineup if (q := quiet.get((m.name, ticker)))):
            return False
        return flat is not None and not waived(self._portfolio.fees.get(ticker), now)

    def _same_event_limits(self, member: Member, ticker: str, before: MarketSnapshot) -> bool:
        """The limits on the loss of its event, with what is held there, as the member's last
        call read them (only a strategy that `uses_events` reads them)."""
        uses = member.strategy.uses_events
        return not uses or self._event_limits(member.name, ticker) == before.event_limits

    def _decide(
        self, member: Member, last: _Quiet | None, market: _Market, flat: PositionView | None
    ) -> None:
        """One strategy's call on one market, and what it decided sent. `last`: its last quiet
        call here (`_called`). `flat`: the account's view when it holds nothing there, which is
        then the strategy's own (`trade`)."""
        ticker, now = market.ticker, market.now
        view = self._views.member(member, ticker) if flat is None else flat
        strategy = member.strategy
        mids = market.mids if strategy.reads_mids else ()
        # the snapshot is built only for a call: a quiet market's full pass costs no allocation
        try:
            if self._still_quiet(member, last, market, view, mids):
                return
        except _StrategyRaised as raised:
            self._stops.failed(member, ticker, raised.error)
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
            max_event_loss=self._event_limit(member.name),
            event_limits=self._event_limits(member.name, ticker) if strategy.uses_events else (),
        )
        try:
            decide = member.bounded if self._tuning.settings.decide_deadline else strategy.decide_fn
            decisions = decide(snapshot, view, member.params)
            decisions = checked(decisions, ticker, market.event, strategy.decide_at, self._terms)
        except Starting:
            return  # its first call, still within its start: no decision yet, and no fault
        except StillRunning:
            self._stops.still_running(member, ticker)
            return
        except Exception as exc:  # a strategy bug must not take the loop (and its stops) down
            self._stops.failed(member, ticker, exc)
            return
        if member.name in self._stops.stopped:  # its exits alone (module docstring)
            decisions = [d for d in decisions if isinstance(d, Cancel | Note) or d.reduce_only]
        key = (member.name, ticker)
        self._stops.in_a_row.pop(key, None)
        # most calls decide nothing: no generator is made for them
        if strategy.clock_free is None or (
            decisions and any(not isinstance(d, Note) for d in decisions)
        ):
            self._quiet.pop(key, None)
        else:
            self._quiet[key] = (member, snapshot, view)
        if not decisions:
            return
        paired = strategy.uses_events
        self._sender.send(member.name, ticker, decisions, view, now=now, paired=paired)

    def _event_limit(self, name: str) -> Decimal | None:
        """The tighter of the account's limit on an event's loss and the strategy's own budget's
        (None: neither): what the `EVENT_LOSS` rule will hold its orders to. Worked out once
        per strategy while the settings and the account's limits stay the same objects."""
        settings, limits = self._tuning.settings, self._risk.limits
        kept_settings, kept_limits = self._event_limit_from
        if settings is not kept_settings or limits is not kept_limits:
            self._event_limit_of.clear()
            self._event_limit_from = (settings, limits)
        of = self._event_limit_of
        if name in of:
            return of[name]
        budget = settings.budgets.get(name)
        own = budget.max_event_loss if budget is not None else None
        tighter = of[name] = min(
            (x for x in (limits.max_event_loss, own) if x is not None), default=None
        )
        return tighter

    def _index_of(self, ticker: str) -> IndexView | None:
        """The reference index the market's rules name, as the feed last gave it."""
        terms = self._terms.get(ticker)
        feed = self._feed
        if terms is None or terms.index_id is None or not isinstance(feed, FeedWithIndices):
            return None
        return feed.index_view(terms.index_id)

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
        self._stopped(ticker, self._clock.wall(), book, self._views.loop(ticker))

    def _keep_within_own(self, ticker: str) -> PositionView:
        """Withdraw the strategies' resting orders that would take contracts the account holds that
        are not their own (`OwnOrders.beyond_own`). Asked when what the account holds there, or
        whose it is, changed, and again each turn while a withdrawal is not booked. Returns the
        account's view of the market after it."""
        view = self._portfolio.view(ticker)
        if not view.resting:
            # nothing rests to withdraw; what is held is compared afresh once orders rest
            self._owns_checked.pop(ticker, None)
            return view
        held = (view.position, view.unbooked, self._portfolio.owners.parts(ticker))
        if held == self._owns_checked.get(ticker):
            return view
        beyond = self._own.beyond_own(ticker)
        for order in beyond:
            self._sender.withdraw(ticker, order.order_id, "takes contracts not its own")
        if beyond:
            self._owns_checked.pop(ticker, None)
        else:
            self._owns_checked[ticker] = held
        return self._portfolio.view(ticker)  # a withdrawal sent may have changed it

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
            self._sender.stop_loss(ticker, stops, book, view, now)
            return True
        self._sender.forget_stop(ticker)
        return False

    def _still_quiet(
        self,
        member: Member,
        last: _Quiet | None,
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
        call's snapshot (`last`), before a new one is built."""
        if last is None or member.strategy.clock_free is None:
            return False
        before_member, before, before_view = last
        if before_member is not member:
            return False
        # the book first: on a visit for news it is what changed
        if not _same_book(member, market.book, before.book):
            return False
        if not (view is before_view or view == before_view) or not _clock_free(member, view):
            return False
        if (
            market.taker_rate != before.fee_rate
            or market.maker_rate != before.maker_fee_rate
            or market.event != before.event
            or market.price_ranges != before.price_ranges
            or market.now < before.ts
            or not self._same_event_limits(member, market.ticker, before)
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

    def _untouched(
        self, member: Member, last: _Quiet, now: float, book: Orderbook, flat: PositionView | None
    ) -> bool:
        """A quiet market none of whose inputs was even touched since the strategy's last call there
        (which decided nothing): the very same book object (every feed hands out one per change),
        position view and event books, equal price ranges and fee rates, the clock not
        stepped back, for a strategy that reads no mids and is `clock_free` for that view. Its
        turn could then only end as it did last time, so a pass over unmoved markets costs a few
        look-ups each. `last`: its last quiet call on the market."""
        before_member, before, before_view = last
        ticker = before.ticker
        strategy = member.strategy
        if before_member is not member or strategy.reads_mids or now < before.ts:
            return False
        if before_view.resting:
            return False
        if book is not before.book and not (strategy.reads_top and same_top(book, before.book)):
            return False
        view = self._portfolio.view_for(ticker, member.name) if flat is None else flat
        if view is not before_view or strategy.clock_free is None:
            return False
        try:
            if not _clock_free(member, view):
                return False
        except _StrategyRaised:
            return False  # the full path asks again, and fails the decision (`_decide`)
        if not self._events.untouched(ticker, now, before.event):
            return False
        if self._portfolio.markets[ticker].price_ranges is not before.price_ranges:
            return False
        taker_rate, maker_rate = self._portfolio.fee_rates(ticker, now)
        same_fees = taker_rate == before.fee_rate and maker_rate == before.maker_fee_rate
        return same_fees and self._same_event_limits(member, ticker, before)


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
