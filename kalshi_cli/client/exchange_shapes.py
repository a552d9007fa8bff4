"""The exchange's schedule and candlesticks as `client/exchange.py` returns them (`Candle`,
`Ohlc`, `ExchangeSchedule`, `MaintenanceWindow`), re-exported by that module and loaded on
first use, so a client that never asks for them does not generate their dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from kalshi_cli.client.base import as_dict
from kalshi_cli.clock import parse_iso
from kalshi_cli.units import parse_count, parse_optional_dollars


@dataclass(frozen=True)
class Ohlc:
    open: Decimal | None
    low: Decimal | None
    high: Decimal | None
    close: Decimal | None

    @classmethod
    def from_api(cls, data: dict[str, Any] | None) -> Ohlc:
        data = data or {}
        return cls(
            parse_optional_dollars(data.get("open_dollars")),
            parse_optional_dollars(data.get("low_dollars")),
            parse_optional_dollars(data.get("high_dollars")),
            parse_optional_dollars(data.get("close_dollars")),
        )


@dataclass(frozen=True)
class Candle:
    """One `MarketCandlestick`: the period ending at `end_ts` (inclusive, Unix seconds)."""

    end_ts: int
    yes_bid: Ohlc
    yes_ask: Ohlc
    price: Ohlc  # traded YES price; all None when nothing traded
    previous_price: Decimal | None
    volume: Decimal
    open_interest: Decimal
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Candle:
        price = data.get("price") or {}
        return cls(
            end_ts=int(data["end_period_ts"]),
            yes_bid=Ohlc.from_api(data.get("yes_bid")),
            yes_ask=Ohlc.from_api(data.get("yes_ask")),
            price=Ohlc.from_api(price),
            previous_price=parse_optional_dollars(price.get("previous_dollars")),
            volume=parse_count(data.get("volume_fp", "0")),
            open_interest=parse_count(data.get("open_interest_fp", "0")),
            raw=data,
        )


@dataclass(frozen=True)
class MaintenanceWindow:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ExchangeSchedule:
    """`GET /exchange/schedule`: the weekly standard hours (as sent, times in ET) and the
    maintenance windows, by start."""

    standard_hours: list[dict[str, Any]]
    maintenance_windows: list[MaintenanceWindow]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ExchangeSchedule:
        schedule = data["schedule"]
        windows = [
            MaintenanceWindow(parse_iso(w["start_datetime"]), parse_iso(w["end_datetime"]))
            for w in schedule.get("maintenance_windows") or []
        ]
        return cls(
            [as_dict(h) for h in schedule.get("standard_hours") or []],
            sorted(windows, key=lambda w: w.start),
            data,
        )
