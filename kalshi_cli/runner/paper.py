"""Paper trading: `kalshi trade --paper`, the trade loop on the exchange's live market data with its
orders filled locally by `venue.LocalVenue`. `PaperClient` takes market data from the real client
and everything else from the venue's, holding no area of the real client that can write;
`PaperFeed` subscribes public channels only and feeds the venue before the loop sees each message.
The session has its own state file. docs/backtesting.md "Paper trading".
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.feed.messages import FeedTrade, Lifecycle
from kalshi_cli.runner.ports import FeedWithIndices, MarketFeed
from kalshi_cli.store.paper import PAPER
from kalshi_cli.strategy_api import IndexView
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.models import Market, Orderbook, tick_side
from kalshi_cli.vocabulary.units import dollars_to_cents

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.store import Store
    from kalshi_cli.venue import LocalVenue, VenueClient
    from kalshi_cli.venue.applier import FedVenue
    from kalshi_cli.vocabulary.clock import Clock

# the public channels a paper session subscribes: no fill, user_orders or market_positions
PAPER_CHANNELS = ("orderbook_delta", "ticker", "trade", "market_lifecycle_v2")
_PRIVATE = frozenset({MessageKind.FILL, MessageKind.USER_ORDER, MessageKind.POSITION})


class PaperStateRefused(KalshiError):
    """The paper state file holds what an earlier session's venue (now gone) was holding."""


class PaperClient:
    """The client of a paper loop (module docstring): the market data areas of the exchange's
    client, every other area the venue's."""

    def __init__(self, exchange: KalshiClient, venue: LocalVenue) -> None:
        self.markets = exchange.markets
        self.exchange = exchange.exchange
        self._attach(venue.client)

    def _attach(self, local: VenueClient) -> None:
        self._venue_client = local
        self.portfolio = local.portfolio
        self.orders = local.orders
        self.subaccounts = local.subaccounts
        self.historical = local.historical
        self.order_groups = local.order_groups

    @property
    def subaccount(self) -> int | None:
        """The venue client's: the loop and the kill switch set and read it here, and the venue
        acts on it (set on this wrapper alone, the venue's orders, fills and positions were
        another subaccount's than the one the loop books)."""
        return self._venue_client.subaccount

    @subaccount.setter
    def subaccount(self, value: int | None) -> None:
        self._venue_client.subaccount = value

    def on_subaccount(self, subaccount: int | None) -> PaperClient:
        """This client acting on `subaccount`, as `KalshiClient.on_subaccount`: a second paper
        client, market data from the same exchange, the rest from a handle on the same venue
        (`VenueClient.on_subaccount`); this client keeps acting on what it did."""
        handle = copy.copy(self)
        handle._attach(self._venue_client.on_subaccount(subaccount))
        return handle

    @property
    def authenticated(self) -> bool:
        return True

    def close(self) -> None:
        """The real client is the command's to close; the venue holds nothing to close."""


class LiveFeed(MarketFeed, Protocol):
    """The feed a `PaperFeed` wraps: the loop's feed and its mode. `kalshi_cli.feed.MarketData`
    is one; a replay's and a test's fake are others."""

    @property
    def mode(self) -> str: ...


class PaperFeed:
    """The live feed, feeding the venue in the loop's thread before the loop sees its messages."""

    def __init__(self, inner: LiveFeed, venue: FedVenue) -> None:
        from kalshi_cli.venue.applier import FeedApplier

        self.inner = inner
        self.venue = venue
        self.applier = FeedApplier(venue)
        self.private_dropped = 0

    # the MarketFeed protocol, delegated
    def start(self) -> None:
        self.inner.start()

    def stop(self) -> None:
        self.inner.stop()

    def book(self, ticker: str) -> Orderbook | None:
        return self.inner.book(ticker)

    def is_fresh(self, ticker: str) -> bool:
        return self.inner.is_fresh(ticker)

    def data_age(self, ticker: str) -> float:
        return self.inner.data_age(ticker)

    def last_message_age(self) -> float:
        return self.inner.last_message_age()

    @property
    def mode(self) -> str:
        return self.inner.mode

    def index_view(self, index_id: str) -> IndexView | None:
        inner = self.inner
        return inner.index_view(index_id) if isinstance(inner, FeedWithIndices) else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def drain_messages(self) -> list[FeedMessage]:
        kept: list[FeedMessage] = []
        for message in self.inner.drain_messages():
            if message.kind in _PRIVATE:
                self.private_dropped += 1
                continue
            self.feed_venue(message)
            kept.append(message)
        return kept

    def feed_venue(self, message: FeedMessage) -> None:
        """What the venue learns from one feed message (the loop's thread: no lock needed)."""
        ticker = message.ticker
        if ticker is None:
            return
        if message.kind is MessageKind.BOOK:
            book = self.inner.book(ticker)
            if book is not None:
                self.applier.book(ticker, tick_side(book.yes_bids), tick_side(book.no_bids))
        elif message.kind is MessageKind.TRADE and isinstance(message.payload, FeedTrade):
            self.applier.trade(ticker, message.payload)
        elif message.kind is MessageKind.LIFECYCLE and isinstance(message.payload, Lifecycle):
            self.applier.lifecycle(ticker, message.payload)

    def market_read(self, market: Market, kind: str) -> None:
        """The market as the loop read it again after a lifecycle gap: applied to the venue as
        the lost message of `kind` would have been, with the result (and a scalar result's
        value) the read states (`ports.VenueFeed`)."""
        message = Lifecycle(
            market.ticker,
            event_type=kind,
            result=market.result or None,
            settlement_value=market.raw.get("settlement_value_dollars"),
        )
        self.applier.lifecycle(market.ticker, message)


