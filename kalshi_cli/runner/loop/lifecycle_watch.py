"""The markets' lifecycle as the trade loop follows it: a market closed, paused, reopened or
determined, told by the feed's lifecycle channel; of a market held and not traded
(`held_untraded`), its result. A message lost in a gap, or sent before the
subscription was granted, is made good by reading the markets again (`_reread_markets`).

`LifecycleWatch` writes the markets closed into the gate's set (runner/loop/gate.py). It is given
more than six collaborators because a reread is an exchange call made off the deciding path: the
client and the dispatch to make it, the API error guard it counts in, the clock of its retry,
the feed whose subscription grant starts it, the account's markets it reads and the fills a
result makes due, and the log.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

from kalshi_cli.feed.channels import NEW_MARKET_EVENTS
from kalshi_cli.feed.messages import Lifecycle
from kalshi_cli.runner.execution.dispatch import Urgency
from kalshi_cli.runner.loop.ended_markets import SETTLED
from kalshi_cli.runner.ports import VenueFeed
from kalshi_cli.vocabulary.models import (
    LIFECYCLE_RESULT,
    LIFECYCLE_RESUMES,
    LIFECYCLE_STOPS,
    Market,
    lifecycle_of_status,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from kalshi_cli.feed.book import FeedMessage
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.call_guard import CallGuard
    from kalshi_cli.runner.execution.dispatch import CallAnswer, Dispatch
    from kalshi_cli.runner.execution.fills import FillSync
    from kalshi_cli.runner.loop.new_market_listing import NewMarkets
    from kalshi_cli.runner.ports import LoopClient, MarketFeed
    from kalshi_cli.vocabulary.clock import Clock

CLOSED_EVENTS = LIFECYCLE_STOPS | LIFECYCLE_RESULT
# of those, the ones no later event undoes: `deactivated` is also a pause, which `activated` ends
ENDED_EVENTS = (LIFECYCLE_STOPS - {"deactivated"}) | LIFECYCLE_RESULT
LIFECYCLE_CHANNEL = "market_lifecycle_v2"  # what a GAP message of that channel names (feed/ws.py)
MARKETS_PER_READ = 100  # tickers per `GET /markets?tickers=` (the query stays a short URL)
# how long after a failed read of the markets' state it is made again if no gap comes first
REREAD_RETRY_S = 5.0


class TakesOn(Protocol):
    """Markets taken on after a tick's events (runner/loop/held_markets.py `HeldMarkets`), one
    refused while it did not trade tried again once it does (`reopened`)."""

    def due(self) -> None: ...

    def reopened(self, ticker: str) -> None: ...


def read_markets(listing: Callable[..., Iterable[Market]], tickers: Sequence[str]) -> list[Market]:
    """The markets of `tickers` as `listing` (`GET /markets?tickers=`) gives them,
    `MARKETS_PER_READ` a request."""
    found: list[Market] = []
    for i in range(0, len(tickers), MARKETS_PER_READ):
        found.extend(listing(tickers=tickers[i : i + MARKETS_PER_READ]))
    return found


def held_untraded(portfolio: Portfolio) -> list[str]:
    """The markets the account holds contracts in that the loop does not trade: one closed
    before the start (awaiting its result), or left out of the selection. They settle all the
    same, and the day's P&L and the exposure must see it: their results are followed too."""
    return [m.ticker for m in portfolio.open_positions() if m.ticker not in portfolio.markets]


def follow_held_untraded(feed: object, portfolio: Portfolio) -> None:
    """At the start: the feed passes on the lifecycle of the markets held and not traded, so
    the loop books their settlement as it books a traded market's (`follow_markets`)."""
    follow_markets(feed, held_untraded(portfolio))


def follow_markets(feed: object, tickers: Sequence[str]) -> None:
    """The feed passes on the lifecycle (and orders) of `tickers`, markets it keeps no book of:
    a pause ended, a close, a result (a feed of a replay, which has no `follow`, tells of every
    market)."""
    follow = getattr(feed, "follow", None)
    if follow is not None and tickers:
        follow(tickers)


