"""Money, counts, directions and the shapes the exchange sends, shared by every layer.

Kalshi sends prices as fixed-point dollar strings (`"0.5600"`, sub-penny on some markets) and
counts as fixed-point strings (`"10.00"`). They are parsed to `Decimal` here, at the boundary, and
written back as strings; no float ever holds a price, a count, a balance or a P&L.

Directions come in two vocabularies. A trader says "buy NO at 0.40"; the V2 order endpoints take
one book per market in YES terms, where `bid` buys YES and `ask` sells YES. Buying NO at p is the
same as selling YES at 1 - p, so `buy no @ 0.40` is `ask @ 0.60`. `to_book()` and `from_book()`
convert between the two and are the only place that mapping is written.

The response dataclasses are tolerant of what they receive (unknown fields ignored, optional
fields may be missing) and keep the raw dict for `--json` output; request builders in `client/`
are strict about what they send.

The parsing, formatting and direction helpers are defined in `units` and re-exported here:
importing them from `units` skips generating this module's dataclasses, which a cron check
(`kalshi check heartbeat`, reading the state file) would otherwise pay for on every run.
Likewise `Market` and its price grid are defined in `market` and re-exported here, so a read of
the markets (`kalshi markets`) generates none of the other response dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from kalshi_cli.market import (
    PRICE_STRUCTURES,
    Market,
    PriceRange,
    min_tick,
    price_bounds,
    price_on_grid,
    required_decimal,
    required_text,
)
from kalshi_cli.market import decimal_field as _decimal_field
from kalshi_cli.market import text_field as _text_field
from kalshi_cli.units import (
    CENT,
    COUNT_QUANTUM,
    DOLLARS_QUANTUM,
    ONE,
    ZERO,
    Action,
    BookOrder,
    BookSide,
    OrderStatus,
    SelfTradePrevention,
    Side,
    TimeInForce,
    ceil_to_cent,
    cents_to_dollars,
    dollars_to_cents,
    fmt_count,
    fmt_dollars,
    fmt_money,
    from_book,
    outcome_side_of,
    parse_count,
    parse_decimal,
    parse_dollars,
    parse_optional_dollars,
    side_held,
    to_book,
)

# `units` and `market` hold these (light to import, see there); they stay part of this module's
# interface.
__all__ = [
    "CENT",
    "COUNT_QUANTUM",
    "DOLLARS_QUANTUM",
    "ONE",
    "PRICE_STRUCTURES",
    "ZERO",
    "Action",
    "BookOrder",
    "BookSide",
    "Market",
    "OrderStatus",
    "PriceRange",
    "SelfTradePrevention",
    "Side",
    "TimeInForce",
    "ceil_to_cent",
    "cents_to_dollars",
    "dollars_to_cents",
    "fmt_count",
    "fmt_dollars",
    "fmt_money",
    "from_book",
    "min_tick",
    "outcome_side_of",
    "parse_count",
    "parse_decimal",
    "parse_dollars",
    "parse_optional_dollars",
    "price_bounds",
    "price_on_grid",
    "side_held",
    "to_book",
]


class Level(NamedTuple):
    """One price level of a book side: its price and the contracts bid there (`size`). A
    tuple, so `price, size = level` and `level[0]` read it as before the fields had names."""

    price: Decimal
    size: Decimal


@dataclass(frozen=True)
class Orderbook:
    """Bids only, as Kalshi sends them. A YES bid at p is a NO ask at 1 - p.

    Levels are kept sorted best first (highest price first) whatever order the wire used.
    """

    ticker: str
    yes_bids: tuple[Level, ...]
    no_bids: tuple[Level, ...]

    if TYPE_CHECKING:
        # levels may be given as bare (price, size) pairs; `__post_init__` names them
        def __init__(
            self,
            ticker: str,
            yes_bids: tuple[tuple[Decimal, Decimal], ...],
            no_bids: tuple[tuple[Decimal, Decimal], ...],
        ) -> None: ...

    def __post_init__(self) -> None:
        # levels given as bare (price, count) pairs get their names; the feed, the venue and
        # `from_api` build `Level`s already, so this costs them one type check per side
        for name in ("yes_bids", "no_bids"):
            levels = getattr(self, name)
            if levels and type(levels[0]) is not Level:
                object.__setattr__(self, name, tuple(Level(*lv) for lv in levels))

    @classmethod
    def from_api(cls, ticker: str, data: dict[str, Any]) -> Orderbook:
        book = data.get("orderbook_fp", data)
        return cls(
            ticker=ticker,
            yes_bids=_levels(book.get("yes_dollars") or []),
            no_bids=_levels(book.get("no_dollars") or []),
        )

    @property
    def best_yes_bid(self) -> Level | None:
        return self.yes_bids[0] if self.yes_bids else None

    @property
    def best_no_bid(self) -> Level | None:
        return self.no_bids[0] if self.no_bids else None

    @property
    def yes_ask(self) -> Level | None:
        """The implied YES ask: 1 - best NO bid, with that bid's size."""
        best = self.best_no_bid
        return Level(ONE - best[0], best[1]) if best else None

    @property
    def no_ask(self) -> Level | None:
        best = self.best_yes_bid
        return Level(ONE - best[0], best[1]) if best else None

    @property
    def spread(self) -> Decimal | None:
        bid, ask = self.best_yes_bid, self.yes_ask
        return ask[0] - bid[0] if bid and ask else None

    @property
    def mid(self) -> Decimal | None:
        bid, ask = self.best_yes_bid, self.yes_ask
        return (bid[0] + ask[0]) / 2 if bid and ask else None


