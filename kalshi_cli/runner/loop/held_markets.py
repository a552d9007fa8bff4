"""The markets the account holds contracts in that the loop does not trade, taken on for their
exits alone, so that the stop-loss guards every position the loop's subaccount holds.
docs/risk.md "Stop-loss floor".

Which: at the start, each held outside the loop's markets (`held_untraded`: closed before the
start, or left out of the selection; not one of a series or event the loop lists, which it
takes on to trade when it opens: runner/loop/new_market_listing.py); while it runs, each
where a fill read lists a fill of the account's (a buy by hand, another loop's:
`FillSync.outside`). They are read (`GET /markets?tickers=`) and prepared off the deciding
path as a market that opens is (`MarketJoin.prepare`: open, its fees, its shard, its event, its
fills and resting orders), then put in the loop's books (`TakeOn`, which books what the account
holds there, and logs `market_added` with `why: held` once) marked `HELD`: no strategy's turn is
ever made there (the schedule does not hand the market out, nor does it join a strategy's event
group), so an earlier run's quote of the loop's strategies resting there is withdrawn once it
is taken on (`NO_STRATEGY_THERE`; the stop would cancel it) and `--assign` gives nobody its
contracts there (`TakeOn`); the schedule follows its book, and each tick's step over the held
positions (runner/loop/turns.py) runs its stop-loss on a book change, a new position view or a
close waiting for its retry, through the one risk and send path. Its lifecycle is the loop's other
markets': a close ends its exits. One refused is said (`market_refused`): one not open is tried
again only when its lifecycle says it trades again (`reopened`: paused at the start, then
activated), its result followed all the same (runner/loop/lifecycle_watch.py
`follow_held_untraded`; one found while the loop runs is followed once refused); one refused
for what may pass (`Prepared.again`: fees that cannot be priced, its shard's group not made,
the state file) a listing interval later, by the rule a listing of new markets follows.

A loop that holds nothing outside its markets asks nothing here beyond three empty
collections a tick; one whose stop-loss is off (`risk.stop_loss_share: 0`) takes none on while
it is.

`HeldMarkets` is given more than six collaborators because it both takes a market on (what a
market that opens needs: the join, the dispatch its read goes through, the executor's guard and
fills, the state file, the tuning) and hands it to the stop-loss alone (the risk engine whose
stop-loss is asked, the loop's own orders whose quotes there are withdrawn).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from kalshi_cli.runner.execution.dispatch import Urgency
from kalshi_cli.runner.loop.lifecycle_watch import (
    REREAD_RETRY_S,
    follow_markets,
    held_untraded,
    read_markets,
)
from kalshi_cli.runner.loop.new_market_listing import TakeOn
from kalshi_cli.runner.loop.new_markets import HELD

# why the loop's strategies' orders resting in a market taken on for its exits are withdrawn
NO_STRATEGY_THERE = "held, no strategy trades there"

if TYPE_CHECKING:
    from kalshi_cli.risk.engine import RiskEngine
    from kalshi_cli.runner.execution.dispatch import CallAnswer, Dispatch
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.execution.own_orders import OwnOrders
    from kalshi_cli.runner.loop.new_markets import Found, MarketJoin
    from kalshi_cli.runner.loop.shared import Tuning
    from kalshi_cli.store import Store


class HeldMarkets:
    """The held markets waiting to be taken on, and the one read of them out at a time (not
    during the API error guard's backoff; a failed one made again `REREAD_RETRY_S` later)."""

    def __init__(
        self,
        *,
        join: MarketJoin,
        dispatch: Dispatch,
        tuning: Tuning,
        executor: LoopExecutor,
        store: Store,
        risk: RiskEngine,
        own: OwnOrders,
    ) -> None:
        """`join`: the books a market is put in (None `reads`: a paper run, whose venue holds
        nothing outside its markets, takes none on); the read goes through `dispatch`, counted
        by the `executor`'s API error guard; `store`: where the orders resting there placed
        elsewhere are recorded (`TakeOn`); `risk`: whose stop-loss guards them (off,
        `risk.stop_loss_share: 0`: none is taken on while it is); `own`: the loop's orders,
        those of its strategies resting there (an earlier run's quotes) withdrawn once it is
        taken on, no strategy acting there."""
        self._take_on = None if join.reads is None else TakeOn(join, executor, store, tuning)
        self._join, self._portfolio = join, join.portfolio
        self._outside = executor.fills.outside
        self._dispatch, self._guard = dispatch, executor.guard
        self._tuning = tuning
        self._risk = risk
        self._own = own
        self._waiting: set[str] = set(held_untraded(join.portfolio))
        self._refused: set[str] = set()  # said once, tried again once it trades (`reopened`)
        # ticker -> when (monotonic) one refused for what may pass is tried again (`_not_taken`)
        self._later: dict[str, float] = {}
        self._out = False
        self._next = -math.inf  # not before (monotonic): a failed read's retry

    def reopened(self, ticker: str) -> None:
        """A market held and not traded trades again (its lifecycle's `activated`): one refused
        while it did not (paused at the start) is tried again."""
        if ticker in self._refused:
            self._refused.discard(ticker)
            self._waiting.add(ticker)

    def due(self) -> None:
        """After a tick's events: the held markets not taken on yet read, if any waits."""
        outside = self._outside
        if outside:
            self._waiting.update(outside)
            outside.clear()
        if self._later:
            self._due_again()
        if not self._waiting or self._out or self._guard.backing_off or self._take_on is None:
            return
        join = self._join
        if not self._risk.limits.stop_loss_share or join.clock.monotonic() < self._next:
            return  # no stop-loss to guard them: they wait (nothing is read)
        assert join.reads is not None  # a join that reads (`_take_on`)
        markets, selects = self._portfolio.markets, join.reads.selects
        later = self._refused | self._later.keys()
        # one of the selection a listing takes on to trade, when it opens
        tickers = sorted(
            t for t in self._waiting if t not in markets and t not in later and not selects(t)
        )
        self._waiting.clear()
        if not tickers:
            return
        listing = join.reads.client.markets.iter_markets
        seen, pace_s = join.seen(), self._tuning.settings.new_markets_poll_s

        def read() -> Found:
            found = read_markets(listing, tickers)
            return join.prepare(found, dict.fromkeys(tickers, HELD), seen, pace_s)

        def booked(answer: CallAnswer[Found]) -> None:
            self._out = False
            found = self._guard.read(answer, "held_markets_read_failed")
            if found is None:
                self._waiting.update(tickers)
                self._next = join.clock.monotonic() + REREAD_RETRY_S
                return
            assert self._take_on is not None
            joined = {p.market.ticker for p in self._take_on.take(found)}
            self._not_taken(found, joined, pace_s)
            if joined:  # no strategy acts there: nobody would manage its quotes
                self._own.withdraw_all(NO_STRATEGY_THERE, lambda o: o.ticker in joined)

        def unmade() -> None:  # never made (the loop is stopping): a later tick makes it
            self._out = False
            self._waiting.update(tickers)

        self._out = True
        self._dispatch.send((), read, booked, Urgency.AGAIN, unmade=unmade)

    def _due_again(self) -> None:
        """The markets refused for what may pass whose time to be tried again has come."""
        now = self._join.clock.monotonic()
        for ticker, at in list(self._later.items()):
            if now >= at:
                del self._later[ticker]
                self._waiting.add(ticker)

    def _not_taken(self, found: Found, joined: set[str], pace_s: float) -> None:
        """The markets a read found and did not take on: one refused while it does not trade
        (not open) tried again once it does (`reopened`, its lifecycle followed); one refused
        for what may pass (`again`: fees that cannot be priced, its shard's group not made,
        which is made again no sooner than `pace_s` on; the state file) tried again `pace_s`
        on, not read again every tick."""
        again_at = self._join.clock.monotonic() + pace_s
        markets = self._portfolio.markets
        waits: list[str] = []
        for prepared in found.markets:
            ticker = prepared.market.ticker
            if ticker in joined or ticker in markets:  # in the books: a listing took it on
                continue
            if prepared.refused is not None and not prepared.again:
                self._refused.add(ticker)
                waits.append(ticker)
            else:
                self._later[ticker] = again_at
        # its lifecycle heard, which says when it trades again: a market found held while the
        # loop runs is followed from no start (`follow_held_untraded`)
        follow_markets(self._join.feed, waits)
