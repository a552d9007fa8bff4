"""The simulated exchange: markets, books, matching, accounts, fees and settlement. No I/O
except the optional journal (sim/journal.py); time comes from the injected clock.

The public names and signatures below are the contract with `sim/server.py` (HTTP + WebSocket).

Conventions:
- Every price is a YES price as `Decimal` (dollars), every count a `Decimal`.
- One book per market in V2 terms: `BookSide.BID` buys YES at `price`, `BookSide.ASK` sells YES
  at `price` (buys NO at 1 - price). Internally the book keeps YES bids and NO bids; a YES bid at
  p crosses a NO bid at 1 - p. Price-time priority; the resting order's price is the fill price.
- Positions are netted: positive = YES contracts, negative = NO contracts. Buying YES while
  holding NO first closes NO: the YES+NO pair is redeemed for $1.00 at once, so the account gets
  1 - p back per contract instead of paying p.
- Errors raise `ExchangeError(status, code, message)`; the server turns them into Kalshi's
  error body with that HTTP status. Every check runs before anything changes: an order is first
  planned against the book without touching it (fills, self-trade cancels, the final position
  and collateral), and only a plan that passes every check is journaled and applied. A raising
  call changes no state.
- The core is not thread-safe: the server calls it from its one event loop.
- Every state change is reported to listeners as a `SimEvent` (for the WebSocket channels), in
  the order it happens; no event objects are built while nobody listens.

Money. Cash is held exactly, as Decimal dollars, and `Account.balance` (what the balance
endpoint reports as `balance_dollars`) is the *available* cash, floored to $0.0001: exact cash
minus the collateral held for resting orders; `Account.cash_cents` is that truncated to the
cent (`balance`). `resting_collateral_cents` rounds the held amount up, so the two never report
more than the account has.

Fees (the one fee model, models.py "Fees"). Each market is priced by `fee_model(ticker)`: its
series' fee type and multiplier (or the exchange's default) and the market's fee waiver. Every
fill, taker or maker, pays the trade fee `rate x count x P x (1 - P)` rounded up to $0.0001 at
its own price, then Kalshi's fee-rounding page is applied per order (`charge_fill`): the balance
moves by (revenue - trade fee) floored to $0.0001 (a direct member's precision), the floored
part is a rounding fee kept in the order's accumulator, and each whole cent the accumulator
passes is refunded. A fill's `fee` (the wire's `fee_cost`) is that net charge, so a fill's
revenue minus its fee is exactly the balance change. Rounding only arises where revenue has
digits below $0.0001 (a sub-penny price times a fractional count). The maker reserve held for a
resting order is linear in its remaining count: per tradable unit (1 contract, or 0.01 on a
fractional market) the trade fee of one unit plus $0.0001 when a unit's revenue can need
rounding, at the series' maker rate without the waiver; since a fee rounded up per fill is at
most the sum of its units' fees, the reserve always covers what the fills charge.

Collateral. A resting order holds collateral only for the part that would open new exposure:
for each direction, the contracts that would close the opposite position are free, and the
rest cost their own price; the free contracts are counted against the cheapest orders, so the
hold is the worst case whichever order fills first. With a maker fee rate above zero every
resting order also holds its maker fee (closing ones too). The hold is brought up to date for
the account and market after every change, from per-direction sums kept incrementally (so it
is O(1) unless the position covers part of one direction's orders). With that rule a maker
fill, a cancel or a decrease can only lower the hold by at least what the fill costs, so a
maker's available cash never goes below zero; a taker's (or an amend's) whole plan, fills and
fees and the new hold, is checked against its available cash before it is applied
("insufficient_balance" otherwise).

Conservation (checked by the property tests): the sum over accounts of exact cash (available
plus held) + fees collected + $1.00 per outstanding YES/NO pair (the open interest) stays equal
to the cash that was deposited, through any sequence of orders, amends, cancels and
settlements.

Refusals (status, code): 400 `invalid_parameters` (bad field combination), 400
`invalid_price` (off the tick grid or outside the range), 400 `invalid_count` (zero or below, not
a multiple of 0.01, not whole on a market without fractional trading), 400 `invalid_order` with
details "post only cross" (as seen on Kalshi's wire), 400 `invalid_reduce_only` (the order would
not only reduce the position; reduce-only orders are refused, not capped, at placement; they are
immediate_or_cancel only, as API 3.31.0 says, any other time in force being a 400
`invalid_parameters`; a resting one in a snapshot from before that, which would grow the
position when it is hit, is cut to what still reduces it), 400 `insufficient_balance`, 400
`order_not_resting` (amend or decrease of a canceled or executed order), 404
`market_not_found`, 404 `not_found` "not found" (an order that does not exist, is another
account's, or, for a cancel, no longer rests: one identical answer, as on Kalshi's wire), 404
`account_not_found`, 409 `market_closed` / `market_not_open` / `trading_paused` (orders are taken
on open markets only), 409 `market_already_settled`, 409 `order_already_exists`
(`client_order_id` is unique among all of an account's orders, cancelled ones included: Kalshi
never frees one), 409 `fill_or_kill_insufficient_resting_volume` (an FOK order that cannot fill
entirely changes nothing); and for reference data, 409 `series_exists` / `event_exists` /
`market_exists` / `account_exists`.

Lifecycle: an order is `resting` while any of it can still fill, `executed` when it filled
entirely, `canceled` when the rest was taken off (cancel, decrease to zero, IOC remainder,
self-trade prevention, expiry, settlement, a reduce-only cut).
"""

from __future__ import annotations

import functools
import heapq
import secrets
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any, Literal

from kalshi_cli.clock import Clock
from kalshi_cli.models import (
    COUNT_QUANTUM,
    FEE_QUANTUM,
    ONE,
    ZERO,
    BookSide,
    FeeCharge,
    FeeModel,
    FeeModelError,
    PriceRange,
    SelfTradePrevention,
    Side,
    TimeInForce,
    charge_fill,
    price_bounds,
    price_on_grid,
    trading_fee,
)
from kalshi_cli.sim.book import Book
from kalshi_cli.sim.journal import Journal, JournalError, read_snapshot, write_snapshot

MarketStatus = Literal["unopened", "open", "paused", "closed", "settled"]


