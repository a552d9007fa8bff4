"""Markets that have ended for a loop that takes on new markets: a market of its series or event
that has settled leaves the loop once nothing is left there, so that an hourly series' loop does
not grow by a market every hour. docs/trade-loop.md "Markets that open while the loop runs".

A market settled (its lifecycle `settled`, told or read after a gap) waits until nothing of the
loop's is left there: no contracts held, no order resting, told filled and not read, on its way
or of unknown outcome, no set not ended holding a leg there, and its settlement booked. Then it
is unsubscribed from the feed (its book dropped with it) and dropped from the schedule; its
market, fills, settlement and P&L stay in the portfolio and the state file for the records, the
stop and the limit on an event's loss. The log says `market_removed`.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.dispatch import Dispatch
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.execution.unknown_orders import UnknownOrders
    from kalshi_cli.runner.loop.schedule import MarketSchedule
    from kalshi_cli.runner.ports import MarketFeed
    from kalshi_cli.store import Store

SETTLED = "settled"  # why a market is let go: the lifecycle event it waited for


class JoinedBooks(Protocol):
    """The books a market was put in when it joined (runner/loop/new_markets.py `MarketJoin`)."""

    portfolio: Portfolio
    schedule: MarketSchedule
    feed: MarketFeed
    log: EntryLog


class EndedMarkets:
    """The settled markets waiting to leave the loop (`settled`), let go once nothing of the
    loop's is left there (`sweep`, after each tick's events)."""

    def __init__(
        self,
        join: JoinedBooks,
        executor: LoopExecutor,
        dispatch: Dispatch,
        store: Store,
        subaccount: int,
    ) -> None:
        """`join`: the books a market was put in (its portfolio, schedule, feed and log);
        `executor`: the settlements not booked yet and the orders of unknown outcome;
        `dispatch`: the calls out; `store`: the sets not ended of the loop's `subaccount`
        (`in_doubt`)."""
        self._portfolio, self._awaited = join.portfolio, executor.fills.settlements.awaited
        self._busy = partial(in_doubt, dispatch, executor.unknown_orders, store, subaccount)
        self._schedule, self._feed, self._log = join.schedule, join.feed, join.log
        self._waiting: set[str] = set()
        self.gone: set[str] = set()  # let go: a late message of theirs changes nothing

    def settled(self, ticker: str) -> None:
        """A traded market's lifecycle says it settled."""
        if ticker not in self.gone:
            self._waiting.add(ticker)

    def sweep(self) -> None:
        """Each settled market with nothing of the loop's left there leaves it."""
        for ticker in sorted(self._waiting):
            if self._empty(ticker):
                self._leave(ticker)

    def _empty(self, ticker: str) -> bool:
        view = self._portfolio.view(ticker)
        return not (
            view.position
            or view.resting
            or view.unbooked
            or ticker in self._awaited
            or self._busy(ticker)
        )

    def _leave(self, ticker: str) -> None:
        self._waiting.discard(ticker)
        self.gone.add(ticker)
        self._schedule.remove(ticker)
        remove = getattr(self._feed, "remove_markets", None)
        if remove is not None:
            remove([ticker])
        self._log.emit("market_removed", {"ticker": ticker, "why": SETTLED})


def in_doubt(
    dispatch: Dispatch, unknown: UnknownOrders, store: Store, subaccount: int, ticker: str
) -> bool:
    """Whether anything of the loop's is on its way in `ticker` or in doubt there: a call out
    or its answer not booked, an order or amend of unknown outcome, a set of its `subaccount`
    not ended (on its way or broken) with a leg there (read from the state file: a set the
    start found too)."""
    if dispatch.busy(ticker) or unknown.holds(ticker):
        return True
    sets = store.leg_sets.unfinished(subaccount)
    return any(leg.ticker == ticker for s in sets for leg in s.legs)