class LifecycleWatch:
    def __init__(
        self,
        *,
        client: LoopClient,
        feed: MarketFeed,
        portfolio: Portfolio,
        clock: Clock,
        fills: FillSync,
        guard: CallGuard,
        dispatch: Dispatch,
        log: EntryLog,
        closed: set[str],
        settled: Callable[[str, str], None],
        new_markets: NewMarkets | None = None,
        held: TakesOn | None = None,
    ) -> None:
        """`settled`: told each market's result ("yes" or "no") as it is known, so the
        event's worst case rules out what it ended (services/pretrade/loop.py
        `LoopReads.settled`); `new_markets`: told of a market listed or opened that the loop
        does not trade, for a loop asked for a series or an event (runner/loop/new_markets.py;
        None: its markets are fixed); `held`: the markets the account holds that the loop does
        not trade, taken on for their exits (runner/loop/held_markets.py)."""
        self._client = client  # the markets are read again through it
        self._feed, self._portfolio, self._clock = feed, portfolio, clock
        self._fills, self._guard, self._dispatch = fills, guard, dispatch
        self._log = log
        self._closed = closed  # written here as markets close; the market pass reads it
        self._settled = settled
        self._new_markets = new_markets
        self._held = held
        self._ended: set[str] = set()  # of those, the ones closed for good
        # a lifecycle gap: the markets' state read again (`_reread_markets`)
        self._reread_due = False  # a gap asked for a read not made yet
        self._reread_out = False  # a read is on its way, its answer not booked
        self._reread_at = -math.inf  # not before (monotonic): a failed read's retry
        self._told: set[str] = set()  # markets a lifecycle message told of while a read was out
        # the feed's first lifecycle subscription was seen granted (`_first_grant`)
        self._granted_once = False
        # a market the start's listing shows closed for good (closed between the selection and
        # the start, or named by hand) trades no more: closed from the first tick, not only once
        # the first grant's read finds it so, so that nothing, a set's sale back included, goes
        # there meanwhile
        for market in portfolio.markets.values():
            kind = lifecycle_of_status(market.status, market.result)
            if kind in ENDED_EVENTS:
                self._apply_lifecycle(market.ticker, kind, {"status": market.status}, market.result)

    def message(self, feed_message: FeedMessage) -> None:
        """A lifecycle message of the feed's."""
        lifecycle = feed_message.payload
        if not isinstance(lifecycle, Lifecycle):
            return
        ticker, kind = lifecycle.market_ticker or "", lifecycle.event_type or ""
        if kind in LIFECYCLE_RESULT:
            self._fills.told_elsewhere(ticker)
        if self._new_markets is not None and kind in NEW_MARKET_EVENTS:
            self._new_markets.told(ticker, kind)
        if self._reread_out and (kind in CLOSED_EVENTS or kind == LIFECYCLE_RESUMES):
            self._told.add(ticker)
        self._apply_lifecycle(ticker, kind, {}, lifecycle.result)

    def gap(self) -> None:
        """A close, pause, resume or result may be lost (a number missed, or said while the
        feed reconnected): the channel has no snapshot to resync from, so the markets' state is
        read again (at once: a failed read's wait is over)."""
        self._reread_due = True
        self._reread_at = -math.inf
        self._granted_once = True  # a gap comes after a grant: its read is the one
        # a result lost in a market the loop follows elsewhere: those events are read again
        self._fills.told_elsewhere(None)

    def after_events(self) -> None:
        """After a tick's events: the first grant seen, and the read a gap asked for made (what
        it finds is newer than the messages before the gap); the listing of new markets, if
        due; the markets held and not traded taken on."""
        self._first_grant()
        self._reread_markets()
        if self._new_markets is not None:
            self._new_markets.ended.sweep()
            self._new_markets.due()
        if self._held is not None:
            self._held.due()

    def _apply_lifecycle(
        self,
        ticker: str,
        kind: str,
        detail: dict[str, str],
        result: str | None,
    ) -> None:
        """One rule for what a lifecycle event does to the loop's market, told by its message or
        read again after a gap (`detail`: what the read found; `result`: the result it states);
        of a market held and not traded, its result alone."""
        traded = ticker in self._portfolio.markets
        if kind in LIFECYCLE_RESULT and result in ("yes", "no"):
            self._settled(ticker, result)
        if kind in LIFECYCLE_RESULT and (traded or self._portfolio.position(ticker) != 0):
            # its settlement is read with the fills from now on, and booked when listed
            self._fills.settlements.result_known(ticker)
            self._fills.due.set()
        if not traded:
            if kind == LIFECYCLE_RESUMES and self._held is not None:
                self._held.reopened(ticker)  # a market held and paused trades again
            return
        if kind in ENDED_EVENTS:
            self._ended.add(ticker)
        if kind == SETTLED and self._new_markets is not None:
            self._new_markets.ended.settled(ticker)  # it leaves once nothing is left there
        if kind in CLOSED_EVENTS and ticker not in self._closed:
            self._closed.add(ticker)
            self._log.emit("market_closed", {"ticker": ticker, "event_type": kind, **detail})
        elif kind == LIFECYCLE_RESUMES and ticker in self._closed and ticker not in self._ended:
            # a pause ended: the market trades again, and the loop trades it, stop-loss too
            self._closed.discard(ticker)
            self._log.emit("market_reopened", {"ticker": ticker, "event_type": kind, **detail})

    def _first_grant(self) -> None:
        """The feed's first lifecycle subscription, once granted, is a gap to the loop: what was
        said between the start's listing and the grant is never said on it. The loop reads its
        markets once when it first sees the subscription; a later grant is reported by the feed
        as a gap."""
        if self._granted_once:
            return
        session = getattr(getattr(self._feed, "ws", None), "session", None)
        if LIFECYCLE_CHANNEL in getattr(session, "sids", ()):
            self._granted_once = True
            self._reread_due = True
            self._reread_at = -math.inf

    def _reread_markets(self) -> None:
        """After a lifecycle gap (or the first grant), the loop's markets read again (`GET
        /markets?tickers=`) and applied as the lifecycle message that leads there would be
        (`lifecycle_of_status`). Made off the deciding path, one at a time, not during the API
        error guard's backoff; a failed read is made again on the next gap or `REREAD_RETRY_S`
        later."""
        if not self._reread_due or self._reread_out or self._guard.backing_off:
            return
        if self._clock.monotonic() < self._reread_at:
            return
        # a client that lists no markets (a test's) has nothing to read them from
        listing = getattr(getattr(self._client, "markets", None), "iter_markets", None)
        self._reread_due = False
        # a market whose result is known has nothing left to learn
        traded = {t for t in self._portfolio.markets if t not in self._ended}
        tickers = sorted(traded | set(held_untraded(self._portfolio)))
        if listing is None or not tickers:
            return

        def read() -> list[Market]:
            return read_markets(listing, tickers)

        self._reread_out = True
        self._told.clear()
        self._dispatch.send(
            (), read, self._reread_booked, Urgency.AGAIN, unmade=self._reread_unmade
        )

    def _reread_booked(self, answer: CallAnswer[list[Market]]) -> None:
        """The markets' state read after a gap, booked on the deciding path. A market a
        lifecycle message told of while the read was out is left to the message: the channel
        delivers in order, so what it said, and what follows it, is as new as the read."""
        self._reread_out = False
        told, self._told = self._told, set()
        markets = self._guard.read(answer, "lifecycle_read_failed")
        if markets is None:
            self._reread_due = True
            self._reread_at = self._clock.monotonic() + REREAD_RETRY_S
            return
        venue = self._feed if isinstance(self._feed, VenueFeed) else None
        for market in markets:
            kind = lifecycle_of_status(market.status, market.result)
            if kind is not None and market.ticker not in told:
                if venue is not None:
                    venue.market_read(market, kind)
                detail = {"status": market.status}
                self._apply_lifecycle(market.ticker, kind, detail, market.result)

    def _reread_unmade(self) -> None:
        # never made (the loop is stopping, or a drain failed): a later tick may make it
        self._reread_out = False
        self._reread_due = True
