"""What a strategy sees of a market's terms and of the reference index it settles on.

`MarketTerms` are the market's own fields (openapi.yaml `Market`: `strike_type`, `floor_strike`,
`cap_strike`, the floor its YES settles at, the close and the index its rules name; never a
title). `IndexView` is that index at the snapshot's moment as Kalshi streams it: the latest value,
the trailing 60-second average, the running settlement average in the last minute before a
quarter-hour close, and the recent values oldest first. A backtest hands the one recorded at the
decision's time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from kalshi_cli.vocabulary.clock import parse_iso
from kalshi_cli.vocabulary.models import whole_contracts
from kalshi_cli.vocabulary.reference_index import index_for_market
from kalshi_cli.vocabulary.units import ZERO


@dataclass(frozen=True)
class IndexView:
    """A reference index at one moment. Times are unix seconds of the source (the index's own
    timestamp, not when it arrived); values are the index's, in USD."""

    index_id: str  # a CF Benchmarks index ID ("BRTI") or a Pyth underlying ticker
    ts: float
    value: Decimal
    # Kalshi's trailing average over [ts - 60 s, ts) and how many prior values it holds
    # (None: the channel carries none, e.g. the 5 Hz one before a 1 Hz value arrived)
    avg_60s: Decimal | None = None
    avg_60s_count: int = 0
    # the running settlement average of the quarter-hour close that is less than a minute
    # away, over (close - 60 s, ts], and its count (1 at :01 ... 60 at the close); None
    # outside that final minute
    settlement_avg: Decimal | None = None
    settlement_count: int = 0
    # (ts, value) of the recent values, oldest first, the latest included
    history: Sequence[tuple[float, Decimal]] = ()


@dataclass(frozen=True)
class MarketTerms:
    """How a market settles, from its fields."""

    strike_type: str = ""
    floor_strike: Decimal | None = None
    cap_strike: Decimal | None = None
    close_ts: float | None = None  # unix seconds
    index_id: str | None = None  # the reference index its rules name, when they name one
    whole_contracts: bool | None = None  # the answer's fractional flag (None: it says nothing)
    # what YES is paid at least, on a NO result too, where NO is paid the rest of $1
    # (`settlement_bounds_type` `floor`, 3.31.0): 0 where YES settles at $1 or $0, None where the
    # market says it has a floor but not which (counted at its worst: event_outcomes.EventLeg)
    settlement_floor: Decimal | None = ZERO

    @classmethod
    def from_market(cls, raw: Mapping[str, Any]) -> MarketTerms:
        """From a market's REST body (`GET /markets/{ticker}`)."""
        close = raw.get("close_time")
        close_ts: float | None = None
        if isinstance(close, str) and close:
            try:
                close_ts = parse_iso(close).timestamp()
            except ValueError:
                close_ts = None
        return cls(
            strike_type=str(raw.get("strike_type") or ""),
            floor_strike=_strike(raw.get("floor_strike")),
            cap_strike=_strike(raw.get("cap_strike")),
            close_ts=close_ts,
            index_id=index_for_market(raw),
            whole_contracts=whole_contracts(raw),
            settlement_floor=_settlement_floor(raw),
        )


def _settlement_floor(raw: Mapping[str, Any]) -> Decimal | None:
    if raw.get("settlement_bounds_type") != "floor":
        return ZERO
    try:
        return Decimal(str(raw["settlement_floor_dollars"]))
    except (KeyError, InvalidOperation):
        return None


def _strike(value: Any) -> Decimal | None:
    """A strike as JSON carries it (a number, or a text), exactly as written."""
    if value is None or isinstance(value, bool):
        return None
    try:
        strike = Decimal(str(value))
    except InvalidOperation:
        return None
    return strike if strike.is_finite() else None
