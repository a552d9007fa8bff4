"""The markets of a mutually exclusive event, as a strategy that `uses_events` sees them on a
market's turn (runner/loop/market_pass.py): `EventGroup`, an event's selected markets
(`find_events`, read once at the loop's build), and `EventGroups`, each one's other markets now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kalshi_cli.services.pretrade.loop import by_event, mutually_exclusive
from kalshi_cli.strategy_api import EventMarket, EventView, MarketTerms

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.ports import MarketFeed
    from kalshi_cli.services.pretrade.events import EventReader
    from kalshi_cli.vocabulary.models import Market


@dataclass(frozen=True)
class EventGroup:
    """The selected markets of one event the exchange flags mutually exclusive (two or more, in
    ticker order), and whether they are every market the event lists: what a strategy that
    `uses_events` is handed of it (`EventView`)."""

    event_ticker: str
    tickers: tuple[str, ...]
    complete: bool


class EventGroups:
    def __init__(
        self,
        *,
        feed: MarketFeed,
        portfolio: Portfolio,
        groups: Mapping[str, EventGroup],
        terms: Mapping[str, MarketTerms],
        closed: set[str],
    ) -> None:
        self._feed, self._portfolio = feed, portfolio
        self._terms = terms  # how each market settles: a NO set pays less where YES has a floor
        # ticker -> its mutually exclusive event's selected markets (a market in none costs one
        # look-up a turn)
        self._groups = groups
        self._closed = closed  # markets closed, determined or settled

    def view(self, ticker: str, now: float) -> EventView | None:
        """The market's event as a strategy sees it: its other markets that are open with a
        fresh book (None: no such market, or the market is in no group)."""
        group = self._groups.get(ticker)
        if group is None:
            return None
        others: list[EventMarket] = []
        for other in group.tickers:
            book = None if other == ticker or other in self._closed else self._feed.book(other)
            if book is not None:  # None unless fresh
                ranges = self._portfolio.markets[other].price_ranges
                rate = self._portfolio.fee_rates(other, now)[0]
                others.append(EventMarket(other, book, ranges, rate, self._terms.get(other)))
        if not others:
            return None
        complete = group.complete and len(others) + 1 == len(group.tickers)
        return EventView(group.event_ticker, tuple(others), complete)

    def untouched(self, ticker: str, now: float, before: EventView | None) -> bool:
        """The event's other markets as at the last call: the very same books and grids, equal
        fee rates, none closed or gone stale since."""
        if before is None:
            return ticker not in self._groups or self.view(ticker, now) is None
        if len(before.others) + 1 != len(self._groups[ticker].tickers):
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


def find_events(reader: EventReader, markets: Iterable[Market]) -> dict[str, EventGroup]:
    """Ticker -> its event's selected markets, for events of two or more selected markets that
    the exchange flags `mutually_exclusive` (at most one of them settles YES); each group says
    whether it holds every market the event lists. One event read per such event: a market
    alone in its event costs nothing."""
    groups: dict[str, EventGroup] = {}
    for event_ticker, own in by_event(markets).items():
        tickers = [m.ticker for m in own]
        if len(tickers) < 2:
            continue
        exclusive, listed = mutually_exclusive(reader, event_ticker)
        if not exclusive:
            continue
        group = EventGroup(event_ticker, tuple(sorted(tickers)), listed == set(tickers))
        groups.update(dict.fromkeys(tickers, group))
    return groups