def build_venue(
    exchange: KalshiClient,
    markets: Iterable[Market],
    clock: Clock,
    balance: Decimal,
    *,
    subaccount: int = 0,
    netting: bool = False,
) -> LocalVenue:
    """A venue for `markets`, described by the exchange's own reference data (tick grids,
    series and event fees, and the changes of both the exchange has scheduled, so a fill after
    a change is charged as the exchange charges it), holding `balance` on `subaccount`
    (`--subaccount N`: subaccounts 1..N created, as `kalshi subaccount create` would, and the
    whole balance moved to N), with collateral-return netting on there when `netting`."""
    from kalshi_cli.venue import LocalVenue
    from kalshi_cli.venue.reference import from_rest

    markets = list(markets)
    events: dict[str, dict[str, Any]] = {}
    series: dict[str, dict[str, Any]] = {}
    for m in markets:
        if m.event_ticker and m.event_ticker not in events:
            events[m.event_ticker] = _inner(exchange.markets.get_event(m.event_ticker), "event")
    for e in events.values():
        s = e.get("series_ticker")
        if isinstance(s, str) and s and s not in series:
            series[s] = _inner(exchange.markets.get_series(s), "series")
    infos = from_rest(
        series.values(),
        events.values(),
        [m.raw for m in markets],
        # those in effect too, as a recording's reference data keeps them (data/reference.py)
        series_fee_changes=[
            c
            for s in series
            for c in exchange.exchange.get_series_fee_changes(series_ticker=s, show_historical=True)
        ],
        event_fee_changes=[
            c for e in events for c in exchange.exchange.iter_event_fee_changes(event_ticker=e)
        ],
    )
    venue = LocalVenue(clock, infos.values(), balance=balance)
    if subaccount:
        subaccounts = venue.core.subaccounts
        while subaccounts.subaccount_numbers(venue.account)[-1] < subaccount:
            subaccounts.create_subaccount(venue.account)
        subaccounts.transfer(
            venue.account,
            client_transfer_id="paper-start",
            from_subaccount=0,
            to_subaccount=subaccount,
            amount_cents=dollars_to_cents(balance),  # all of it, as LocalVenue holds it
        )
    venue.client.subaccounts.set_subaccount_netting(subaccount, netting)
    return venue


def _inner(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    inner = body.get(key, body)
    return dict(inner) if isinstance(inner, Mapping) else {}


def refuse_leftovers(store: Store, path: Path) -> None:
    """A paper venue starts empty: a paper state file with open positions or resting orders
    from an earlier session cannot be continued."""
    from kalshi_cli.services.pnl import summarize_store
    from kalshi_cli.store.records import PENDING, RESTING, UNKNOWN

    resting = [i for i in store.orders.intents() if i.status in (PENDING, RESTING, UNKNOWN)]
    # each subaccount's book on its own: a long on one and a short on another are two
    # positions, not a flat market
    books = summarize_store(store).books.values()
    held = [t for book in books for t, m in book.markets.items() if m.position != 0]
    if resting or held:
        what = ", ".join(
            x
            for x in (
                f"{len(held)} open position(s)" if held else "",
                f"{len(resting)} open order(s)" if resting else "",
            )
            if x
        )
        raise PaperStateRefused(
            f"the paper state file {path} holds {what} from an earlier paper session, "
            "whose local venue is gone; not trading",
            hint="move that file aside (or pass another --state) to start a paper session afresh",
        )


def answer_kill(
    client: PaperClient, store: Store, clock: Clock, log: EntryLog, portfolio: Portfolio
) -> None:
    """A kill request of the paper state file not yet answered: cancel every order of the
    venue through the kill switch (paper_kill.answer) on the loop's paper `client`, then forget
    them in the loop's `portfolio`."""
    from kalshi_cli.services.paper_kill import answer
    from kalshi_cli.vocabulary.units import ZERO

    try:
        report = answer(store, client, clock)
    except KalshiError as exc:  # HALTED already holds; the next full pass asks again
        log.emit("paper_kill_failed", {"error": exc.one_line()})
        return
    if report is None:
        return
    resting = {o.order_id for o in client.orders.iter_orders(status="resting")}
    for order_id in [o for o in portfolio.orders if o not in resting]:
        portfolio.update_order(order_id, remaining=ZERO, status="canceled")
    log.emit("paper_kill", report.to_json())


class Prefixed:
    """A text stream that starts every line it writes with `PAPER `."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self._at_start = True

    def write(self, text: str) -> int:
        out = []
        for piece in text.splitlines(keepends=True):
            if self._at_start and piece.strip():
                out.append(f"{PAPER} ")
            out.append(piece)
            self._at_start = piece.endswith("\n")
        self.inner.write("".join(out))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return False
