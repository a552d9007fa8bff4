"""When a loop asked for a series or an event lists its selection for markets that opened while it
runs (`NewMarkets`), and what the start does and says of its markets past the books, done for each
it takes on: what the account holds there counted by the loop's view, given to the strategy
`--assign` named for it (`position_assigned`), its shard's lines (`BalanceHold.lines`, logged
`shards_at_join`). What is done to each market found is runner/loop/new_markets.py
`MarketJoin`'s; docs/trade-loop.md "Markets that open while the loop runs".

The orders resting there that were placed elsewhere are recorded as the start's reconcile
records them before the market joins (a state file that cannot record them refuses it, and the
loop goes on), and read again once the feed's `user_orders` subscription carries it: no message
of an order placed there between the listing and the exchange's answer to the feed's
`add_markets` reaches the loop. The market takes no turn until that read is answered
(runner/loop/orders_read_again.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from kalshi_cli.runner.books.portfolio import give_assigned
from kalshi_cli.runner.execution.dispatch import Urgency
from kalshi_cli.runner.loop.ended_markets import EndedMarkets
from kalshi_cli.runner.loop.orders_read_again import record_foreign
from kalshi_cli.services.pretrade.books import book_resting
from kalshi_cli.store.errors import StoreError, is_state_failure

if TYPE_CHECKING:
    from kalshi_cli.runner.execution.dispatch import CallAnswer, Dispatch
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.loop.new_markets import Found, MarketJoin, Prepared
    from kalshi_cli.runner.loop.shared import Tuning
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.models import Order


class NewMarkets:
    """When the loop lists its selection for markets that opened while it runs: at once after a
    lifecycle message of a market it does not trade, and every `poll_s` whatever comes. One
    listing out at a time, not during the API error guard's backoff."""

    def __init__(
        self,
        join: MarketJoin,
        dispatch: Dispatch,
        tuning: Tuning,
        executor: LoopExecutor,
        store: Store,
    ) -> None:
        """`join`: what is done to each market found; the listing is made through `dispatch`,
        counted by the API error guard (the `executor`'s), every `trade.new_markets_poll_s`
        (`tuning`). The settled markets leave the loop (`ended`, runner/loop/ended_markets.py:
        what the `executor` and the `store` hold there)."""
        assert join.reads is not None
        self.ended = EndedMarkets(
            join, executor, dispatch, store, join.reads.client.subaccount or 0
        )
        self._take_on = TakeOn(join, executor, store, tuning)
        guard = executor.guard
        self._reads = join.reads
        self._selection, self._client = join.reads.selection, join.reads.client
        self._join, self._portfolio = join, join.portfolio
        self._dispatch, self._guard = dispatch, guard
        self._clock, self._log = join.clock, join.log
        self._tuning = tuning
        # the start's listing was the first
        self._next = self._clock.monotonic() + self._poll_s()
        self._out = False
        self._told: dict[str, str] = {}  # ticker -> the lifecycle event that told of it
        self._refused: set[str] = set()  # said once; a later listing does not try it again

    def _poll_s(self) -> float:
        return self._tuning.settings.new_markets_poll_s

    def told(self, ticker: str, event_type: str) -> None:
        """A `created` or `activated` message of a market the loop does not trade: one of its
        selection's (a ticker begins with its event's, which begins with its series') is looked
        for in a listing at once."""
        if ticker in self._portfolio.markets or ticker in self._refused:
            return
        if self._reads.selects(ticker):
            self._told.setdefault(ticker, event_type)
            self._next = -math.inf

    def due(self) -> None:
        """After a tick's events: the listing, if it is due."""
        now = self._clock.monotonic()
        if self._out or self._guard.backing_off or now < self._next:
            return
        self._out = True
        self._next = now + self._poll_s()
        told, self._told = self._told, {}
        seen = self._join.seen()
        skip = set(seen.markets) | self._refused
        selection, client, join, pace_s = self._selection, self._client, self._join, self._poll_s()

        def read() -> Found:
            listed = [m for m in selection.markets(client) if m.ticker not in skip]
            return join.prepare(listed, told, seen, pace_s)

        self._dispatch.send((), read, self._booked, Urgency.AGAIN, unmade=self._unmade)

    def _booked(self, answer: CallAnswer[Found]) -> None:
        self._out = False
        found = self._guard.read(answer, "new_markets_read_failed")
        if found is None:
            return
        # one listing is out at a time: none it found was refused by an earlier one
        self._refused.update(
            p.market.ticker for p in found.markets if p.refused is not None and not p.again
        )
        self._take_on.take(found)

    def _unmade(self) -> None:
        self._out = False
        self._next = -math.inf  # never made: a later tick makes it


