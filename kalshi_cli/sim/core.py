"""The simulated exchange: markets, books, matching, accounts, fees and settlement. No I/O.

CONTRACT SKELETON. The public names and signatures below are the contract between this core and
`sim/server.py` (HTTP + WebSocket), which is written against them in parallel. Implementations
replace the `NotImplementedError` bodies; signatures may gain optional keyword arguments but must
not lose or rename anything.

Conventions:
- Every price is a YES price as `Decimal` (dollars), every count a `Decimal`; cash is int cents
  in accounts (Kalshi's balance is integer cents) but fees and costs are Decimal dollars.
- One book per market in V2 terms: `BookSide.BID` buys YES at `price`, `BookSide.ASK` sells YES
  at `price` (buys NO at 1 - price). Internally the book keeps YES bids and NO bids; a YES bid at
  p crosses a NO bid at 1 - p. Price-time priority; the resting order's price is the fill price.
- Positions are netted: positive = YES contracts, negative = NO contracts.
- Errors raise `ExchangeError(status, code, message)`; the server turns them into Kalshi's
  error body with that HTTP status. A raising call changes no state.
- The core is not thread-safe: the server calls it from its one event loop.
- Every state change is reported to listeners as a `SimEvent` (for the WebSocket channels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from kalshi_cli.clock import Clock
from kalshi_cli.models import BookSide, PriceRange, SelfTradePrevention, Side, TimeInForce

MarketStatus = Literal["unopened", "open", "paused", "closed", "settled"]


class ExchangeError(Exception):
    """A refusal in Kalshi's terms: HTTP status, error code string, message."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


@dataclass
class FeeSchedule:
    """Kalshi's published formula: fee = ceil_to_cent(rate * count * P * (1 - P)) per fill.

    `taker_rate` 0.07 and `maker_rate` 0 by default; a zero-fee scenario sets both to 0.
    """

    taker_rate: Decimal = Decimal("0.07")
    maker_rate: Decimal = Decimal("0")


@dataclass
class SimSeries:
    ticker: str
    title: str
    category: str = "Simulated"
    frequency: str = "daily"
    tags: list[str] = field(default_factory=list)


@dataclass
class SimEvent:
    event_ticker: str
    series_ticker: str
    title: str
    sub_title: str = ""
    mutually_exclusive: bool = False


@dataclass
class SimMarket:
    ticker: str
    event_ticker: str
    series_ticker: str
    title: str
    yes_sub_title: str
    no_sub_title: str
    status: MarketStatus
    price_level_structure: str
    price_ranges: tuple[PriceRange, ...]
    open_time: float  # unix seconds
    close_time: float
    latest_expiration_time: float
    created_time: float
    updated_time: float
    rules_primary: str = ""
    rules_secondary: str = ""
    result: str = ""  # "", "yes", "no"
    settled_time: float | None = None
    last_price: Decimal = Decimal(0)
    previous_price: Decimal = Decimal(0)
    volume: Decimal = Decimal(0)
    volume_24h: Decimal = Decimal(0)
    open_interest: Decimal = Decimal(0)


@dataclass
class SimOrder:
    order_id: str
    account_id: str
    client_order_id: str
    ticker: str
    book_side: BookSide
    price: Decimal  # YES price
    initial_count: Decimal
    fill_count: Decimal
    remaining_count: Decimal
    status: Literal["resting", "canceled", "executed"]
    time_in_force: TimeInForce
    post_only: bool
    reduce_only: bool
    self_trade_prevention: SelfTradePrevention
    expiration_time: int | None  # unix seconds
    created_time: float
    last_update_time: float
    taker_fill_cost: Decimal = Decimal(0)
    maker_fill_cost: Decimal = Decimal(0)
    taker_fees: Decimal = Decimal(0)
    maker_fees: Decimal = Decimal(0)


@dataclass
class SimFill:
    fill_id: str
    trade_id: str
    order_id: str
    account_id: str
    client_order_id: str
    ticker: str
    book_side: BookSide
    price: Decimal  # YES price
    count: Decimal
    is_taker: bool
    fee: Decimal
    post_position: Decimal
    ts: float


@dataclass
class SimTrade:
    trade_id: str
    ticker: str
    price: Decimal  # YES price
    count: Decimal
    taker_book_side: BookSide
    ts: float


@dataclass
class SimPosition:
    ticker: str
    position: Decimal  # + YES, - NO
    cost_basis: Decimal  # dollars paid for the open contracts
    realized_pnl: Decimal
    fees_paid: Decimal
    total_traded: Decimal
    volume: Decimal
    last_updated: float


@dataclass
class SimSettlement:
    ticker: str
    event_ticker: str
    market_result: str
    yes_count: Decimal
    yes_total_cost: Decimal
    no_count: Decimal
    no_total_cost: Decimal
    revenue_cents: int
    fee_cost: Decimal
    settled_time: float


@dataclass
class Account:
    account_id: str  # also the user_id Kalshi shows
    key_id: str
    public_key_pem: str
    cash_cents: int


@dataclass
class PlaceResult:
    order: SimOrder
    fills: list[SimFill]  # this order's own fills (taker side)


# Events for the WebSocket layer ------------------------------------------------------------


