"""Kalshi's fixed-point money as integers, the one rule between the two: a price in ticks of
$0.0001 (all a `*_dollars` price can say) and a count in hundredths of a contract (all a `*_fp`
count can say). `Decimal` stays at every edge a person or the wire sees (the wire, the state
file, reports, logs, the strategy API); a hot path that holds integers converts here, at its
edges, and nowhere else. A value finer than its unit is refused, never rounded."""

from __future__ import annotations

from decimal import Decimal

PRICE_SCALE = 10_000  # ticks in a dollar
COUNT_SCALE = 100  # hundredths in a contract
_PRICE_EXP = -4
_COUNT_EXP = -2


def _scaled(value: Decimal, scale: int, unit: str) -> int:
    scaled = value * scale
    whole = int(scaled)
    if whole != scaled:
        raise ValueError(f"{value} is finer than {unit}")
    return whole


def to_ticks(price: Decimal) -> int:
    """A price as whole ticks of $0.0001; ValueError for a finer one."""
    return _scaled(price, PRICE_SCALE, "$0.0001")


def from_ticks(ticks: int) -> Decimal:
    """Whole ticks as the price in dollars, with the wire's four places."""
    return Decimal(ticks).scaleb(_PRICE_EXP)


def to_hundredths(count: Decimal) -> int:
    """A count as whole hundredths of a contract; ValueError for a finer one."""
    return _scaled(count, COUNT_SCALE, "a hundredth of a contract")


def from_hundredths(hundredths: int) -> Decimal:
    """Whole hundredths as the count in contracts, with the wire's two places."""
    return Decimal(hundredths).scaleb(_COUNT_EXP)