class TakeOn:
    """The markets one read found put in the loop's books (`MarketJoin.join`), with what the
    start does and says of its markets past the books: the orders resting there placed
    elsewhere recorded first, then what the account holds and rests there counted by the
    loop's view, given to the strategy `--assign` named for it, and its shard's lines. For the
    markets a listing found and those the account holds (runner/loop/held_markets.py)."""

    def __init__(self, join: MarketJoin, executor: LoopExecutor, store: Store, tuning: Tuning):
        assert join.reads is not None
        self._join, self._portfolio = join, join.portfolio
        self._client = join.reads.client
        self._fills, self._hold = executor.fills, executor.balance_hold
        self._store = store  # the strategies `--assign` gave each market's contracts to
        self._clock, self._log = join.clock, join.log
        self._tuning = tuning

    def take(self, found: Found) -> list[Prepared]:
        """The markets `found` taken on (those refused said, and left out); the ones joined."""
        # the orders placed elsewhere recorded before a market joins: one the state file cannot
        # record refuses it (a later read tries it again)
        recorded = tuple(self._recorded(p, found.read_at) for p in found.markets)
        joined = self._join.join(replace(found, markets=recorded))
        for prepared in joined:
            self._taken_on(prepared, found.read_at)
        return joined

    def _recorded(self, prepared: Prepared, asked: float) -> Prepared:
        """A market found, with its resting orders placed elsewhere recorded in the state file,
        or refused (`again`) when the state file could not record them."""
        if prepared.refused is not None:
            return prepared
        try:
            self._record(prepared.market.ticker, prepared.resting, asked)
        except StoreError as exc:
            if not is_state_failure(exc):
                raise  # a bug of ours in using it stays a crash
            why = f"the state file could not record its resting orders: {exc.one_line()}"
            return replace(prepared, refused=why, again=True)
        return prepared

    def _record(self, ticker: str, resting: Iterable[Order], asked: float) -> None:
        record_foreign(
            self._store, self._log, ticker, resting, asked=asked,
            read_lag_s=self._tuning.settings.read_lag_s, subaccount=self._client.subaccount or 0,
        )  # fmt: skip

    def _taken_on(self, prepared: Prepared, read_at: float) -> None:
        """What the start does and says of each of its markets past its books, done for one
        taken on (its fills and resting orders, listed at `read_at`): what the account holds
        and rests there counted by the loop's view (`FillSync.joined`; the orders placed
        elsewhere, recorded before it joined, booked as the start's rebuild books them),
        given to the strategy `--assign` named for it (not in a market taken on for its exits
        alone, where no strategy acts: they stay nobody's), and its shard's lines."""
        ticker = prepared.market.ticker
        book_resting(self._store, self._portfolio, self._client.subaccount or 0, ticker)
        self._fills.joined(ticker, prepared.fills, read_at)
        if ticker not in self._join.exits_only:  # no strategy acts where it exits alone
            assigned, names = self._store.trading.assignments(), self._tuning.lineup.names
            now = self._clock.wall()
            give_assigned(self._portfolio, assigned, names, now, self._log, tickers=[ticker])
        traded = self._tuning.lineup.traded({ticker: self._join.terms[ticker]})
        lines = self._hold.lines(traded, [ticker])
        if lines:
            self._log.emit("shards_at_join", {"ticker": ticker, "lines": lines})
