"""The fair value of a crypto market from the reference index it settles on: the probability that
the settlement value (vocabulary.reference_index: the trimmed mean of the 60 one-second values
before the close) lands where the market pays YES, from the index level now, the time to the
close and a volatility estimated from the index's recent returns.

The model, stated so a trader can judge it:

- The index moves as a driftless Brownian motion in price over the minutes to an hourly close,
  with an instantaneous standard deviation of `spot x sigma` per square-root second (`sigma`:
  the per-second volatility of log returns, `ewma_volatility`). Over hours the normal and the
  lognormal differ by far less than a tick; a strategy with days to the close should not use it.
- The settlement averages a window, so its spread is smaller than the spot's at the close.
  More than 60 s out, the average of the window `[T-60, T)` has variance
  `sigma^2 S^2 ((T - 60) + 60 / 3)`. Inside the window, the seconds already printed are known:
  with `e` seconds observed (mean `m`) and `T` left, the average is `(e m + T F) / 60` where the
  future part `F` has mean `S` and variance `sigma^2 S^2 T / 3`. At or after the close, with every
  value known, the value is the exact trimmed mean.
- The trimming of the top and bottom 20% is not modelled before the close (it narrows the spread
  a little and removes spikes): the model's spread is a slight overestimate.
- `drift` (per second, as a fraction of the level) shifts the expected average, for a signal
  (RSI, MACD, a TWAP deviation) a trader believes in; zero by default.

Indicators of the index for such a signal are here too: `rsi` (Wilder's), `macd` (EMA 12/26 and
a signal EMA of 9) and `twap` (the index has no volume, so its volume-weighted average is the
time-weighted one). Everything is a float: these are statistics of a price path, never a price
sent to the exchange; the strategy turns a probability into a Decimal fair value on the tick grid.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

# the model itself lives beside the settlement rule, where the simulator's market makers price
# with it too (the simulator may not import strategies); its names stay importable from here
from kalshi_cli.vocabulary.reference_index import (
    ewma_volatility,
    probability_yes,
    settlement_distribution,
)

__all__ = [
    "ema",
    "ewma_volatility",
    "macd",
    "probability_yes",
    "rsi",
    "settlement_distribution",
    "twap",
]


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
