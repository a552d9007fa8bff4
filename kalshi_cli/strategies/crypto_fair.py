"""The index indicators a crypto model reads (`rsi`, `macd`, `twap`). Floats: statistics of a
price path, never a price sent. The fair value itself (the probability that the settlement value,
the trimmed mean of the 60 one-second values before the close, lands where the market pays YES)
lives beside the settlement rule in vocabulary/reference_index.py, where the simulator's market
makers price with it too (the simulator may not import strategies). docs/models.md
"`builtin:crypto`".
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

# ---------------------------------------------------------------------------------------------
# Indicators of the index, for a drift or a filter


def rsi(values: Sequence[float], period: int = 14) -> float | None:
    """Wilder's relative strength index of the last value, 0-100; None with too few values."""
    if len(values) <= period:
        return None
    changes = [b - a for a, b in itertools.pairwise(values)]
    gain = sum(max(c, 0.0) for c in changes[:period]) / period
    loss = sum(max(-c, 0.0) for c in changes[:period]) / period
    for c in changes[period:]:
        gain = (gain * (period - 1) + max(c, 0.0)) / period
        loss = (loss * (period - 1) + max(-c, 0.0)) / period
    if loss == 0.0:
        return 100.0 if gain > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


def ema(values: Sequence[float], span: int) -> list[float]:
    """The exponential moving average with `alpha = 2 / (span + 1)`, seeded with the first."""
    alpha = 2.0 / (span + 1)
    out: list[float] = []
    for v in values:
        out.append(v if not out else alpha * v + (1.0 - alpha) * out[-1])
    return out


def macd(
    values: Sequence[float], fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[float, float, float] | None:
    """(MACD line, signal line, histogram) at the last value; None with fewer than `slow`."""
    if len(values) < slow:
        return None
    line = [f - s for f, s in zip(ema(values, fast), ema(values, slow), strict=True)]
    sig = ema(line, signal)
    return line[-1], sig[-1], line[-1] - sig[-1]


def twap(points: Sequence[tuple[float, float]]) -> float | None:
    """The time-weighted average of `(unix seconds, value)` points, each value held until the
    next point; None with fewer than two points."""
    total = weight = 0.0
    for (t0, v0), (t1, _) in itertools.pairwise(points):
        dt = t1 - t0
        if dt > 0:
            total += v0 * dt
            weight += dt
    return total / weight if weight > 0 else None
