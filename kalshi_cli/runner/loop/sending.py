"""What a market's turn decided, sent through the `LoopExecutor`: a strategy's cancels and
intents, each made its own (its name, only its own orders replaced) and cut to what it may take
of the account's position (`OwnOrders.within_own`), legs that only pay together as one set
(runner/execution/leg_sets.py: it ends whole or flat), its notes logged once (`strategy_note`);
and the stop-loss, at most once per `stop_loss_retry_s` against the same book.
runner/loop/market_pass.py decides the turn. It is given more than six collaborators because a
turn's decisions go three ways (single orders and cancels to the executor, legs to the set part,
cuts by the loop's own orders) and it reads the feed, the clock, the settings and the entry log
to send them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.runner.ports import book_data_at
from kalshi_cli.vocabulary.decisions import (
    Cancel,
    Decision,
    Intent,
    Note,
    PositionView,
    market_bid,
)
from kalshi_cli.vocabulary.models import Level, Orderbook
from kalshi_cli.vocabulary.units import ZERO

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.execution.leg_sets import LegSets
    from kalshi_cli.runner.execution.own_orders import OwnOrders
    from kalshi_cli.runner.loop.shared import Alert, Tuning
    from kalshi_cli.runner.ports import MarketFeed
    from kalshi_cli.vocabulary.clock import Clock


@dataclass(frozen=True)
class StopAttempt:
    """The last firing of a market's stop-loss: when, against which best bid of the held side
    and which position, and whether its closes were tried (not held by the API backoff)."""

    at: float  # monotonic
    against: tuple[Level | None, Decimal]
    tried: bool


class TurnSender:
    def __init__(
        self,
        *,
        executor: LoopExecutor,
        legs: LegSets,
        own: OwnOrders,
        feed: MarketFeed,
        clock: Clock,
        tuning: Tuning,
        log: EntryLog,
        alert: Alert,
    ) -> None:
        self._executor = executor
        self._legs = legs
        self._own = own
        self._feed = feed
        self._clock = clock
        self._tuning = tuning
        self._log = log
        self._alert = alert
        self._stops: dict[str, StopAttempt] = {}
        self._noted: set[tuple[str, str]] = set()  # (strategy, key) of each note logged

    def send(
        self,
        name: str,
        ticker: str,
        decisions: Sequence[Decision],
        view: PositionView,
        *,
        now: float,  # unix seconds
        paired: bool,
    ) -> None:
        """What strategy `name` decided on `ticker` from `view`, sent: its cancels of its own
        orders, its intents as its own and within its own part; legs of one decision in several
        markets (or of a strategy that `uses_events`: `paired`) as one group."""
        # the book's freshness and age are read only when an order may go out
        last_data_at = book_data_at(self._feed, ticker, now)
        mine = {o.order_id for o in view.resting}
        intents: list[Intent] = []
        gone: set[str] = set()  # its resting orders this decision cancels or replaces
        for decision in decisions:
            if isinstance(decision, Note):
                self._note(name, decision)
                continue
            if isinstance(decision, Cancel):
                if decision.order_id in mine:  # never another strategy's or a person's order
                    self._executor.cancels.cancel(decision)
                    gone.add(decision.order_id)
                continue
            intent = _owned(decision, name, mine)
            gone.update(intent.replaces)
            intents.append(intent)
        grouped = len(intents) > 1 and (len({i.ticker for i in intents}) > 1 or paired)
        intents, cut = self._within_own(intents, name, gone)
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
            self._legs.execute(intents, last_data_at=last_data_at)
            return
        for intent in intents:
            # an order that adds waits for the tick's batch; one that reduces goes at once
            self._executor.execute(intent, last_data_at=last_data_at, batch=True)

    def _note(self, name: str, note: Note) -> None:
        """A strategy's word, logged once a run per strategy and key (`strategy_note`)."""
        if (name, note.key) in self._noted:
            return
        self._noted.add((name, note.key))
        fields = {"strategy": name, "ticker": note.ticker, "key": note.key, "text": note.text}
        self._log.emit("strategy_note", fields)

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

    def withdraw(self, ticker: str, order_id: str, why: str) -> None:
        """A resting order of the loop's withdrawn (runner/execution/cancels.py `withdraw`)."""
        self._executor.cancels.withdraw(ticker, order_id, why)

    # ---------------------------------------------------------------- the stop-loss

    def stop_waiting(self, ticker: str) -> bool:
        """A stop-loss fired in this market whose close did not fill: its retry is due by
        time, not only on a new book."""
        return ticker in self._stops

    def forget_stop(self, ticker: str) -> None:
        """The market's stop-loss does not ask to close (or nothing is held): its last firing
        is forgotten."""
        self._stops.pop(ticker, None)

    def stop_loss(
        self,
        ticker: str,
        stops: list[Intent],
        book: Orderbook,
        view: PositionView,
        now: float,  # unix seconds
    ) -> None:
        """Fire the stop-loss, at most once per `stop_loss_retry_s` against the same book. A
        close that cannot fill (the bid is gone) would otherwise go out on every tick: a slot of
        the order-rate cap each time, which every other market shares, and a `stop_loss` event
        and alert each time. A new bid or a partial fill (a
        new position) makes it fire at once."""
        # the position as the closes sell it: what the exchange holds (fills told included)
        held = sum((stop.count for stop in stops), ZERO)
        against = (market_bid(book, stops[0].side, view.resting), held)
        last_data_at = book_data_at(self._feed, ticker, now)
        now_m = self._clock.monotonic()
        guard = self._executor.guard
        last = self._stops.get(ticker)
        retry_s = self._tuning.settings.stop_loss_retry_s
        if last is not None and last.against == against and now_m < last.at + retry_s:
            # closes held by the backoff go out as soon as it is over, without a new signal
            if last.tried or guard.backing_off:
                return
        else:
            first = stops[0]
            self._log.emit(
                "stop_loss", {"ticker": ticker, "reason": first.reason, "orders": len(stops)}
            )
            self._alert("stop_loss", ticker, first.reason, {"ticker": ticker})
        tried = not guard.backing_off
        self._stops[ticker] = StopAttempt(now_m, against, tried)
        if tried:
            for intent in stops:
                self._executor.execute(intent, last_data_at=last_data_at)


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
