"""Market data applied to a local venue: the one place a backtest and a paper session do it.

A backtest's driver hands each recorded frame to a `FeedApplier`, a paper session's `PaperFeed` each
live feed message: a book, a public trade or a lifecycle message, so the two modes fill, charge and
settle alike (tests/venue/test_applier_parity.py).

A `determined` or `settled` message settles the market at the result it states, else at the one its
reference data knows (`MarketInfo.result`); with neither it only stops trading. A known result whose
lifecycle never came settles the market when the run ends (`settle_known`).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Protocol

from kalshi_cli.feed.messages import FeedTrade, Lifecycle
from kalshi_cli.venue.reference import MarketInfo, with_lifecycle
from kalshi_cli.vocabulary.models import LIFECYCLE_RESULT
from kalshi_cli.vocabulary.units import Side

# How many trade ids an applier remembers. A trade sent twice comes again within moments of the
# first; a sequence number cannot tell it (a trade arriving late is numbered below the next one
# too, and is a trade of its own), its id can.
TRADES_KEPT = 1 << 16


class FedVenue(Protocol):
    """What a `FeedApplier` tells a venue: `LocalVenue` hears it."""

    infos: dict[str, MarketInfo]

    def book_changed(self, ticker: str, yes: Mapping[int, int], no: Mapping[int, int]) -> None: ...

    def trade(self, ticker: str, yes_price: Decimal, count: Decimal, taker_side: Side) -> None: ...

    def settle(self, ticker: str, result: str, value: Decimal | None = None) -> None: ...

    def lifecycle(self, ticker: str, event_type: object) -> None: ...


class FeedApplier:
    """Applies market data to one venue (module docstring). `skipped` counts the trades it
    could not read (`bad_trade`): one missing its price, count or taker is never a zero; and
    those it applied already (`duplicate_trade`): one trade fills the venue's orders once."""

    def __init__(self, venue: FedVenue) -> None:
        self.venue = venue
        # `book(ticker, yes, no)`: the market's bids are now `yes` and `no` (price ticks ->
        # size hundredths, as the local book holds them; read, not copied). The venue's own
        # method, with no call between: a replay applies one for each recorded book change
        self.book: Callable[[str, Mapping[int, int], Mapping[int, int]], None]
        self.book = venue.book_changed
        self.skipped: Counter[str] = Counter()
        # the ids of the last `TRADES_KEPT` trades applied, oldest first: an OrderedDict, whose
        # oldest goes in constant time (a dict's first key is found past every key deleted
        # before it, so dropping the oldest of a full one grows with the run)
        self._applied: OrderedDict[str, None] = OrderedDict()

    def trade(self, ticker: str, trade: FeedTrade) -> bool:
        """A public trade; False (and counted) when it lacks what a fill needs, or when its
        `trade_id` was applied already (a frame delivered twice)."""
        terms = trade.terms()
        if terms is None:
            self.skipped["bad_trade"] += 1
            return False
        trade_id = trade.trade_id
        if trade_id:
            applied = self._applied
            if trade_id in applied:
                self.skipped["duplicate_trade"] += 1
                return False
            applied[trade_id] = None
            if len(applied) > TRADES_KEPT:
                applied.popitem(last=False)
        self.venue.trade(ticker, *terms)
        return True

    def lifecycle(self, ticker: str, message: Lifecycle) -> None:
        """A `market_lifecycle_v2` message: the market's terms and result kept, then settled,
        stopped or resumed."""
        info = self.venue.infos.get(ticker)
        if info is not None:
            info = self.venue.infos[ticker] = with_lifecycle(info, message)
        if message.event_type in LIFECYCLE_RESULT:
            stated = message.known_result
            if stated is None and info is not None and info.result:
                stated = info.result, info.scalar_value
            if stated is not None:
                self.venue.settle(ticker, *stated)
                return
        self.venue.lifecycle(ticker, message.event_type)

    def settle_known(self) -> None:
        """Settle every market whose result the reference knows and that has not settled (a
        recording that ends before its lifecycle message, or with the market paused: a pause
        is no settlement). One settled already is left as it is (`settle`)."""
        for ticker, info in list(self.venue.infos.items()):
            if info.result:
                self.venue.settle(ticker, info.result, info.scalar_value)
