"""A market and its price grid: the one shape of the exchange's that a read of the markets needs.

Split out of `models` (which re-exports every name here) so that `kalshi markets` and the
client's market calls import two response dataclasses, not the twelve of `models`: each frozen
dataclass has its methods generated from source at import, ~0.8 ms apiece on Python 3.11, paid
by every process that imports the module. `decimal_field` and `text_field` are the
tolerant field readers every response object of `models` uses too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kalshi_cli.units import ZERO, fmt_dollars, parse_decimal, parse_dollars, parse_optional_dollars

# --------------------------------------------------------------------------------------------
# Price grid


@dataclass(frozen=True)
class PriceRange:
    """A band of prices, from `start` to `end`, on which an order's price moves by `step`."""

    start: Decimal
    end: Decimal
    step: Decimal

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> PriceRange:
        return cls(
            parse_dollars(data["start"]), parse_dollars(data["end"]), parse_dollars(data["step"])
        )

    def to_api(self) -> dict[str, str]:
        return {
            "start": fmt_dollars(self.start),
            "end": fmt_dollars(self.end),
            "step": fmt_dollars(self.step),
        }


# The structures Kalshi documents; a market's own `price_ranges` always win when present.
PRICE_STRUCTURES: dict[str, tuple[PriceRange, ...]] = {
    "linear_cent": (PriceRange(Decimal("0.01"), Decimal("0.99"), Decimal("0.01")),),
    "deci_cent": (PriceRange(Decimal("0.001"), Decimal("0.999"), Decimal("0.001")),),
    "tapered_deci_cent": (
        PriceRange(Decimal("0.001"), Decimal("0.1"), Decimal("0.001")),
        PriceRange(Decimal("0.1"), Decimal("0.9"), Decimal("0.01")),
        PriceRange(Decimal("0.9"), Decimal("0.999"), Decimal("0.001")),
    ),
}


def price_on_grid(price: Decimal, ranges: tuple[PriceRange, ...] | list[PriceRange]) -> bool:
    """True when `price` is a valid tick: inside some range and a whole number of steps from
    its start. Range ends are inclusive (adjacent ranges share their boundary)."""
    return any(r.start <= price <= r.end and (price - r.start) % r.step == 0 for r in ranges)


def price_bounds(ranges: tuple[PriceRange, ...] | list[PriceRange]) -> tuple[Decimal, Decimal]:
    return min(r.start for r in ranges), max(r.end for r in ranges)


def min_tick(ranges: tuple[PriceRange, ...] | list[PriceRange]) -> Decimal:
    return min(r.step for r in ranges)


# --------------------------------------------------------------------------------------------
# Response objects (tolerant: unknown fields ignored, raw kept)


def decimal_field(data: dict[str, Any], key: str, default: Decimal = ZERO) -> Decimal:
    """`data[key]` as a Decimal; `default` when it is missing or empty."""
    value = data.get(key)
    return default if value is None or value == "" else parse_decimal(value, what=key)


def required_decimal(data: dict[str, Any], key: str) -> Decimal:
    """`data[key]` as a Decimal, for a field a safety decision rests on: missing, empty or
    garbled raises (KeyError, ValueError), never a default (an order's counts, a position)."""
    value = data.get(key)
    if value is None or value == "":
        raise KeyError(key)
    return parse_decimal(value, what=key)


def required_text(data: dict[str, Any], key: str) -> str:
    """`data[key]` as text, for a field a safety decision rests on (an order's status)."""
    value = data.get(key)
    if value is None or value == "":
        raise KeyError(key)
    return str(value)


def text_field(data: dict[str, Any], key: str, default: str = "") -> str:
    """`data[key]` as text; `default` when it is missing."""
    value = data.get(key)
    return default if value is None else str(value)


@dataclass(frozen=True)
class Market:
    """A market as the exchange lists it: prices and counts as Decimal, its price grid, and
    the answer it came from (`raw`)."""

    ticker: str
    event_ticker: str
    status: str
    title: str
    yes_sub_title: str
    yes_bid: Decimal
    yes_ask: Decimal
    no_bid: Decimal
    no_ask: Decimal
    last_price: Decimal
    volume: Decimal
    volume_24h: Decimal
    open_interest: Decimal
    open_time: str
    close_time: str
    latest_expiration_time: str
    result: str
    price_level_structure: str
    price_ranges: tuple[PriceRange, ...]
    rules_primary: str
    rules_secondary: str
    raw: dict[str, Any] = field(repr=False, compare=False)
    # 3.31.0: "default" (YES settles at $1.00 or $0.00) or "floor" (YES settles at
    # `settlement_floor` or above, so a NO result still pays YES the floor and NO the rest)
    settlement_bounds_type: str = "default"
    settlement_floor: Decimal | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Market:
        structure = text_field(data, "price_level_structure", "linear_cent")
        ranges_raw = data.get("price_ranges") or []
        ranges = tuple(PriceRange.from_api(r) for r in ranges_raw) or PRICE_STRUCTURES.get(
            structure, PRICE_STRUCTURES["linear_cent"]
        )
        return cls(
            ticker=text_field(data, "ticker"),
            event_ticker=text_field(data, "event_ticker"),
            status=text_field(data, "status"),
            title=text_field(data, "title") or text_field(data, "yes_sub_title"),
            yes_sub_title=text_field(data, "yes_sub_title"),
            yes_bid=decimal_field(data, "yes_bid_dollars"),
            yes_ask=decimal_field(data, "yes_ask_dollars"),
            no_bid=decimal_field(data, "no_bid_dollars"),
            no_ask=decimal_field(data, "no_ask_dollars"),
            last_price=decimal_field(data, "last_price_dollars"),
            volume=decimal_field(data, "volume_fp"),
            volume_24h=decimal_field(data, "volume_24h_fp"),
            open_interest=decimal_field(data, "open_interest_fp"),
            open_time=text_field(data, "open_time"),
            close_time=text_field(data, "close_time"),
            latest_expiration_time=text_field(data, "latest_expiration_time"),
            result=text_field(data, "result"),
            price_level_structure=structure,
            price_ranges=ranges,
            rules_primary=text_field(data, "rules_primary"),
            rules_secondary=text_field(data, "rules_secondary"),
            raw=data,
            settlement_bounds_type=text_field(data, "settlement_bounds_type", "default")
            or "default",
            settlement_floor=parse_optional_dollars(data.get("settlement_floor_dollars")),
        )

    @property
    def whole_contracts(self) -> bool | None:
        """True when the answer says the market trades whole contracts only, False when it
        says fractions are allowed, None when it does not say (3.31.0 dropped
        `fractional_trading_enabled` from the market; earlier answers carried it)."""
        flag = self.raw.get("fractional_trading_enabled")
        return None if not isinstance(flag, bool) else not flag

    @property
    def is_open(self) -> bool:
        # the list filter says `open`; the object says `active`
        return self.status in ("active", "open")