def _levels(raw: list[Any]) -> tuple[Level, ...]:
    levels = [Level(parse_dollars(p), parse_count(q)) for p, q in raw]
    levels.sort(key=lambda lv: lv[0], reverse=True)
    return tuple(levels)


def _subaccount_field(data: dict[str, Any]) -> int | None:
    value = data.get("subaccount_number")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Order:
    order_id: str
    client_order_id: str
    ticker: str
    book_side: BookSide
    status: str
    yes_price: Decimal
    fill_count: Decimal
    remaining_count: Decimal
    initial_count: Decimal
    fees: Decimal
    fill_cost: Decimal
    created_time: str
    expiration_time: str
    raw: dict[str, Any] = field(repr=False, compare=False)
    subaccount: int | None = None  # `subaccount_number`: where a cancel must name it

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Order:
        book_side = data.get("book_side")
        if book_side is None:  # older shape: derive from side/action
            side, action = Side(data.get("side", "yes")), Action(data.get("action", "buy"))
            book_side = to_book(side, action, ZERO).book_side
        return cls(
            order_id=_text_field(data, "order_id"),
            client_order_id=_text_field(data, "client_order_id"),
            ticker=_text_field(data, "ticker"),
            book_side=BookSide(book_side),
            # what reconciliation and the kill switch's proof decide on: never a default
            status=required_text(data, "status"),
            yes_price=_decimal_field(data, "yes_price_dollars"),
            fill_count=required_decimal(data, "fill_count_fp"),
            remaining_count=required_decimal(data, "remaining_count_fp"),
            initial_count=_decimal_field(data, "initial_count_fp"),
            fees=_decimal_field(data, "taker_fees_dollars")
            + _decimal_field(data, "maker_fees_dollars"),
            fill_cost=_decimal_field(data, "taker_fill_cost_dollars")
            + _decimal_field(data, "maker_fill_cost_dollars"),
            created_time=_text_field(data, "created_time"),
            expiration_time=_text_field(data, "expiration_time"),
            raw=data,
            subaccount=_subaccount_field(data),
        )


