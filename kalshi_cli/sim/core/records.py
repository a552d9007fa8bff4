"""What the simulated exchange is made of and what it reports: the reference data (series,
events, markets), orders, fills, trades, positions, settlements, accounts, the refusal
`ExchangeError` and the events the WebSocket layer listens to. Plain data, no behaviour beyond
a property or two. Each name has its one home here (`sim/core/exchange.py` holds the
`Exchange` itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, TypeVar

import msgspec

from kalshi_cli.vocabulary.models import FeeCharge, PriceRange
from kalshi_cli.vocabulary.units import ONE, ZERO, BookSide, SelfTradePrevention, Side, TimeInForce

# `determined`: its result known, its positions not yet paid (openapi `Market.status`); paid
# `settlement_timer_seconds` after it (`settled`)
MarketStatus = Literal["unopened", "open", "paused", "closed", "determined", "settled"]


class ExchangeError(Exception):
    """A refusal in Kalshi's terms: HTTP status, error code string, message."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def bad_request(message: str, code: str = "invalid_parameters") -> ExchangeError:
    """Kalshi's 400 for a request it refuses as given (`invalid_parameters` unless `code`)."""
    return ExchangeError(400, code, message)


def settlement_timer(value: object) -> int:
    """A market's `settlement_timer_seconds` (openapi `Market`, an integer): whole seconds from
    its determination to its settlement, 0 or more; any other value is refused."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad_request(f"settlement_timer_seconds: whole seconds, 0 or more, not {value!r}")
    return value


def not_found() -> ExchangeError:
    """Kalshi's 404 for an order: the same bytes whether it was cancelled, executed, never
    existed or belongs to someone else, so the answer reveals nothing."""
    return ExchangeError(404, "not_found", "not found")


# A journaled input whose terms are the fields of one msgspec Struct (`PlaceRequest`,
# `AmendRequest`, ...): its record is written from them (`journal`) and a replay reads the
# same type back (`from_journal`), so a term is named once, by its type, and a term added to it
# is written and replayed alike.
Request = TypeVar("Request", bound=msgspec.Struct)


def journal(request: msgspec.Struct, **names: Any) -> dict[str, Any]:
    """A journaled input's record fields: `names` first (whose input it is, what it names), then
    its terms in order, enums as their values and decimals as their text; a type that omits its
    defaults leaves out every term equal to its default."""
    terms: dict[str, Any] = msgspec.to_builtins(request)
    if request.__struct_config__.omit_defaults:  # msgspec omits a tuple only when it is the default
        for term in msgspec.structs.fields(request):
            if getattr(request, term.name) == term.default:
                terms.pop(term.name, None)
    return {**names, **terms}


def from_journal(kind: type[Request], rec: dict[str, Any]) -> Request:
    """The input of type `kind` a record holds (`journal`); a record older than a term
    reads it as its default."""
    return msgspec.convert(rec, kind, strict=False)


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
    # the exchange shard (`exchange_index`) its events are on unless an event names its own
    exchange_index: int = 0


@dataclass
class SimFeeChange:
    """A scheduled change of a series' fees (openapi SeriesFeeChange): from `scheduled_ts`
    (unix seconds, the exchange's clock) on, the series charges `fee_type` x `fee_multiplier`."""

    id: str
    series_ticker: str
    fee_type: str
    fee_multiplier: str  # a decimal string (kept as text for the journal)
    scheduled_ts: float  # unix seconds


# An event's fee override in force, as text: (fee_type_override, fee_multiplier_override),
# either None for the series' own half, never both (that is no override).
FeeOverride = tuple[str | None, str | None]


@dataclass
class SimEvent:
    event_ticker: str
    series_ticker: str
    title: str
    sub_title: str = ""
    mutually_exclusive: bool = False
    updated_time: float = 0.0  # unix seconds; set when added (the simulator never edits one)
    # EventData `collateral_return_type`: MECNET (mutually exclusive, and only then
    # `mutually_exclusive`), DIRECNET (a ladder of strikes) or "": how a netting subaccount's
    # positions in the event are netted (`collateral.CollateralReturn.net_event`)
    collateral_return_type: str = ""
    # EventData `fee_type_override`/`fee_multiplier_override`: each None falls back to the
    # series' own type or multiplier, both None is no override (`FeeModel.from_api`)
    fee_type_override: str | None = None
    fee_multiplier_override: str | None = None  # a decimal string (kept as text for the journal)
    # the exchange shard (`exchange_index`) the event and all its markets are on: Kalshi's
    # "every event and market lives on exactly one shard"
    exchange_index: int = 0

    def __post_init__(self) -> None:
        """`mutually_exclusive` alone still means MECNET; a conflicting pair is refused."""
        kind = self.collateral_return_type
        if kind not in ("", "MECNET", "DIRECNET"):
            raise bad_request(f"collateral_return_type {kind!r}: MECNET, DIRECNET or ''")
        if self.mutually_exclusive and kind == "DIRECNET":
            raise bad_request("a DIRECNET event is not mutually_exclusive")
        if self.mutually_exclusive or kind == "MECNET":
            self.mutually_exclusive, self.collateral_return_type = True, "MECNET"


@dataclass
class SimEventFeeChange:
    """A scheduled change of an event's fee override (openapi EventFeeChange): from
    `scheduled_ts` on, it replaces the override, and the event's markets charge
    `fee_type_override` x `fee_multiplier_override`, each None falling back to the series'
    own type or multiplier (`FeeModel.from_api`); both None clear the override, and the
    series' fees apply again."""

    id: str
    event_ticker: str
    series_ticker: str
    fee_type_override: str | None
    fee_multiplier_override: str | None  # a decimal string (kept as text for the journal)
    scheduled_ts: float  # unix seconds


class FeeChangeRequest(msgspec.Struct, frozen=True):
    """A change of a series' fees as it is scheduled and journaled (`SimFeeChange` without the
    id the exchange gives it)."""

    series_ticker: str
    fee_type: str
    fee_multiplier: str  # a decimal string
    scheduled_ts: float  # unix seconds


class FeeOverrideChangeRequest(msgspec.Struct, frozen=True):
    """A change of an event's fee override as it is scheduled and journaled
    (`SimEventFeeChange` without its id and the event's series)."""

    event_ticker: str
    fee_type_override: str | None
    fee_multiplier_override: str | None  # a decimal string
    scheduled_ts: float  # unix seconds


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
    result: str = ""  # "", "yes", "no", "scalar"
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
    # a `scalar` result's value: what one YES contract pays (NO pays the rest of $1.00)
    scalar_value: Decimal | None = None
    # how one expiration value settles the market (openapi Market: `strike_type`, `floor_strike`
    # the lowest value that pays YES, `cap_strike` the highest); "" and None where none is set
    strike_type: str = ""
    floor_strike: Decimal | None = None
    cap_strike: Decimal | None = None
    # "the value that was considered for the settlement" (a crypto market's index value); ""
    # serves the result, as on a market settled by a person
    expiration_value: str = ""
    # "the amount of time after determination that the market settles" (openapi `Market`)
    settlement_timer_seconds: int = 0
    determined_time: float | None = None  # unix seconds: when its result was determined

    @property
    def settles_at(self) -> float | None:
        """When a determined market is due to be settled (None: it is not determined)."""
        if self.status != "determined" or self.determined_time is None:
            return None
        return self.determined_time + self.settlement_timer_seconds

    @property
    def yes_settlement_value(self) -> Decimal:
        """What one YES contract pays on this market's result (NO pays the rest of $1.00)."""
        if self.result == "yes":
            return ONE
        if self.result == "scalar" and self.scalar_value is not None:
            return self.scalar_value
        return self.settlement_floor if self.settlement_floor is not None else ZERO

    fee_waiver_expiration_time: float | None = None  # unix seconds: no fees before it
    exchange_index: int = 0  # its event's shard (`Reference.add_market` sets it)


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
    order_group_id: str | None = None  # the order group it was placed in (sim/core/order_groups.py)


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
    charge: FeeCharge | None = None  # its components, for the simulator's own accounting


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


class AccountRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    """The terms of an account as the ledger opens it and the journal writes and replays them:
    `cash_cents` on each of `shards` (written only when not shard 0 alone, as before shards)."""

    key_id: str
    public_key_pem: str
    cash_cents: int
    shards: tuple[int, ...] = (0,)


class PlaceRequest(msgspec.Struct, frozen=True):
    """One order request as the exchange takes it (the terms of `CreateOrderV2Request`): the
    one value the route parses, the order desk checks and places, the participants and RFQs
    build, and the journal writes and replays. A new order field is a field here."""

    ticker: str
    book_side: BookSide
    price: Decimal  # the YES price
    count: Decimal
    time_in_force: TimeInForce
    self_trade_prevention: SelfTradePrevention
    client_order_id: str | None = None
    post_only: bool = False
    reduce_only: bool = False
    expiration_time: int | None = None  # unix seconds
    cancel_order_on_pause: bool = False
    order_group_id: str | None = None


class AmendRequest(msgspec.Struct, frozen=True):
    """The terms of an amend (`AmendOrderRequest`) as the order desk checks and applies them and
    the journal writes and replays. `count` is the new total (filled + to rest);
    `expiration_time` None keeps the expiry, 0 removes it."""

    ticker: str
    book_side: BookSide
    price: Decimal  # the YES price
    count: Decimal
    updated_client_order_id: str | None = None
    expiration_time: int | None = None  # unix seconds


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


@dataclass
class EventCreated:
    """An event was added (asyncapi `event_lifecycle`: "Event creation notification")."""

    event_ticker: str
    ts: float = 0.0


@dataclass
class OrderGroupChanged:
    """An order group was created, triggered, reset, deleted or had its limit updated (the
    `order_group_updates` channel); `contracts_limit` is set for created and limit_updated."""

    account_id: str
    order_group_id: str
    event_type: str
    contracts_limit: Decimal | None
    ts: float


@dataclass
class EventFeeUpdated:
    """An event's fee override took effect or was cleared (asyncapi `event_fee_update`)."""

    change: SimEventFeeChange


SimNotice = (
    BookChanged
    | TradeHappened
    | FillHappened
    | OrderChanged
    | PositionChanged
    | MarketLifecycle
    | EventCreated
    | OrderGroupChanged
    | EventFeeUpdated
)
Listener = Callable[[SimNotice], None]


def copy_order(o: SimOrder) -> SimOrder:
    """A snapshot (orders change in place; callers keep what they were given). Field by field,
    not through `__dict__`: reading an instance's `__dict__` makes Python build a separate dict
    for it (and for the copy), which the cyclic GC then scans on every pass (docs/benchmarks.md
    "Matching core, integer-free cuts"); tests/sim/test_core_golden.py checks every field."""
    return SimOrder(
        o.order_id,
        o.account_id,
        o.client_order_id,
        o.ticker,
        o.book_side,
        o.price,
        o.initial_count,
        o.fill_count,
        o.remaining_count,
        o.status,
        o.time_in_force,
        o.post_only,
        o.reduce_only,
        o.self_trade_prevention,
        o.expiration_time,
        o.created_time,
        o.last_update_time,
        o.taker_fill_cost,
        o.maker_fill_cost,
        o.taker_fees,
        o.maker_fees,
        o.cancel_order_on_pause,
        o.fee_accumulator,
        o.order_group_id,
    )


def own_price(order: SimOrder) -> Decimal:
    """The price of the side the order buys: YES for a bid, NO for an ask."""
    return order.price if order.book_side is BookSide.BID else ONE - order.price


# Subaccounts (sim/core/subaccounts.py) ------------------------------------------------------------

_SUB_SEP = "/"


def keeps_place(order: SimOrder, price: Decimal, count: Decimal) -> bool:
    """Does an amend of `order` to `price` and the new total `count` keep its queue place?
    Only at the same price and when what rests does not grow (an amend of the expiry alone,
    or a decrease); otherwise it goes to the back of its new level."""
    return price == order.price and count - order.fill_count <= order.remaining_count


def fill_averages(fills: list[SimFill]) -> tuple[Decimal, Decimal] | None:
    """(average YES price, average fee a contract) of a write's own fills, unrounded; None
    when it filled nothing."""
    if not fills:
        return None  # most writes fill nothing (every requote that rests): no sums to say so
    filled = sum((f.count for f in fills), Decimal(0))
    if filled <= 0:
        return None
    cost = sum((f.price * f.count for f in fills), Decimal(0))
    return cost / filled, sum((f.fee for f in fills), Decimal(0)) / filled


def amend_counts(
    old: SimOrder, new: SimOrder, fills: list[SimFill]
) -> tuple[Decimal, Decimal] | None:
    """(what rests, what the amend itself filled) as an amend's answer gives them
    (AmendOrderV2Response: "only present" when the amend filled or changed the resting size;
    else None)."""
    filled = sum((f.count for f in fills), Decimal(0)) if fills else ZERO
    if filled == 0 and new.remaining_count == old.remaining_count:
        return None
    return new.remaining_count, filled


def ledger_id(user: str, subaccount: int) -> str:
    """The ledger account that holds subaccount `subaccount` of `user`."""
    return user if subaccount == 0 else f"{user}{_SUB_SEP}{subaccount}"


def owner(ledger: str) -> tuple[str, int]:
    """(user, subaccount number) of a ledger account id."""
    user, _, number = ledger.partition(_SUB_SEP)
    return user, int(number) if number else 0


def same_user(a: str, b: str) -> bool:
    return a == b or a.partition(_SUB_SEP)[0] == b.partition(_SUB_SEP)[0]
