"""A candlestick chart in plain text, for `kalshi candles --chart`.

One column per candle (the latest that fit), price on the left axis. A candle that traded runs from
low to high (`│`) with its body solid (`█`) when it closed at or above its open, shaded (`░`) below;
a quiet one shows its closing mid (`·`). Characters only: it reads the same anywhere.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

from kalshi_cli.vocabulary.units import fmt_dollars

if TYPE_CHECKING:
    from kalshi_cli.client.markets import Candle

AXIS = 9  # "$0.5500 ┤"
UP = "█"  # closed at or above its open
DOWN = "░"  # closed below its open


def _point(c: Candle) -> tuple[Decimal, Decimal, Decimal, Decimal] | Decimal | None:
    """A candle's (low, high, open, close) when it traded, else its closing mid, else None."""
    p = c.price
    if p.low is not None and p.high is not None and p.open is not None and p.close is not None:
        return (p.low, p.high, p.open, p.close)
    if c.yes_bid.close is not None and c.yes_ask.close is not None:
        return (c.yes_bid.close + c.yes_ask.close) / 2
    return None


def candle_chart(candles: list[Candle], *, width: int = 80, height: int = 12) -> list[str]:
    shown = candles[-max(1, width - AXIS - 1) :]
    points = [_point(c) for c in shown]
    values = [
        v for pt in points if pt is not None for v in (pt if isinstance(pt, tuple) else (pt,))
    ]
    if not values:
        return ["(no prices in this range)"]
    low, high = min(values), max(values)
    span = high - low or Decimal("0.01")
    rows = max(2, height)

    def row_of(price: Decimal) -> int:
        scaled = (price - low) / span * (rows - 1)
        return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))

    grid = [[" "] * len(points) for _ in range(rows)]
    for x, pt in enumerate(points):
        if pt is None:
            continue
        if isinstance(pt, tuple):
            lo, hi, op, cl = pt
            for r in range(row_of(lo), row_of(hi) + 1):
                grid[r][x] = "│"
            body = sorted((row_of(op), row_of(cl)))
            for r in range(body[0], body[1] + 1):
                grid[r][x] = UP if cl >= op else DOWN
        else:
            grid[row_of(pt)][x] = "·"
    lines = []
    for r in range(rows - 1, -1, -1):
        price = low + span * r / (rows - 1)
        label = fmt_dollars(price.quantize(Decimal("0.0001"))) if r in (0, rows - 1) else ""
        lines.append(f"{label:>7} ┤{''.join(grid[r])}")
    lines.append(f"{'':>7}  {UP} up  {DOWN} down  · no trade (bid/ask mid)")
    return lines