@dataclass
class BookChanged:
    """A change of size at one price level; `side` is the bid side in Kalshi's orderbook terms
    (yes bids or no bids), `price` that side's own price, `delta` signed."""

    ticker: str
    side: Side
    price: Decimal
    delta: Decimal
    account_id: str | None = None
    client_order_id: str | None = None
    ts: float = 0.0


@dataclass
class TradeHappened:
    trade: SimTrade


@dataclass
class FillHappened:
    fill: SimFill


@dataclass
class OrderChanged:
    order: SimOrder


@dataclass
class PositionChanged:
    account_id: str
    ticker: str


@dataclass
class MarketLifecycle:
    ticker: str
    event_type: str  # created, activated, deactivated, close_date_updated, determined, settled
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = 0.0


SimEventT = (
    BookChanged | TradeHappened | FillHappened | OrderChanged | PositionChanged | MarketLifecycle
)
Listener = Callable[[SimEventT], None]


class Exchange:
    def __init__(
        self, clock: Clock, *, fees: FeeSchedule | None = None, journal: Path | None = None
    ) -> None:
        """`journal`: when given, every state change is persisted there (and replayed on
        construction) so a restarted simulator keeps accounts, orders, positions and history,
        even after a kill -9 (no acknowledged order may be lost)."""
        raise NotImplementedError

    # listeners
    def add_listener(self, listener: Listener) -> None:
        raise NotImplementedError

    # reference data
    def add_series(self, series: SimSeries) -> None:
        raise NotImplementedError

    def add_event(self, event: SimEvent) -> None:
        raise NotImplementedError

    def add_market(self, market: SimMarket) -> None:
        raise NotImplementedError

    @property
    def series(self) -> dict[str, SimSeries]:
        raise NotImplementedError

    @property
    def events(self) -> dict[str, SimEvent]:
        raise NotImplementedError

    @property
    def markets(self) -> dict[str, SimMarket]:
        """Insertion-ordered; the server paginates over it."""
        raise NotImplementedError

    def set_market_status(self, ticker: str, status: MarketStatus) -> SimMarket:
        """Closing or pausing cancels nothing by itself (as Kalshi); orders cannot be placed
        unless the market is open."""
        raise NotImplementedError

    def settle(self, ticker: str, result: Literal["yes", "no"]) -> SimMarket:
        """Cancels resting orders, pays $1.00 per winning contract, records settlements."""
        raise NotImplementedError

    # accounts
    def create_account(self, *, key_id: str, public_key_pem: str, cash_cents: int) -> Account:
        raise NotImplementedError

    def account(self, account_id: str) -> Account:
        raise NotImplementedError

    def account_by_key(self, key_id: str) -> Account | None:
        raise NotImplementedError

    # book
    def book(
        self, ticker: str, depth: int = 0
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """(yes_bids, no_bids) as (price, size) aggregated per level, each sorted ascending by
        price (Kalshi's wire order: best bid last); `depth` 0 = all levels, else the best N."""
        raise NotImplementedError

    # orders
    def place_order(
        self,
        account_id: str,
        *,
        ticker: str,
        book_side: BookSide,
        price: Decimal,
        count: Decimal,
        time_in_force: TimeInForce,
        self_trade_prevention: SelfTradePrevention,
        client_order_id: str | None = None,
        post_only: bool = False,
        reduce_only: bool = False,
        expiration_time: int | None = None,
    ) -> PlaceResult:
        raise NotImplementedError

    def cancel_order(self, account_id: str, order_id: str) -> tuple[SimOrder, Decimal]:
        """Returns the canceled order and the count that was still open (reduced_by)."""
        raise NotImplementedError

    def cancel_all(self, account_id: str) -> list[tuple[SimOrder, Decimal]]:
        raise NotImplementedError

    def amend_order(
        self,
        account_id: str,
        order_id: str,
        *,
        ticker: str,
        book_side: BookSide,
        price: Decimal,
        count: Decimal,
        updated_client_order_id: str | None = None,
    ) -> tuple[SimOrder, SimOrder, list[SimFill]]:
        """`count` is the new total (filled + to rest). Returns (old, new, fills)."""
        raise NotImplementedError

    def decrease_order(
        self,
        account_id: str,
        order_id: str,
        *,
        reduce_by: Decimal | None,
        reduce_to: Decimal | None,
    ) -> SimOrder:
        raise NotImplementedError

    # reads
    def order(self, account_id: str, order_id: str) -> SimOrder:
        raise NotImplementedError

    def orders(self, account_id: str) -> list[SimOrder]:
        """All orders of the account, newest first."""
        raise NotImplementedError

    def fills(self, account_id: str) -> list[SimFill]:
        """Newest first."""
        raise NotImplementedError

    def positions(self, account_id: str) -> list[SimPosition]:
        raise NotImplementedError

    def settlements(self, account_id: str) -> list[SimSettlement]:
        raise NotImplementedError

    def trades(self, ticker: str | None = None) -> list[SimTrade]:
        """Newest first."""
        raise NotImplementedError

    def resting_collateral_cents(self, account_id: str) -> int:
        raise NotImplementedError

    def portfolio_value_cents(self, account_id: str) -> int:
        raise NotImplementedError

    # time
    def tick(self) -> None:
        """Advance to the clock's now: expire orders past their expiration_time, move the
        background participants along their price paths, open/close markets on schedule."""
        raise NotImplementedError
