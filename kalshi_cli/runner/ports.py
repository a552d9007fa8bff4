"""What the trade loop reads through and asks of: its market data feed and its exchange client,
as narrow Protocols (the real `MarketData` and `KalshiClient` fit, and so do the paper loop's,
the local venue's and the tests' fakes). Kept apart from `runner/loop/trade_loop.py` so that
module stays the loop itself."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar, runtime_checkable

from kalshi_cli.feed.book import FeedMessage
from kalshi_cli.runner.books.fees import FeeReads
from kalshi_cli.services.fees import FeeMarketReads
from kalshi_cli.services.orders.context import MarketRead, OrderCalls, OrderClient
from kalshi_cli.strategy_api import IndexView
from kalshi_cli.vocabulary.models import Market, Orderbook

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kalshi_cli.client.requests import CancelResult
    from kalshi_cli.feed.session import CarriedMarkets


def book_data_at(feed: MarketFeed, ticker: str, now: float) -> float | None:
    """When the market's book last had data (its last data message or poll; unix seconds, `now`
    the time), never the feed's last frame: pings arrive every 10 s while data can stall behind
    them; None while the feed holds no fresh book for it (none yet, a sequence gap not yet
    resynced, a resubscription). What the risk engine's stale-feed rule judges an order by (its
    one rule of a market's data: risk/rules.py `StaleFeedRule`), read only when an order may go
    out."""
    age = feed.data_age(ticker) if feed.is_fresh(ticker) else math.inf
    return now - age if age != math.inf else None


class MarketFeed(Protocol):
    """What the loop reads market data through: `kalshi_cli.feed.MarketData` fits."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def book(self, ticker: str) -> Orderbook | None: ...

    def is_fresh(self, ticker: str) -> bool: ...

    def data_age(self, ticker: str) -> float: ...

    def last_message_age(self) -> float: ...

    def drain_messages(self) -> list[FeedMessage]: ...


@runtime_checkable
class FeedWithIndices(Protocol):
    """A feed that also carries the reference indices (`MarketData`, the paper and replay
    feeds): the loop hands a strategy that `reads_index` the index of its market."""

    def index_view(self, index_id: str) -> IndexView | None: ...


@runtime_checkable
class GrowingFeed(Protocol):
    """A feed that takes on markets while it runs, and passes on every market's `created` and
    `activated` lifecycle messages when asked (`MarketData`): a loop asked for a series or an
    event trades the markets of it that open after its start on such a feed alone."""

    def add_markets(self, tickers: Iterable[str]) -> None: ...

    def hear_new_markets(self) -> None: ...


@runtime_checkable
class OrdersFeed(Protocol):
    """A feed that follows the account's orders (`user_orders`): which markets its subscription
    carries, as the exchange answered (None: it follows none, a paper feed)."""

    orders_carried: CarriedMarkets | None


@runtime_checkable
class VenueFeed(Protocol):
    """A feed that feeds a local venue (the paper feed): the venue learns a pause, a resume or
    a result only from the lifecycle messages, so the markets the loop reads again after a gap
    lost some (`LifecycleWatch`) are told to it too, each as the message of `kind` it stands
    for."""

    def market_read(self, market: Market, kind: str) -> None: ...


class LoopOrders(OrderCalls, Protocol):
    """The order calls the loop makes: its order service's, and the queue positions a
    strategy reads."""

    def get_queue_positions(
        self, *, market_tickers: list[str] | None = ...
    ) -> dict[str, Decimal]: ...

    def batch_cancel(
        self,
        orders: list[tuple[str, str | None]],
        *,
        subaccounts: dict[str, int] | None = ...,
    ) -> list[CancelResult]: ...


class LoopClient(OrderClient, Protocol):
    """What the loop asks of the exchange: its order service's calls and the queue positions
    a strategy reads. The `KalshiClient` is one; the paper loop's, the local venue's and a
    test's fake exchange are others."""

    def on_subaccount(self, subaccount: int | None) -> LoopClient: ...

    @property
    def orders(self) -> LoopOrders: ...


class OnSubaccount(Protocol):
    """A client that acts on a subaccount (None: the exchange's defaults) and makes a handle on
    another (`KalshiClient.on_subaccount`)."""

    @property
    def subaccount(self) -> int | None: ...

    def on_subaccount(self, subaccount: int | None) -> Self: ...


C = TypeVar("C", bound=OnSubaccount)


def own_book(client: C) -> C:
    """What lists the loop's own subaccount's orders and fills: its client when it acts on one,
    else a handle on the primary, where its orders go. A listing on no subaccount covers every
    one, and an order or a fill names its subaccount to direct members only (openapi.yaml
    `Order.subaccount_number`, `Fill.subaccount_number`): another subaccount's would be taken
    for the loop's."""
    return client if client.subaccount is not None else client.on_subaccount(0)


class LoopMarkets(MarketRead, FeeMarketReads, Protocol):
    """The market reads of a loop built from `LoopInputs`: the order service's, the fee models'
    and the start-up checks' (an event's markets)."""

    def get_event(
        self, event_ticker: str, *, with_nested_markets: bool = ...
    ) -> dict[str, Any]: ...


class LoopBuildClient(LoopClient, FeeReads, Protocol):
    """What a loop built from `LoopInputs` asks of its client: the loop's calls, the fee models'
    reads, and the start-up checks' (an event's markets, the positions). The `KalshiClient` is
    one; the paper loop's, the local venue's and a test's fake exchange are others."""

    @property
    def markets(self) -> LoopMarkets: ...