class ExchangeError(Exception):
    """A refusal in Kalshi's terms: HTTP status, error code string, message."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def not_found() -> ExchangeError:
    """Kalshi's 404 for an order: the same bytes whether it was cancelled, executed, never
    existed or belongs to someone else, so the answer reveals nothing."""
    return ExchangeError(404, "not_found", "not found")


def _order_exists() -> ExchangeError:
    """A client_order_id already used by any order of the account, even one long cancelled:
    Kalshi never frees them."""
    return ExchangeError(409, "order_already_exists", "order already exists")


@dataclass
class SimSeries:
    """`fee_type`/`fee_multiplier` None: the exchange's default fee model (a scenario's `fees`)."""

    ticker: str
    title: str
    category: str = "Simulated"
    frequency: str = "daily"
    tags: list[str] = field(default_factory=list)
    updated_time: float = 0.0  # unix seconds; set when added (the simulator never edits one)
    fee_type: str | None = None
    fee_multiplier: str | None = None  # a decimal string (kept as text for the journal)


@dataclass
class SimFeeChange:
    """A scheduled change of a series' fees (openapi SeriesFeeChange): from `scheduled_ts`
    (unix seconds, the exchange's clock) on, the series charges `fee_type` x `fee_multiplier`."""

    id: str
    series_ticker: str
    fee_type: str
    fee_multiplier: str  # a decimal string (kept as text for the journal)
    scheduled_ts: float  # float-ok: unix seconds


@dataclass
class SimEvent:
    event_ticker: str
    series_ticker: str
    title: str
    sub_title: str = ""
    mutually_exclusive: bool = False
    updated_time: float = 0.0  # unix seconds; set when added (the simulator never edits one)


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
    fractional_trading_enabled: bool = False
    # settlement_bounds_type "floor": the lowest value YES settles at (a NO result pays YES
    # this and NO the rest); None is "default", YES settles at $1.00 or $0.00
    settlement_floor: Decimal | None = None

    @property
    def yes_settlement_value(self) -> Decimal:
        """What one YES contract pays on this market's result (NO pays the rest of $1.00)."""
        if self.result == "yes":
            return ONE
        return self.settlement_floor if self.settlement_floor is not None else ZERO

    fee_waiver_expiration_time: float | None = None  # unix seconds: no fees before it


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
    cancel_order_on_pause: bool = False  # cancelled when its market's trading is paused
    fee_accumulator: Decimal = Decimal(0)  # rounding paid and not yet refunded (charge_fill)


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
    fee: Decimal  # the net charge: trade fee + rounding fee - rebate (the wire's fee_cost)
    post_position: Decimal
    ts: float
    charge: FeeCharge | None = None  # its parts, for the simulator's own accounting


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
    yes_value: Decimal | None = None  # what one YES contract paid, in dollars


@dataclass
class Account:
    account_id: str  # also the user_id Kalshi shows
    key_id: str
    public_key_pem: str
    cash_cents: int  # available: exact cash minus collateral held, truncated to the cent
    balance: Decimal = Decimal(0)  # the same, floored to $0.0001 (balance_dollars)


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


# Implementation --------------------------------------------------------------------------------

_DAY = 86_400.0
_EMPTY_AGG = (ZERO, ZERO, ZERO, ZERO, ZERO)
_COST_QUANTUM = Decimal("0.000001")  # a count (2 places) times a price (4 places)
_LIFECYCLE_EVENT = {
    "open": "activated",
    "paused": "deactivated",
    "closed": "deactivated",
    "unopened": "deactivated",
}
_STATUS_REFUSAL = {
    "unopened": "market_not_open",
    "paused": "trading_paused",
    "closed": "market_closed",
    "settled": "market_closed",
}


@functools.lru_cache(maxsize=64)
def _ticks(ranges: tuple[PriceRange, ...]) -> frozenset[Decimal]:
    """Every valid price of a tick structure (shared by all markets that use it)."""
    return frozenset(
        r.start + r.step * i for r in ranges for i in range(int((r.end - r.start) / r.step) + 1)
    )


def _floor_cents(dollars: Decimal) -> int:
    return int((dollars * 100).to_integral_value(rounding=ROUND_FLOOR))


def _ceil_cents(dollars: Decimal) -> int:
    return int((dollars * 100).to_integral_value(rounding=ROUND_CEILING))


def _copy(order: SimOrder) -> SimOrder:
    """A snapshot (orders change in place; callers keep what they were given)."""
    snapshot = object.__new__(SimOrder)
    snapshot.__dict__.update(order.__dict__)
    return snapshot


def _own_price(order: SimOrder) -> Decimal:
    """The price of the side the order buys: YES for a bid, NO for an ask."""
    return order.price if order.book_side is BookSide.BID else ONE - order.price


def _fill_cash(
    position: Decimal, buy_yes: bool, own_price: Decimal, count: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """(cash change before fees, contracts closed, new position) for buying `count` contracts
    of YES (`buy_yes`) or NO at `own_price`. A closed contract redeems a YES/NO pair for $1."""
    if buy_yes:
        closed = min(count, -position) if position < 0 else ZERO
        new_position = position + count
    else:
        closed = min(count, position) if position > 0 else ZERO
        new_position = position - count
    opened = count - closed
    return closed * (ONE - own_price) - opened * own_price, closed, new_position


def _side_hold(entries: list[tuple[Decimal, Decimal]], free: Decimal) -> Decimal:
    """Collateral for resting bids of one direction, `free` contracts of which would close the
    opposite position; the free ones are counted against the cheapest orders (worst case)."""
    if free <= 0:
        return sum((price * count for price, count in entries), ZERO)
    total = sum((count for _, count in entries), ZERO)
    if free >= total:
        return ZERO
    hold = ZERO
    for price, count in sorted(entries):
        if free >= count:
            free -= count
            continue
        hold += price * (count - free)
        free = ZERO
    return hold


class _Acct:
    """Everything the exchange keeps for one account."""

    __slots__ = (
        "account",
        "agg",
        "cash",
        "client_ids",
        "fills",
        "held",
        "held_total",
        "orders",
        "positions",
        "resting",
        "settlements",
    )

    def __init__(self, account: Account, cash: Decimal) -> None:
        self.account = account
        self.cash = cash  # exact dollars, including what is held for resting orders
        self.held: dict[str, Decimal] = {}
        self.held_total = ZERO
        self.positions: dict[str, SimPosition] = {}
        self.orders: list[SimOrder] = []  # oldest first
        self.client_ids: set[str] = set()
        self.fills: list[SimFill] = []
        self.settlements: list[SimSettlement] = []
        self.resting: dict[str, dict[str, SimOrder]] = {}  # ticker -> order id -> order
        # ticker -> [YES bids' cost, YES bids' count, NO bids' cost, NO bids' count, maker fee
        # reserve] over the resting orders, kept up to date so a hold is O(1) in the usual case
        self.agg: dict[str, list[Decimal]] = {}

    def sync(self) -> None:
        available = (self.cash - self.held_total).quantize(FEE_QUANTUM, rounding=ROUND_FLOOR)
        self.account.balance = available
        self.account.cash_cents = _floor_cents(available)


@dataclass
class _Plan:
    """What an incoming order would do, worked out without changing anything."""

    steps: list[tuple[Literal["fill", "cancel", "cut"], SimOrder, Decimal]]
    rest: Decimal  # what will rest on the book afterwards
    fees: list[FeeCharge]  # the taker's charge for each fill, in step order
    accumulator: Decimal  # the taker order's fee accumulator after the plan
    hold: Decimal  # the collateral the account will hold in this market afterwards


class Exchange:
    def __init__(
        self,
        clock: Clock,
        *,
        fees: FeeModel | None = None,
        journal: Path | None = None,
        fsync: bool = False,
        snapshot_every: int = 100_000,
    ) -> None:
        """`journal`: when given, every state change is persisted there (and replayed on
        construction) so a restarted simulator keeps accounts, orders, positions and history,
        even after a kill -9 (no acknowledged order may be lost). `fsync` also forces each
        record to disk (survives a power cut; much slower). After `snapshot_every` records,
        `tick()` compacts the journal into a snapshot so a restart stays fast."""
        self._clock = clock
        self.default_fees = fees or FeeModel()
        """The fee model of every series that sets none of its own."""
        self._listeners: list[Listener] = []
        self._tick_hooks: list[Callable[[float], None]] = []
        self._series: dict[str, SimSeries] = {}
        self._series_fees: dict[str, FeeModel] = {}
        # series -> its scheduled fee changes, by scheduled_ts (see `schedule_fee_change`)
        self._fee_changes: dict[str, list[SimFeeChange]] = {}
        self._events: dict[str, SimEvent] = {}
        self._markets: dict[str, SimMarket] = {}
        self._books: dict[str, Book[SimOrder]] = {}
        self._accounts: dict[str, _Acct] = {}
        self._by_key: dict[str, str] = {}
        self._orders: dict[str, SimOrder] = {}
        self._trades: list[SimTrade] = []
        self._trades_by_ticker: dict[str, list[SimTrade]] = {}
        self._volume_window: dict[str, deque[tuple[float, Decimal]]] = {}
        self._holders: dict[str, set[str]] = {}  # ticker -> accounts that ever held a position
        self._expiries: list[tuple[int, str]] = []  # heap of (expiration_time, order_id)
        self._fees_collected = ZERO
        self._reserve_cache: dict[str, dict[Decimal, Decimal]] = {}
        self._deposited = ZERO
        self._seq = 0
        self._set_salt(secrets.randbits(128))
        self.created_time = clock.wall()
        self._replay_ts: float | None = None
        self._journal: Journal | None = None
        self.restored = False
        """True when state was restored from an existing journal."""
        self._generation = 0
        self._snapshot_every = snapshot_every
        self._since_snapshot = 0
        if journal is not None:
            self._open_journal(Journal(journal, fsync=fsync))

    # listeners and hooks --------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def add_tick_hook(self, hook: Callable[[float], None]) -> None:
        """`hook(now)` runs on every `tick()`, after expiries and the market schedule (the
        scenario's background participants are such hooks)."""
        self._tick_hooks.append(hook)

    def _emit(self, event: SimEventT) -> None:
        for listener in self._listeners:
            listener(event)

    # reference data -------------------------------------------------------------------------

    def add_series(self, series: SimSeries) -> None:
        if series.ticker in self._series:
            raise ExchangeError(409, "series_exists", f"series {series.ticker} already exists")
        if not series.updated_time:
            series.updated_time = self._now()
        fees = self.default_fees
        if series.fee_type is not None or series.fee_multiplier is not None:
            try:
                fees = FeeModel.from_api(
                    series.fee_type or fees.fee_type.value,
                    series.fee_multiplier if series.fee_multiplier is not None else "1",
                )
            except FeeModelError as exc:
                raise ExchangeError(400, "invalid_parameters", str(exc)) from exc
        self._log("series", series=_plain(series))
        self._series[series.ticker] = series
        self._series_fees[series.ticker] = fees

    def series_fees(self, series_ticker: str, at: float | None = None) -> FeeModel:
        """The fee type and multiplier a series charges at `at` (default: now, the exchange's
        clock): the last of its fee changes scheduled at or before then, else its own fees.
        No waiver: that is per market."""
        when = self._now() if at is None else at
        for change in reversed(self._fee_changes.get(series_ticker, ())):
            if change.scheduled_ts <= when:
                return FeeModel.from_api(change.fee_type, change.fee_multiplier)
        return self._series_fees.get(series_ticker, self.default_fees)

    def schedule_fee_change(
        self, series_ticker: str, fee_type: str, fee_multiplier: str, scheduled_ts: float
    ) -> SimFeeChange:
        """Schedule a change of a series' fees (GET /series/fee_changes lists it): fills at or
        after `scheduled_ts` (unix seconds) pay the new fees, fills before it the old. The maker
        reserve of every market of the series is the highest maker rate among its own fees and
        all its changes, so it covers the fills on either side of a change; scheduling a change
        that raises it re-holds the resting orders of the series' markets at the new rate."""
        if series_ticker not in self._series:
            raise ExchangeError(404, "not_found", f"series {series_ticker} not found")
        try:
            FeeModel.from_api(fee_type, fee_multiplier)
        except FeeModelError as exc:
            raise ExchangeError(400, "invalid_parameters", str(exc)) from exc
        change = SimFeeChange(
            self._new_id(), series_ticker, fee_type, str(fee_multiplier), float(scheduled_ts)
        )
        self._log(
            "fee_change",
            series_ticker=series_ticker,
            fee_type=fee_type,
            fee_multiplier=change.fee_multiplier,
            scheduled_ts=change.scheduled_ts,
        )
        changes = self._fee_changes.setdefault(series_ticker, [])
        changes.append(change)
        changes.sort(key=lambda c: c.scheduled_ts)
        self._rebuild_reserves(series_ticker)
        return change

    def fee_changes(self, series_ticker: str | None = None) -> list[SimFeeChange]:
        """Every scheduled fee change (of one series), by scheduled_ts."""
        out = [
            c
            for ticker, changes in self._fee_changes.items()
            if series_ticker is None or ticker == series_ticker
            for c in changes
        ]
        return sorted(out, key=lambda c: (c.scheduled_ts, c.id))

    def _reserve_fees(self, series_ticker: str) -> Decimal:
        """The maker rate a resting order's fee reserve is held at: the highest of the series'
        own and all its scheduled fees, so a change while the order rests is covered."""
        models = [self._series_fees.get(series_ticker, self.default_fees)] + [
            FeeModel.from_api(c.fee_type, c.fee_multiplier)
            for c in self._fee_changes.get(series_ticker, ())
        ]
        return max(FeeModel(m.fee_type, m.multiplier).rates(at=0.0)[1] for m in models)

    def _rebuild_reserves(self, series_ticker: str) -> None:
        """Recompute the aggregates and holds of the resting orders in a series' markets after
        its reserve rate may have changed."""
        tickers = [t for t, m in self._markets.items() if m.series_ticker == series_ticker]
        for ticker in tickers:
            self._reserve_cache.pop(ticker, None)
        for acct in self._accounts.values():
            for ticker in tickers:
                if ticker not in acct.agg:
                    continue
                agg = list(_EMPTY_AGG)
                for o in acct.resting.get(ticker, {}).values():
                    own = _own_price(o)
                    self._agg_add(
                        agg,
                        o.book_side is BookSide.BID,
                        own,
                        o.remaining_count,
                        self._reserve_rate(ticker, own),
                    )
                acct.agg[ticker] = agg
                self._rehold(acct, ticker)

    def fee_model(self, ticker: str) -> FeeModel:
        """The fees of one market: its series' model with the market's fee waiver."""
        market = self._market(ticker)
        fees = self.series_fees(market.series_ticker)
        if market.fee_waiver_expiration_time is None:
            return fees
        return FeeModel(fees.fee_type, fees.multiplier, market.fee_waiver_expiration_time)

    def add_event(self, event: SimEvent) -> None:
        if event.event_ticker in self._events:
            raise ExchangeError(409, "event_exists", f"event {event.event_ticker} already exists")
        if not event.updated_time:
            event.updated_time = self._now()
        self._log("event", event=_plain(event))
        self._events[event.event_ticker] = event

    def add_market(self, market: SimMarket) -> None:
        if market.ticker in self._markets:
            raise ExchangeError(409, "market_exists", f"market {market.ticker} already exists")
        if not market.price_ranges:
            raise ExchangeError(400, "invalid_parameters", "a market needs price_ranges")
        self._log("market", market=_market_record(market))
        self._markets[market.ticker] = market
        self._books[market.ticker] = Book()
        self._holders[market.ticker] = set()
        self._trades_by_ticker[market.ticker] = []
        self._volume_window[market.ticker] = deque()
        if self._listeners:
            self._emit(
                MarketLifecycle(market.ticker, "created", {"status": market.status}, self._now())
            )

    @property
    def series(self) -> dict[str, SimSeries]:
        return self._series

    @property
    def events(self) -> dict[str, SimEvent]:
        return self._events

    @property
    def markets(self) -> dict[str, SimMarket]:
        """Insertion-ordered; the server paginates over it."""
        return self._markets

    def set_market_status(self, ticker: str, status: MarketStatus) -> SimMarket:
        """Closing or pausing cancels nothing by itself (as Kalshi), except that pausing
        cancels the resting orders placed with `cancel_order_on_pause`; orders cannot be placed
        unless the market is open."""
        market = self._market(ticker)
        if market.status == "settled":
            raise ExchangeError(409, "market_already_settled", f"{ticker} is settled")
        if status not in _LIFECYCLE_EVENT:
            raise ExchangeError(400, "invalid_parameters", f"cannot set status {status!r}")
        if status == market.status:
            return market
        now = self._now()
        self._log("status", ticker=ticker, status=status)
        market.status = status
        market.updated_time = now
        if self._listeners:
            self._emit(MarketLifecycle(ticker, _LIFECYCLE_EVENT[status], {"status": status}, now))
        if status == "paused":
            for acct in self._accounts.values():
                pausing = [
                    o for o in acct.resting.get(ticker, {}).values() if o.cancel_order_on_pause
                ]
                for order in pausing:
                    self._take_off(order, order.remaining_count, now, cause=order)
                if pausing:
                    self._rehold(acct, ticker)
        return market

    def settle(self, ticker: str, result: Literal["yes", "no"]) -> SimMarket:
        """Cancels resting orders, pays each contract its side's settlement value ($1.00 to
        the winning side; on a floored market a NO result still pays YES the floor and NO
        the rest), records settlements."""
        market = self._market(ticker)
        if result not in ("yes", "no"):
            raise ExchangeError(400, "invalid_parameters", "result must be yes or no")
        if market.status == "settled":
            raise ExchangeError(409, "market_already_settled", f"{ticker} is already settled")
        now = self._now()
        self._log("settle", ticker=ticker, result=result)
        for acct in self._accounts.values():
            resting = acct.resting.get(ticker)
            if resting:
                for order in list(resting.values()):
                    self._take_off(order, order.remaining_count, now, cause=order)
                self._rehold(acct, ticker)
        market.result = result
        market.status = "settled"
        market.settled_time = now
        market.updated_time = now
        if self._listeners:
            self._emit(MarketLifecycle(ticker, "determined", {"result": result}, now))
        for account_id in self._holders[ticker]:
            acct = self._accounts[account_id]
            pos = acct.positions[ticker]
            if pos.position == 0:
                continue
            yes = pos.position > 0
            value = market.yes_settlement_value if yes else ONE - market.yes_settlement_value
            payout = abs(pos.position) * value
            acct.settlements.append(
                SimSettlement(
                    ticker=ticker,
                    event_ticker=market.event_ticker,
                    market_result=result,
                    yes_count=pos.position if yes else ZERO,
                    yes_total_cost=pos.cost_basis if yes else ZERO,
                    no_count=ZERO if yes else -pos.position,
                    no_total_cost=ZERO if yes else pos.cost_basis,
                    revenue_cents=int(payout * 100),
                    fee_cost=ZERO,
                    settled_time=now,
                    yes_value=market.yes_settlement_value,
                )
            )
            acct.cash += payout
            pos.realized_pnl += payout - pos.cost_basis
            pos.cost_basis = ZERO
            pos.position = ZERO
            pos.last_updated = now
            acct.sync()
            if self._listeners:
                self._emit(PositionChanged(account_id, ticker))
        market.open_interest = ZERO
        if self._listeners:
            self._emit(MarketLifecycle(ticker, "settled", {"result": result}, now))
        return market

    # accounts -------------------------------------------------------------------------------

    def create_account(self, *, key_id: str, public_key_pem: str, cash_cents: int) -> Account:
        if key_id in self._by_key:
            raise ExchangeError(409, "account_exists", f"key {key_id} already has an account")
        if cash_cents < 0:
            raise ExchangeError(400, "invalid_parameters", "cash_cents must not be negative")
        self._log("account", key_id=key_id, public_key_pem=public_key_pem, cash_cents=cash_cents)
        account = Account(
            self._new_id(), key_id, public_key_pem, cash_cents, Decimal(cash_cents) / 100
        )
        self._accounts[account.account_id] = _Acct(account, Decimal(cash_cents) / 100)
        self._by_key[key_id] = account.account_id
        self._deposited += Decimal(cash_cents) / 100
        return account

    def account(self, account_id: str) -> Account:
        return self._acct(account_id).account

    def account_by_key(self, key_id: str) -> Account | None:
        account_id = self._by_key.get(key_id)
        return None if account_id is None else self._accounts[account_id].account

    @property
    def accounts(self) -> list[Account]:
        return [a.account for a in self._accounts.values()]

    # book -----------------------------------------------------------------------------------

    def book(
        self, ticker: str, depth: int = 0
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """(yes_bids, no_bids) as (price, size) aggregated per level, each sorted ascending by
        price (Kalshi's wire order: best bid last); `depth` 0 = all levels, else the best N."""
        self._market(ticker)
        book = self._books[ticker]
        return book.yes.depth(depth), book.no.depth(depth)

    def best_bids(self, ticker: str) -> tuple[Decimal | None, Decimal | None]:
        """(best YES bid, best NO bid), each in its own side's price; None for an empty side."""
        self._market(ticker)
        book = self._books[ticker]
        return book.yes.best(), book.no.best()

    # orders ---------------------------------------------------------------------------------

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
        cancel_order_on_pause: bool = False,
    ) -> PlaceResult:
        acct = self._acct(account_id)
        market = self._market(ticker)
        self._require_open(market)
        self._check_price(market, price)
        self._check_count(market, count)
        now = self._now()
        if expiration_time is not None:
            if time_in_force is not TimeInForce.GTC:
                raise ExchangeError(
                    400, "invalid_parameters", "expiration_time needs good_till_canceled"
                )
            if expiration_time <= now:
                raise ExchangeError(400, "invalid_parameters", "expiration_time is in the past")
        if post_only and time_in_force is not TimeInForce.GTC:
            raise ExchangeError(400, "invalid_parameters", "post_only needs good_till_canceled")
        if reduce_only and time_in_force is not TimeInForce.IOC:
            # API 3.31.0: "Orders with reduce_only set to true will be rejected unless
            # time_in_force is immediate_or_cancel."
            raise ExchangeError(400, "invalid_parameters", "reduce_only needs immediate_or_cancel")
        if client_order_id is not None and client_order_id in acct.client_ids:
            raise _order_exists()
        buy_yes = book_side is BookSide.BID
        if reduce_only:
            position = self._position_of(acct, ticker)
            reducible = -position if buy_yes else position
            if count > reducible:
                raise ExchangeError(
                    400,
                    "invalid_reduce_only",
                    f"a reduce-only order may close at most {max(reducible, ZERO)} contracts",
                )
        own = price if buy_yes else ONE - price
        plan = self._plan(
            acct,
            ticker,
            buy_yes=buy_yes,
            own=own,
            count=count,
            stp=self_trade_prevention,
            post_only=post_only,
            time_in_force=time_in_force,
            replacing=None,
        )
        order_id = self._new_id()
        coid = client_order_id if client_order_id is not None else order_id
        if self._journaling:
            self._log(
                "place",
                account_id=account_id,
                ticker=ticker,
                book_side=book_side.value,
                price=str(price),
                count=str(count),
                time_in_force=time_in_force.value,
                self_trade_prevention=self_trade_prevention.value,
                client_order_id=coid,
                post_only=post_only,
                reduce_only=reduce_only,
                expiration_time=expiration_time,
                cancel_order_on_pause=cancel_order_on_pause,
            )
        order = SimOrder(
            order_id=order_id,
            account_id=account_id,
            client_order_id=coid,
            ticker=ticker,
            book_side=book_side,
            price=price,
            initial_count=count,
            fill_count=ZERO,
            remaining_count=count,
            status="resting",
            time_in_force=time_in_force,
            post_only=post_only,
            reduce_only=reduce_only,
            self_trade_prevention=self_trade_prevention,
            expiration_time=expiration_time,
            created_time=now,
            last_update_time=now,
            cancel_order_on_pause=cancel_order_on_pause,
        )
        self._orders[order_id] = order
        acct.orders.append(order)
        acct.client_ids.add(coid)
        fills = self._execute(order, plan, now)
        return PlaceResult(_copy(order), fills)

    def cancel_order(self, account_id: str, order_id: str) -> tuple[SimOrder, Decimal]:
        """Returns the canceled order and the count that was still open (reduced_by). An order
        that no longer rests is `not_found`, byte for byte like one that never existed."""
        self._acct(account_id)
        order = self.order(account_id, order_id)
        if order.status != "resting":
            raise not_found()
        now = self._now()
        self._log("cancel", account_id=account_id, order_id=order_id)
        reduced_by = order.remaining_count
        self._take_off(order, reduced_by, now, cause=order)
        self._rehold(self._accounts[account_id], order.ticker)
        return _copy(order), reduced_by

    def cancel_all(
        self, account_id: str, *, ticker: str | None = None
    ) -> list[tuple[SimOrder, Decimal]]:
        """Cancels every resting order of the account (of one market when `ticker` is given)."""
        acct = self._acct(account_id)
        now = self._now()
        targets = [
            o
            for t, orders in acct.resting.items()
            if ticker is None or t == ticker
            for o in orders.values()
        ]
        if not targets:
            return []
        self._log("cancel_all", account_id=account_id, ticker=ticker)
        result = []
        for order in targets:
            reduced_by = order.remaining_count
            self._take_off(order, reduced_by, now, cause=order)
            result.append((_copy(order), reduced_by))
        for t in {o.ticker for o in targets}:
            self._rehold(acct, t)
        return result

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
        expiration_time: int | None = None,
    ) -> tuple[SimOrder, SimOrder, list[SimFill]]:
        """`count` is the new total (filled + to rest). Returns (old, new, fills).

        `expiration_time` (API 3.31.0): None keeps the order's expiry, 0 removes it, any other
        value is the new one and must be in the future.

        The order keeps its place in the queue only when its price is unchanged and its size
        does not grow (an amend of the expiry alone, or a decrease); otherwise it goes to the
        back of its new level, and may cross and fill (as a taker) on the way."""
        order = self._owned_resting(account_id, order_id)
        acct = self._accounts[account_id]
        if ticker != order.ticker or book_side is not order.book_side:
            raise ExchangeError(
                400, "invalid_parameters", "ticker and side must match the order being amended"
            )
        market = self._market(ticker)
        self._require_open(market)
        self._check_price(market, price)
        self._check_count(market, count)
        if count <= order.fill_count:
            raise ExchangeError(
                400,
                "invalid_count",
                f"count is the new total and must exceed the {order.fill_count} already filled",
            )
        if (
            updated_client_order_id is not None
            and updated_client_order_id != order.client_order_id
            and updated_client_order_id in acct.client_ids
        ):
            raise _order_exists()
        now = self._now()
        if expiration_time is not None and (expiration_time < 0 or 0 < expiration_time <= now):
            raise ExchangeError(
                400, "invalid_parameters", "expiration_time must be 0 or in the future"
            )
        new_remaining = count - order.fill_count
        if order.reduce_only:
            position = self._position_of(acct, ticker)
            reducible = position if book_side is BookSide.ASK else -position
            if new_remaining > max(reducible, order.remaining_count):
                raise ExchangeError(
                    400, "invalid_reduce_only", "a reduce-only order may not grow the position"
                )
        keeps_place = price == order.price and new_remaining <= order.remaining_count
        buy_yes = book_side is BookSide.BID
        own = price if buy_yes else ONE - price
        plan = None
        if not keeps_place:
            plan = self._plan(
                acct,
                ticker,
                buy_yes=buy_yes,
                own=own,
                count=new_remaining,
                stp=order.self_trade_prevention,
                post_only=order.post_only,
                time_in_force=TimeInForce.GTC,
                replacing=order,
            )
        self._log(
            "amend",
            account_id=account_id,
            order_id=order_id,
            ticker=ticker,
            book_side=book_side.value,
            price=str(price),
            count=str(count),
            updated_client_order_id=updated_client_order_id,
            expiration_time=expiration_time,
        )
        old = _copy(order)
        if updated_client_order_id is not None and updated_client_order_id != order.client_order_id:
            acct.client_ids.add(updated_client_order_id)
            order.client_order_id = updated_client_order_id
        if expiration_time is not None:
            order.expiration_time = expiration_time or None
        fills: list[SimFill] = []
        if plan is None:
            self._shrink(order, order.remaining_count - new_remaining, now)
            if expiration_time:  # a re-rested order is queued for expiry by `_rest`
                heapq.heappush(self._expiries, (expiration_time, order.order_id))
        else:
            self._take_off(order, order.remaining_count, now, cause=order, final=False)
            order.price = price
            order.remaining_count = new_remaining
            order.status = "resting"
            fills = self._execute(order, plan, now)
        order.initial_count = count
        order.last_update_time = now
        self._rehold(acct, ticker)
        if plan is None and self._listeners:
            self._emit(OrderChanged(_copy(order)))
        return old, _copy(order), fills

    def decrease_order(
        self,
        account_id: str,
        order_id: str,
        *,
        reduce_by: Decimal | None,
        reduce_to: Decimal | None,
    ) -> SimOrder:
        """Exactly one of `reduce_by` (capped at what is left) or `reduce_to` (at most what is
        left); reaching zero cancels the order. The order keeps its place in the queue."""
        order = self._owned_resting(account_id, order_id)
        market = self._markets[order.ticker]
        if (reduce_by is None) == (reduce_to is None):
            raise ExchangeError(
                400, "invalid_parameters", "send exactly one of reduce_by, reduce_to"
            )
        if reduce_by is not None:
            if reduce_by <= 0:
                raise ExchangeError(400, "invalid_count", "reduce_by must be positive")
            self._check_count(market, reduce_by)
            cut = min(reduce_by, order.remaining_count)
        else:
            assert reduce_to is not None
            if reduce_to < 0 or reduce_to > order.remaining_count:
                raise ExchangeError(
                    400, "invalid_count", f"reduce_to must be between 0 and {order.remaining_count}"
                )
            if reduce_to:
                self._check_count(market, reduce_to)
            cut = order.remaining_count - reduce_to
        self._log("decrease", account_id=account_id, order_id=order_id, cut=str(cut))
        self._decrease(order, cut)
        return _copy(order)

    def _decrease(self, order: SimOrder, cut: Decimal) -> None:
        self._shrink(order, cut, self._now())
        self._rehold(self._accounts[order.account_id], order.ticker)
        if self._listeners and order.status == "resting":
            self._emit(OrderChanged(_copy(order)))

    # reads ----------------------------------------------------------------------------------

    def order(self, account_id: str, order_id: str) -> SimOrder:
        order = self._orders.get(order_id)
        if order is None or order.account_id != account_id:
            raise not_found()
        return order

    def orders(self, account_id: str) -> list[SimOrder]:
        """All orders of the account, newest first."""
        return self._acct(account_id).orders[::-1]

    def resting_orders(self, account_id: str, ticker: str | None = None) -> list[SimOrder]:
        """The account's resting orders (of one market when `ticker` is given), oldest first;
        cheap, unlike filtering `orders()`."""
        resting = self._acct(account_id).resting
        if ticker is not None:
            return list(resting.get(ticker, {}).values())
        return [o for orders in resting.values() for o in orders.values()]

    def fills(self, account_id: str) -> list[SimFill]:
        """Newest first."""
        return self._acct(account_id).fills[::-1]

    def positions(self, account_id: str) -> list[SimPosition]:
        """Every market the account has traded, flat ones included (the server filters)."""
        return list(self._acct(account_id).positions.values())

    def settlements(self, account_id: str) -> list[SimSettlement]:
        """Newest first."""
        return self._acct(account_id).settlements[::-1]

    def trades(self, ticker: str | None = None) -> list[SimTrade]:
        """Newest first."""
        if ticker is None:
            return self._trades[::-1]
        self._market(ticker)
        return self._trades_by_ticker[ticker][::-1]

    def resting_collateral_cents(self, account_id: str) -> int:
        return _ceil_cents(self._acct(account_id).held_total)

    def portfolio_value_cents(self, account_id: str) -> int:
        """The open positions marked at each market's last trade price (at cost before the
        first trade), floored to the cent."""
        value = ZERO
        for ticker, pos in self._acct(account_id).positions.items():
            if pos.position == 0:
                continue
            last = self._markets[ticker].last_price
            if last == 0:
                value += pos.cost_basis
            elif pos.position > 0:
                value += pos.position * last
            else:
                value += -pos.position * (ONE - last)
        return _floor_cents(value)

    # exact figures for audits and the conservation tests

    def cash_dollars(self, account_id: str) -> Decimal:
        """Exact cash, including what is held for resting orders."""
        return self._acct(account_id).cash

    def held_dollars(self, account_id: str) -> Decimal:
        return self._acct(account_id).held_total

    @property
    def fees_collected(self) -> Decimal:
        return self._fees_collected

    @property
    def deposited(self) -> Decimal:
        """All cash ever credited to accounts at creation."""
        return self._deposited

    def open_interest(self) -> Decimal:
        """Outstanding YES/NO pairs over all markets; each is $1.00 locked until settlement."""
        return sum((m.open_interest for m in self._markets.values()), ZERO)

    # time -----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance to the clock's now: expire orders past their expiration_time, move the
        background participants along their price paths, open/close markets on schedule."""
        now = self._clock.wall()
        while self._expiries and self._expiries[0][0] <= now:
            _, order_id = heapq.heappop(self._expiries)
            order = self._orders[order_id]
            expires = order.expiration_time
            if order.status == "resting" and expires is not None and expires <= now:
                self._expire(order_id)
        for market in self._markets.values():
            if market.status == "unopened" and market.open_time <= now < market.close_time:
                self.set_market_status(market.ticker, "open")
            elif market.status in ("open", "paused") and market.close_time <= now:
                self.set_market_status(market.ticker, "closed")
            window = self._volume_window[market.ticker]
            if window and window[0][0] <= now - _DAY:
                self._trim_volume(market, now)
        for hook in self._tick_hooks:
            hook(now)
        if self._journal is not None and self._since_snapshot >= self._snapshot_every:
            self.compact()

    def _expire(self, order_id: str) -> None:
        order = self._orders[order_id]
        self._log("expire", order_id=order_id)
        self._take_off(order, order.remaining_count, self._now(), cause=order)
        self._rehold(self._accounts[order.account_id], order.ticker)

    # internals: validation ------------------------------------------------------------------

    def _acct(self, account_id: str) -> _Acct:
        acct = self._accounts.get(account_id)
        if acct is None:
            raise ExchangeError(404, "account_not_found", f"account {account_id} not found")
        return acct

    def _market(self, ticker: str) -> SimMarket:
        market = self._markets.get(ticker)
        if market is None:
            raise ExchangeError(404, "market_not_found", f"market {ticker} not found")
        return market

    def _require_open(self, market: SimMarket) -> None:
        if market.status != "open":
            raise ExchangeError(
                409, _STATUS_REFUSAL[market.status], f"{market.ticker} is {market.status}"
            )

    def _check_price(self, market: SimMarket, price: Decimal) -> None:
        if not price.is_finite():
            raise ExchangeError(400, "invalid_price", "price must be a number")
        if price in _ticks(market.price_ranges):
            return
        low, high = price_bounds(market.price_ranges)
        if not low <= price <= high:
            raise ExchangeError(
                400, "invalid_price", f"price {price} is outside {low}..{high} for {market.ticker}"
            )
        if not price_on_grid(price, market.price_ranges):
            raise ExchangeError(
                400,
                "invalid_price",
                f"price {price} is not on the {market.price_level_structure} grid",
            )

    def _check_count(self, market: SimMarket, count: Decimal) -> None:
        if not count.is_finite() or count <= 0:
            raise ExchangeError(400, "invalid_count", "count must be positive")
        if count % COUNT_QUANTUM:
            raise ExchangeError(400, "invalid_count", "count must be a multiple of 0.01")
        if not market.fractional_trading_enabled and count % 1:
            raise ExchangeError(
                400, "invalid_count", f"{market.ticker} trades whole contracts only"
            )

    def _owned_resting(self, account_id: str, order_id: str) -> SimOrder:
        self._acct(account_id)
        order = self.order(account_id, order_id)
        if order.status != "resting":
            raise ExchangeError(400, "order_not_resting", f"order {order_id} is {order.status}")
        return order

    def _position_of(self, acct: _Acct, ticker: str) -> Decimal:
        pos = acct.positions.get(ticker)
        return ZERO if pos is None else pos.position

    # internals: planning --------------------------------------------------------------------

    def _plan(
        self,
        acct: _Acct,
        ticker: str,
        *,
        buy_yes: bool,
        own: Decimal,
        count: Decimal,
        stp: SelfTradePrevention,
        post_only: bool,
        time_in_force: TimeInForce,
        replacing: SimOrder | None,
    ) -> _Plan:
        """Work out an incoming order (or an amended one, `replacing`) against the book and
        the account without changing either; raise if any rule refuses it."""
        book = self._books[ticker]
        account_id = acct.account.account_id
        if post_only and next(book.crossing(buy_yes, own), None) is not None:
            raise ExchangeError(400, "invalid_order", "invalid order", "post only cross")
        steps: list[tuple[Literal["fill", "cancel", "cut"], SimOrder, Decimal]] = []
        remaining = count
        stopped = False
        maker_positions: dict[str, Decimal] = {}
        for _, maker in book.crossing(buy_yes, own):
            if remaining == 0:
                break
            if maker.account_id == account_id:
                if stp is SelfTradePrevention.TAKER_AT_CROSS:
                    stopped = True
                    break
                steps.append(("cancel", maker, maker.remaining_count))
                continue
            available = maker.remaining_count
            if maker.reduce_only:
                maker_acct = self._accounts[maker.account_id]
                pos = maker_positions.get(maker.account_id)
                if pos is None:
                    pos = self._position_of(maker_acct, ticker)
                reducible = max(pos if maker.book_side is BookSide.ASK else -pos, ZERO)
                if reducible < available:
                    steps.append(("cut", maker, available - reducible))
                    available = reducible
                if available == 0:
                    continue
            take = min(remaining, available)
            steps.append(("fill", maker, take))
            remaining -= take
            # makers' positions as the plan goes, for reduce-only orders further down
            before = maker_positions.get(maker.account_id)
            if before is None:
                before = self._position_of(self._accounts[maker.account_id], ticker)
            signed = take if maker.book_side is BookSide.BID else -take
            maker_positions[maker.account_id] = before + signed
        filled = count - remaining
        if time_in_force is TimeInForce.FOK and remaining:
            raise ExchangeError(
                409,
                "fill_or_kill_insufficient_resting_volume",
                f"only {filled} of {count} could fill now",
            )
        rest = remaining if time_in_force is TimeInForce.GTC and not stopped else ZERO

        # the account's cash and collateral after the whole plan
        fee_model = self.fee_model(ticker)
        now = self._now()
        position = self._position_of(acct, ticker)
        cash = acct.cash
        fees: list[FeeCharge] = []
        carried = replacing.fee_accumulator if replacing is not None else ZERO
        for kind, maker, take in steps:
            if kind != "fill":
                continue
            price = ONE - _own_price(maker)  # what the taker pays: the maker's price
            delta, _, position = _fill_cash(position, buy_yes, price, take)
            trade_fee = fee_model.fee(take, price, taker=True, at=now)
            charge, carried = charge_fill(delta, trade_fee, carried)
            cash += delta - charge.net
            fees.append(charge)
        gone = [o for kind, o, _ in steps if kind == "cancel"]
        if replacing is not None:
            gone.append(replacing)
        agg = list(acct.agg.get(ticker) or _EMPTY_AGG)
        for o in gone:
            o_own = _own_price(o)
            self._agg_add(
                agg,
                o.book_side is BookSide.BID,
                o_own,
                -o.remaining_count,
                self._reserve_rate(ticker, o_own),
            )
        if rest:
            self._agg_add(agg, buy_yes, own, rest, self._reserve_rate(ticker, own))

        def entries(bids: bool) -> list[tuple[Decimal, Decimal]]:
            gone_ids = {id(o) for o in gone}
            out = [
                (_own_price(o), o.remaining_count)
                for o in acct.resting.get(ticker, {}).values()
                if (o.book_side is BookSide.BID) == bids and id(o) not in gone_ids
            ]
            if rest and buy_yes == bids:
                out.append((own, rest))
            return out

        hold = self._fast_hold(position, agg, entries)
        others = acct.held_total - acct.held.get(ticker, ZERO)
        if cash - others - hold < 0:
            need = _ceil_cents(others + hold - cash)
            raise ExchangeError(
                400, "insufficient_balance", f"insufficient balance: {need} more cents needed"
            )
        return _Plan(steps, rest, fees, carried, hold)

    def _fast_hold(
        self,
        position: Decimal,
        agg: list[Decimal],
        entries: Callable[[bool], list[tuple[Decimal, Decimal]]],
    ) -> Decimal:
        """The hold of one account in one market from its aggregates; only when the position
        covers part of one direction's orders are those orders (`entries(buy_yes)`: own price
        and remaining count) needed, to count the free contracts against the cheapest."""
        bid_cost, bid_count, ask_cost, ask_count, reserve = agg
        if position < 0:  # NO held: bids (buying YES) close it first
            free = -position
            if free >= bid_count:
                return reserve + ask_cost
            return reserve + ask_cost + _side_hold(entries(True), free)
        if position > 0:
            if position >= ask_count:
                return reserve + bid_cost
            return reserve + bid_cost + _side_hold(entries(False), position)
        return reserve + bid_cost + ask_cost

    def _agg_add(
        self, agg: list[Decimal], buy_yes: bool, own: Decimal, delta: Decimal, reserve: Decimal
    ) -> None:
        """Add `delta` contracts (negative: remove) at `own` to an aggregate; `reserve` is the
        maker fee reserve per contract at that price (`_reserve_rate`)."""
        i = 0 if buy_yes else 2
        agg[i] += own * delta
        agg[i + 1] += delta
        agg[4] += reserve * delta

    def _reserve_rate(self, ticker: str, own: Decimal) -> Decimal:
        """The fee reserve per contract of a resting order at `own`: per tradable unit, one
        unit's trade fee at the series' maker rate (a waiver ignored: it may expire while the
        order rests) plus $0.0001 when a unit's revenue has digits below $0.0001 (more than a
        rounding fee can be). Linear in the count, and never less than what fills charge."""
        rate = self._reserve_rates(ticker).get(own)
        return self._new_reserve_rate(ticker, own) if rate is None else rate

    def _reserve_rates(self, ticker: str) -> dict[Decimal, Decimal]:
        return self._reserve_cache.setdefault(ticker, {})

    def _new_reserve_rate(self, ticker: str, own: Decimal) -> Decimal:
        market = self._markets[ticker]
        maker_rate = self._reserve_fees(market.series_ticker)
        unit = COUNT_QUANTUM if market.fractional_trading_enabled else ONE
        per_unit = trading_fee(unit, own, maker_rate)
        if unit * own != (unit * own).quantize(FEE_QUANTUM):
            per_unit += FEE_QUANTUM  # rounding fees arise with or without a maker rate
        rate = per_unit / unit
        self._reserve_rates(ticker)[own] = rate
        return rate

    def _track(self, order: SimOrder, before: Decimal, after: Decimal) -> None:
        """Keep the account's aggregates in step with a resting order's remaining count."""
        acct = self._accounts[order.account_id]
        agg = acct.agg.get(order.ticker)
        if agg is None:
            agg = acct.agg[order.ticker] = list(_EMPTY_AGG)
        own = _own_price(order)
        self._agg_add(
            agg,
            order.book_side is BookSide.BID,
            own,
            after - before,
            self._reserve_rate(order.ticker, own),
        )

    def _rehold(self, acct: _Acct, ticker: str) -> None:
        agg = acct.agg.get(ticker)
        if agg is None:
            return

        def entries(bids: bool) -> list[tuple[Decimal, Decimal]]:
            return [
                (_own_price(o), o.remaining_count)
                for o in acct.resting.get(ticker, {}).values()
                if (o.book_side is BookSide.BID) == bids
            ]

        self._set_hold(acct, ticker, self._fast_hold(self._position_of(acct, ticker), agg, entries))

    def _set_hold(self, acct: _Acct, ticker: str, hold: Decimal) -> None:
        old = acct.held.get(ticker, ZERO)
        if hold != old:
            acct.held_total += hold - old
            if hold:
                acct.held[ticker] = hold
            else:
                del acct.held[ticker]
        acct.sync()

    # internals: applying --------------------------------------------------------------------

    def _execute(self, order: SimOrder, plan: _Plan, now: float) -> list[SimFill]:
        """Apply a plan for `order` (not on the book yet): fills, self-trade cancels and
        reduce-only cuts in book order, then rest or cancel what is left."""
        fills: list[SimFill] = []
        fee_iter = iter(plan.fees)
        touched: set[str] = set()
        for kind, maker, amount in plan.steps:
            if kind == "fill":
                fills.append(self._fill(order, maker, amount, next(fee_iter), now))
                touched.add(maker.account_id)
            else:
                self._take_off(maker, amount, now, cause=maker)
                touched.add(maker.account_id)
        order.fee_accumulator = plan.accumulator
        acct = self._accounts[order.account_id]
        if plan.rest:
            self._rest(order, now)
        elif order.remaining_count:
            order.remaining_count = ZERO
            order.status = "canceled"
        else:
            order.status = "executed"
        order.last_update_time = now
        for account_id in touched:
            self._rehold(self._accounts[account_id], order.ticker)
        self._set_hold(acct, order.ticker, plan.hold)
        if self._listeners:
            self._emit(OrderChanged(_copy(order)))
        return fills

    def _rest(self, order: SimOrder, now: float) -> None:
        own = _own_price(order)
        buy_yes = order.book_side is BookSide.BID
        self._books[order.ticker].side(buy_yes).add(
            own, order.order_id, order, order.remaining_count
        )
        acct = self._accounts[order.account_id]
        acct.resting.setdefault(order.ticker, {})[order.order_id] = order
        self._track(order, ZERO, order.remaining_count)
        if order.expiration_time is not None:
            heapq.heappush(self._expiries, (order.expiration_time, order.order_id))
        if self._listeners:
            self._emit(
                BookChanged(
                    order.ticker,
                    Side.YES if buy_yes else Side.NO,
                    own,
                    order.remaining_count,
                    order.account_id,
                    order.client_order_id,
                    now,
                )
            )

    def _take_off(
        self, order: SimOrder, amount: Decimal, now: float, *, cause: SimOrder, final: bool = True
    ) -> None:
        """Remove `amount` of a resting order from the book; the order is canceled when
        nothing is left (unless `final` is False: an amend about to re-place it)."""
        own = _own_price(order)
        buy_yes = order.book_side is BookSide.BID
        side = self._books[order.ticker].side(buy_yes)
        before = order.remaining_count
        self._track(order, before, max(before - amount, ZERO))
        if amount >= before:
            side.remove(own, order.order_id, before)
            del self._accounts[order.account_id].resting[order.ticker][order.order_id]
            order.remaining_count = ZERO
            if final:
                order.status = "canceled"
        else:
            side.change_size(own, -amount)
            order.remaining_count = before - amount
        order.last_update_time = now
        if self._listeners:
            self._emit(
                BookChanged(
                    order.ticker,
                    Side.YES if buy_yes else Side.NO,
                    own,
                    -min(amount, before),
                    cause.account_id,
                    cause.client_order_id,
                    now,
                )
            )
            if final:
                self._emit(OrderChanged(_copy(order)))

    def _shrink(self, order: SimOrder, amount: Decimal, now: float) -> None:
        if amount:
            self._take_off(order, amount, now, cause=order)

    def _fill(
        self, taker: SimOrder, maker: SimOrder, count: Decimal, taker_charge: FeeCharge, now: float
    ) -> SimFill:
        ticker = taker.ticker
        market = self._markets[ticker]
        maker_yes = maker.book_side is BookSide.BID
        maker_own = _own_price(maker)
        taker_own = ONE - maker_own
        before = maker.remaining_count
        after = before - count
        maker_acct = self._accounts[maker.account_id]
        revenue, _, _ = _fill_cash(
            self._position_of(maker_acct, ticker), maker_yes, maker_own, count
        )
        maker_charge, maker.fee_accumulator = charge_fill(
            revenue,
            self.fee_model(ticker).fee(count, maker_own, taker=False, at=now),
            maker.fee_accumulator,
        )
        maker_fee = maker_charge.net
        taker_fee = taker_charge.net
        side = self._books[ticker].side(maker_yes)
        self._track(maker, before, after)
        taker_acct = self._accounts[taker.account_id]
        if after == 0:
            side.remove(maker_own, maker.order_id, before)
            del maker_acct.resting[ticker][maker.order_id]
            maker.status = "executed"
        else:
            side.change_size(maker_own, -count)
        maker.remaining_count = after
        maker.fill_count += count
        maker.maker_fill_cost += count * maker_own
        maker.maker_fees += maker_fee
        maker.last_update_time = now
        taker.remaining_count -= count
        taker.fill_count += count
        taker.taker_fill_cost += count * taker_own
        taker.taker_fees += taker_fee

        oi_change = self._book_fill(
            maker_acct,
            ticker=ticker,
            buy_yes=maker_yes,
            own=maker_own,
            count=count,
            fee=maker_fee,
            now=now,
        )
        oi_change += self._book_fill(
            taker_acct,
            ticker=ticker,
            buy_yes=not maker_yes,
            own=taker_own,
            count=count,
            fee=taker_fee,
            now=now,
        )
        self._fees_collected += maker_fee + taker_fee
        market.open_interest += oi_change
        market.previous_price = market.last_price
        market.last_price = maker.price
        market.volume += count
        market.volume_24h += count
        market.updated_time = now
        self._volume_window[ticker].append((now, count))

        trade = SimTrade(self._new_id(), ticker, maker.price, count, taker.book_side, now)
        self._trades.append(trade)
        self._trades_by_ticker[ticker].append(trade)
        taker_fill = SimFill(
            self._new_id(),
            trade.trade_id,
            taker.order_id,
            taker.account_id,
            taker.client_order_id,
            ticker,
            taker.book_side,
            maker.price,
            count,
            True,
            taker_fee,
            taker_acct.positions[ticker].position,
            now,
            taker_charge,
        )
        maker_fill = SimFill(
            self._new_id(),
            trade.trade_id,
            maker.order_id,
            maker.account_id,
            maker.client_order_id,
            ticker,
            maker.book_side,
            maker.price,
            count,
            False,
            maker_fee,
            maker_acct.positions[ticker].position,
            now,
            maker_charge,
        )
        taker_acct.fills.append(taker_fill)
        maker_acct.fills.append(maker_fill)
        if self._listeners:
            self._emit(
                BookChanged(
                    ticker,
                    Side.YES if maker_yes else Side.NO,
                    maker_own,
                    -count,
                    taker.account_id,
                    taker.client_order_id,
                    now,
                )
            )
            self._emit(TradeHappened(trade))
            self._emit(FillHappened(taker_fill))
            self._emit(FillHappened(maker_fill))
            self._emit(OrderChanged(_copy(maker)))
            self._emit(PositionChanged(maker.account_id, ticker))
            self._emit(PositionChanged(taker.account_id, ticker))
        return taker_fill

    def _book_fill(
        self,
        acct: _Acct,
        *,
        ticker: str,
        buy_yes: bool,
        own: Decimal,
        count: Decimal,
        fee: Decimal,
        now: float,
    ) -> Decimal:
        """Move one side of a fill into the account; returns the change in open interest."""
        pos = acct.positions.get(ticker)
        if pos is None:
            pos = acct.positions[ticker] = SimPosition(
                ticker, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, now
            )
            self._holders[ticker].add(acct.account.account_id)
        old = pos.position
        delta, closed, new = _fill_cash(old, buy_yes, own, count)
        if closed:
            held = abs(old)
            removed = (
                pos.cost_basis
                if closed == held
                else (pos.cost_basis * closed / held).quantize(_COST_QUANTUM)
            )
            pos.realized_pnl += closed * (ONE - own) - removed
            pos.cost_basis -= removed
        pos.cost_basis += (count - closed) * own
        pos.position = new
        pos.fees_paid += fee
        pos.total_traded += count * own
        pos.volume += count
        pos.last_updated = now
        acct.cash += delta - fee
        return max(new, ZERO) - max(old, ZERO)

    def _trim_volume(self, market: SimMarket, now: float) -> None:
        window = self._volume_window[market.ticker]
        while window and window[0][0] <= now - _DAY:
            market.volume_24h -= window.popleft()[1]

    # internals: ids, time, journal ----------------------------------------------------------

    def _new_id(self) -> str:
        # a UUID-shaped id: a random version-4 prefix per journal, then a 48-bit counter
        self._seq += 1
        return f"{self._id_prefix}{self._seq:012x}"

    def _set_salt(self, value: int) -> None:
        self._salt = value
        self._id_prefix = str(uuid.UUID(int=value, version=4))[:24]

    def _now(self) -> float:
        return self._clock.wall() if self._replay_ts is None else self._replay_ts

    @property
    def _journaling(self) -> bool:
        return self._journal is not None and self._replay_ts is None

    def _log(self, op: str, **fields: Any) -> None:
        if self._journal is not None and self._replay_ts is None:
            self._journal.append({"op": op, "ts": self._clock.wall(), **fields})
            self._since_snapshot += 1

    _PERSISTED = (
        "_series",
        "_series_fees",
        "_fee_changes",
        "_events",
        "_markets",
        "_books",
        "_accounts",
        "_by_key",
        "_orders",
        "_trades",
        "_trades_by_ticker",
        "_volume_window",
        "_holders",
        "_expiries",
        "_fees_collected",
        "_deposited",
        "_seq",
        "created_time",
    )

    def close(self) -> None:
        """Close the journal (every record is already flushed); the exchange is done with."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def compact(self) -> None:
        """Write a snapshot of the whole state and start the journal afresh (see journal.py)."""
        if self._journal is None:
            return
        generation = self._generation + 1
        state = {name: getattr(self, name) for name in self._PERSISTED}
        write_snapshot(self._journal.path, {"generation": generation, "state": state})
        self._journal.restart(self._init_record(generation))
        self._generation = generation
        self._since_snapshot = 0

    def _init_record(self, generation: int) -> dict[str, Any]:
        return {
            "op": "init",
            "ts": self.created_time,
            "salt": format(self._salt, "x"),
            "generation": generation,
        }

    def _open_journal(self, journal: Journal) -> None:
        records = journal.records()
        first = next(records, None)
        snapshot = read_snapshot(journal.path)
        if first is None:
            if snapshot is not None:
                raise JournalError(f"{journal.path}: empty, but a snapshot exists beside it")
            journal.append(self._init_record(0))
            self._journal = journal
            return
        if first.get("op") != "init":
            raise JournalError(f"{journal.path}: does not start with an init record")
        self._set_salt(int(first["salt"], 16))
        self.created_time = float(first["ts"])  # float-ok: unix seconds
        self._generation = int(first.get("generation", 0))
        skip = False
        if snapshot is not None:
            ahead = int(snapshot["generation"]) - self._generation
            if ahead not in (0, 1):
                raise JournalError(f"{journal.path}: snapshot and journal do not belong together")
            for name, value in snapshot["state"].items():
                setattr(self, name, value)
            self.restored = True
            skip = ahead == 1  # crashed after the snapshot, before the journal restarted
        for record in records:
            if skip:
                continue
            self._replay(record)
            self.restored = True
            self._since_snapshot += 1
        self._replay_ts = None
        self._journal = journal
        if skip:
            self._generation += 1
            journal.restart(self._init_record(self._generation))

    def _replay(self, rec: dict[str, Any]) -> None:
        self._replay_ts = float(rec["ts"])  # float-ok: unix seconds
        op = rec["op"]
        try:
            if op == "series":
                self.add_series(SimSeries(**rec["series"]))
            elif op == "event":
                self.add_event(SimEvent(**rec["event"]))
            elif op == "fee_change":
                self.schedule_fee_change(
                    rec["series_ticker"],
                    rec["fee_type"],
                    rec["fee_multiplier"],
                    float(rec["scheduled_ts"]),  # float-ok: unix seconds
                )
            elif op == "market":
                self.add_market(_market_from_record(rec["market"]))
            elif op == "status":
                self.set_market_status(rec["ticker"], rec["status"])
            elif op == "settle":
                self.settle(rec["ticker"], rec["result"])
            elif op == "account":
                self.create_account(
                    key_id=rec["key_id"],
                    public_key_pem=rec["public_key_pem"],
                    cash_cents=int(rec["cash_cents"]),
                )
            elif op == "place":
                self.place_order(
                    rec["account_id"],
                    ticker=rec["ticker"],
                    book_side=BookSide(rec["book_side"]),
                    price=Decimal(rec["price"]),
                    count=Decimal(rec["count"]),
                    time_in_force=TimeInForce(rec["time_in_force"]),
                    self_trade_prevention=SelfTradePrevention(rec["self_trade_prevention"]),
                    client_order_id=rec["client_order_id"],
                    post_only=bool(rec["post_only"]),
                    reduce_only=bool(rec["reduce_only"]),
                    expiration_time=rec["expiration_time"],
                    cancel_order_on_pause=bool(rec.get("cancel_order_on_pause", False)),
                )
            elif op == "cancel":
                self.cancel_order(rec["account_id"], rec["order_id"])
            elif op == "cancel_all":
                self.cancel_all(rec["account_id"], ticker=rec["ticker"])
            elif op == "amend":
                self.amend_order(
                    rec["account_id"],
                    rec["order_id"],
                    ticker=rec["ticker"],
                    book_side=BookSide(rec["book_side"]),
                    price=Decimal(rec["price"]),
                    count=Decimal(rec["count"]),
                    updated_client_order_id=rec["updated_client_order_id"],
                    expiration_time=rec.get("expiration_time"),
                )
            elif op == "decrease":
                self._decrease(self._orders[rec["order_id"]], Decimal(rec["cut"]))
            elif op == "expire":
                self._expire(rec["order_id"])
            else:
                raise JournalError(f"unknown journal record {op!r}")
        except ExchangeError as exc:
            raise JournalError(
                f"journal record {op} at {rec['ts']} no longer applies: {exc}"
            ) from exc


def _plain(obj: SimSeries | SimEvent) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, list) else v) for k, v in vars(obj).items()}


_MARKET_DECIMALS = (
    "last_price",
    "previous_price",
    "volume",
    "volume_24h",
    "open_interest",
)


def _market_record(market: SimMarket) -> dict[str, Any]:
    data = dict(vars(market))
    data["price_ranges"] = [[str(r.start), str(r.end), str(r.step)] for r in market.price_ranges]
    for key in _MARKET_DECIMALS:
        data[key] = str(data[key])
    if market.settlement_floor is not None:
        data["settlement_floor"] = str(market.settlement_floor)
    return data


def _market_from_record(data: dict[str, Any]) -> SimMarket:
    fields = dict(data)
    fields["price_ranges"] = tuple(
        PriceRange(Decimal(start), Decimal(end), Decimal(step))
        for start, end, step in data["price_ranges"]
    )
    for key in _MARKET_DECIMALS:
        fields[key] = Decimal(fields[key])
    if fields.get("settlement_floor") is not None:
        fields["settlement_floor"] = Decimal(fields["settlement_floor"])
    return SimMarket(**fields)