@dataclass(frozen=True)
class Fill:
    fill_id: str
    trade_id: str
    order_id: str
    ticker: str
    book_side: BookSide
    count: Decimal
    yes_price: Decimal
    is_taker: bool
    fee: Decimal
    created_time: str
    ts: int | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Fill:
        book_side = data.get("book_side")
        if book_side is None:
            side, action = Side(data.get("side", "yes")), Action(data.get("action", "buy"))
            book_side = to_book(side, action, ZERO).book_side
        ts = data.get("ts")
        return cls(
            fill_id=_text_field(data, "fill_id") or _text_field(data, "trade_id"),
            trade_id=_text_field(data, "trade_id"),
            order_id=_text_field(data, "order_id"),
            ticker=_text_field(data, "market_ticker") or _text_field(data, "ticker"),
            book_side=BookSide(book_side),
            count=_decimal_field(data, "count_fp"),
            yes_price=_decimal_field(data, "yes_price_dollars"),
            is_taker=bool(data.get("is_taker", False)),
            fee=_decimal_field(data, "fee_cost"),
            created_time=_text_field(data, "created_time"),
            ts=int(ts) if isinstance(ts, int) else None,
            raw=data,
        )

    @property
    def signed_count(self) -> Decimal:
        """Change in the netted position: + for YES bought (bid), - for YES sold (ask)."""
        return self.count if self.book_side is BookSide.BID else -self.count


@dataclass(frozen=True)
class Position:
    ticker: str
    position: Decimal  # positive YES, negative NO
    exposure: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal
    total_traded: Decimal
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Position:
        return cls(
            ticker=_text_field(data, "ticker"),
            position=required_decimal(data, "position_fp"),  # never "flat" by default
            exposure=_decimal_field(data, "market_exposure_dollars"),
            realized_pnl=_decimal_field(data, "realized_pnl_dollars"),
            fees_paid=_decimal_field(data, "fees_paid_dollars"),
            total_traded=_decimal_field(data, "total_traded_dollars"),
            raw=data,
        )

    @property
    def side(self) -> Side | None:
        return side_held(self.position)


@dataclass(frozen=True)
class Settlement:
    ticker: str
    event_ticker: str
    market_result: str
    yes_count: Decimal
    yes_total_cost: Decimal
    no_count: Decimal
    no_total_cost: Decimal
    revenue: Decimal  # dollars (the wire sends integer cents)
    fee: Decimal
    settled_time: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Settlement:
        return cls(
            ticker=_text_field(data, "ticker"),
            event_ticker=_text_field(data, "event_ticker"),
            market_result=_text_field(data, "market_result"),
            yes_count=_decimal_field(data, "yes_count_fp"),
            yes_total_cost=_decimal_field(data, "yes_total_cost_dollars"),
            no_count=_decimal_field(data, "no_count_fp"),
            no_total_cost=_decimal_field(data, "no_total_cost_dollars"),
            revenue=cents_to_dollars(int(data.get("revenue", 0))),
            fee=_decimal_field(data, "fee_cost"),
            settled_time=_text_field(data, "settled_time"),
            raw=data,
        )


@dataclass(frozen=True)
class Balance:
    """`balance` in dollars from `balance_dollars` (4 decimals: fees are charged to $0.0001, so
    the balance has sub-cent digits); the integer-cent `balance` truncates them and is used
    only when `balance_dollars` is missing (before spec 3.29)."""

    balance: Decimal
    portfolio_value: Decimal
    updated_ts: int
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Balance:
        exact = parse_optional_dollars(data.get("balance_dollars"))
        return cls(
            balance=cents_to_dollars(int(data["balance"])) if exact is None else exact,
            portfolio_value=cents_to_dollars(int(data.get("portfolio_value", 0))),
            updated_ts=int(data.get("updated_ts", 0)),
            raw=data,
        )


@dataclass(frozen=True)
class Trade:
    trade_id: str
    ticker: str
    count: Decimal
    yes_price: Decimal
    taker_book_side: str
    created_time: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Trade:
        return cls(
            trade_id=_text_field(data, "trade_id"),
            ticker=_text_field(data, "ticker"),
            count=_decimal_field(data, "count_fp"),
            yes_price=_decimal_field(data, "yes_price_dollars"),
            taker_book_side=_text_field(data, "taker_book_side"),
            created_time=_text_field(data, "created_time"),
            raw=data,
        )


@dataclass(frozen=True)
class ExchangeStatus:
    exchange_active: bool
    trading_active: bool
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ExchangeStatus:
        return cls(bool(data.get("exchange_active")), bool(data.get("trading_active")), data)


# --------------------------------------------------------------------------------------------
# Fees
#
# The one fee model: the simulator charges it, the strategies' edge after fees and the backtest
# venue use it, and P&L books the `fee_cost` the exchange reports (which it produces). Kalshi's
# trade fee per fill is rate x C x P x (1 - P) rounded *up to $0.0001* (REFERENCE.md "Observed on
# the real wire": 1 contract at $0.52 was charged "0.017500", not $0.02). The rate depends on
# the series' `fee_type` (taker 0.07; makers pay 0.0175 only with maker fees, 0.035 with combo
# maker fees), times the series' `fee_multiplier`; an event may override both, and a market's
# `fee_waiver_expiration_time` in the future means no fee at all.


FEE_QUANTUM = Decimal("0.0001")
TAKER_FEE_RATE = Decimal("0.07")
MAKER_FEE_RATE = Decimal("0.0175")  # quadratic_with_maker_fees: 0.25 x the taker rate
COMBO_MAKER_FEE_RATE = Decimal("0.035")  # quadratic_with_combo_maker_fees: 0.5 x


class FeeType(StrEnum):
    """The spec's `FeeType` (openapi 3.31.0), in its order."""

    QUADRATIC = "quadratic"
    QUADRATIC_WITH_MAKER_FEES = "quadratic_with_maker_fees"
    QUADRATIC_WITH_COMBO_MAKER_FEES = "quadratic_with_combo_maker_fees"
    FLAT = "flat"


# (taker, maker) rates at multiplier 1. `flat` ("the Specific Trading Fees Table") is absent on
# purpose: neither the spec nor the reference gives its rates, so it is refused, not guessed.
_FEE_RATES = {
    FeeType.QUADRATIC: (TAKER_FEE_RATE, ZERO),
    FeeType.QUADRATIC_WITH_MAKER_FEES: (TAKER_FEE_RATE, MAKER_FEE_RATE),
    FeeType.QUADRATIC_WITH_COMBO_MAKER_FEES: (TAKER_FEE_RATE, COMBO_MAKER_FEE_RATE),
}


class FeeModelError(ValueError):
    """A fee structure this model cannot price (an unknown or unmodelled `fee_type`, a bad
    multiplier): refusing is safer than trading on a guessed fee."""


def ceil_to_fee_quantum(value: Decimal) -> Decimal:
    return value.quantize(FEE_QUANTUM, rounding=ROUND_CEILING)


def trading_fee(count: Decimal, price: Decimal, rate: Decimal = TAKER_FEE_RATE) -> Decimal:
    """Kalshi's trade fee of one fill: rate x count x P x (1 - P) rounded up to $0.0001.

    `price` is the price paid for the side traded (P and 1 - P give the same fee).
    """
    if count <= 0 or rate <= 0:
        return ZERO
    return ceil_to_fee_quantum(rate * count * price * (ONE - price))


def _fee_number(value: Any, what: str) -> Decimal:
    """`fee_multiplier` is a JSON number in the spec; read it through its shortest text."""
    if isinstance(value, float):
        value = repr(value)  # the wire sends a JSON number; its text is exact enough
    try:
        number = parse_decimal(value, what=what)
    except (TypeError, ValueError) as exc:
        raise FeeModelError(f"{what}: {exc}") from exc
    if number < 0:
        raise FeeModelError(f"{what} must not be negative, got {number}")
    return number


def _fee_type(value: Any) -> FeeType:
    try:
        fee_type = FeeType(value)
    except ValueError:
        raise FeeModelError(
            f"unknown fee_type {value!r}: only {', '.join(_FEE_RATES)} are modelled"
        ) from None
    if fee_type not in _FEE_RATES:
        raise FeeModelError(
            f"fee_type {fee_type.value!r} (Kalshi's Specific Trading Fees Table) is not "
            "modelled: its rates are not in the API reference"
        )
    return fee_type


@dataclass(frozen=True)
class FeeModel:
    """The fees of one market: its series' (or event override's) type and multiplier, and the
    market's fee waiver (unix seconds; no fee before it)."""

    fee_type: FeeType = FeeType.QUADRATIC
    multiplier: Decimal = ONE
    waiver_until: float | None = None  # unix seconds

    def __post_init__(self) -> None:
        _fee_type(self.fee_type)
        if self.multiplier < 0:
            raise FeeModelError(f"fee multiplier must not be negative, got {self.multiplier}")

    @classmethod
    def from_api(
        cls,
        fee_type: Any,
        multiplier: Any,
        *,
        override_type: Any = None,
        override_multiplier: Any = None,
        waiver_expiration_time: str | None = None,
    ) -> FeeModel:
        """From a Series' `fee_type`/`fee_multiplier`, an Event's `fee_type_override`/
        `fee_multiplier_override` (both null: no override) and a Market's
        `fee_waiver_expiration_time`. Raises FeeModelError for what cannot be priced."""
        if override_type is not None:
            fee_type = override_type
            if override_multiplier is not None:
                multiplier = override_multiplier
        waiver = None
        if waiver_expiration_time:
            from kalshi_cli.clock import parse_iso

            try:
                waiver = parse_iso(waiver_expiration_time).timestamp()
            except ValueError as exc:
                raise FeeModelError(f"fee_waiver_expiration_time: {exc}") from exc
        return cls(_fee_type(fee_type), _fee_number(multiplier, "fee_multiplier"), waiver)

    def rates(self, *, at: float) -> tuple[Decimal, Decimal]:  # unix seconds
        """(taker rate, maker rate) at time `at`."""
        if self.waiver_until is not None and at < self.waiver_until:
            return ZERO, ZERO
        taker, maker = _FEE_RATES[self.fee_type]
        return taker * self.multiplier, maker * self.multiplier

    def fee(self, count: Decimal, price: Decimal, *, taker: bool, at: float) -> Decimal:
        taker_rate, maker_rate = self.rates(at=at)
        return trading_fee(count, price, taker_rate if taker else maker_rate)


@dataclass(frozen=True)
class FeeCharge:
    """What one fill costs in fees, by Kalshi's fee-rounding page: the trade fee, a rounding fee
    that keeps the balance at its precision, and a whole-cent rebate from the order's
    accumulator. `net` is what the balance pays (and what the simulator reports as
    `fee_cost`; see docs/pnl.md for what is observed and what is assumed)."""

    trade_fee: Decimal
    rounding_fee: Decimal
    rebate: Decimal

    @property
    def net(self) -> Decimal:
        return self.trade_fee + self.rounding_fee - self.rebate


def charge_fill(
    revenue: Decimal,
    trade_fee: Decimal,
    carried: Decimal,
    precision: Decimal = FEE_QUANTUM,
) -> tuple[FeeCharge, Decimal]:
    """One fill of an order: `revenue` is its signed cash before fees (negative for a buyer),
    `carried` the order's accumulated rounding so far. The balance moves by
    floor(revenue - trade fee) to `precision` (a direct member's $0.0001); what the floor took
    is the rounding fee, added to the accumulator, and each whole cent the accumulator passes is
    refunded. The accumulator only ever holds rounding the order paid, so an order's total net
    fee is never negative; the fill that receives a rebate can have a negative net fee (the
    page says net fees are ">= $0.00" without saying per fill or per order: docs/pnl.md).
    Returns the charge and the new accumulator."""
    change = revenue - trade_fee
    rounding = change - change.quantize(precision, rounding=ROUND_FLOOR)
    carried += rounding
    rebate = ZERO
    while carried > CENT:
        rebate += CENT
        carried -= CENT
    return FeeCharge(trade_fee, rounding, rebate), carried
