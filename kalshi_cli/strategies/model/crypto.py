"""The built-in crypto fair-value model (`builtin:crypto`, and the `crypto` strategy): the
probability that a crypto market settles YES, from the reference index its rules name.

It reads only the snapshot: the market's terms (`strike_type`, `floor_strike`, `cap_strike`
and `close_time`, its fields, never its title) and the index (`snapshot.index`, its recent
values). The probability is `crypto_fair.probability_yes` (docs/models.md, "The crypto model"):

- `sigma` is `crypto_fair.ewma_volatility` of the index's recent values: the per-second
  volatility of log returns, each return scaled to one second, weighted by an exponential decay
  in time with the half-life `halflife_s`. With fewer than `min_returns` returns there is no
  opinion (None): a volatility of two points is noise. `min_sigma` is a floor under it.
- The settlement window is taken into account: more than 60 s before the close the average's
  spread is narrower than the spot's; inside the window the values already printed are known
  and only the rest is uncertain (`settlement_distribution`). The printed values are the
  index's own in `[close - 60 s, now]`; when the feed holds fewer of them than Kalshi's running
  settlement average counts (a feed started inside the window), that average stands for them.
- An optional drift, a fraction of the level per second, adds signals a trader believes in:
  `rsi_weight x (RSI - 50) / 50`, `macd_weight x histogram / level` and
  `vwap_weight x (level - VWAP) / level`, each on bars of `bar_s` seconds (the last value of
  each bar). The index has no volume, so its VWAP is the time-weighted average over
  `vwap_window_s` (`crypto_fair.twap`). All weights are 0 by default: no drift.
- An optional filter: with `rsi_low` < RSI < `rsi_high` not holding, no opinion.
- An index older than `max_index_age_s` at the snapshot is refused (`StaleIndex`): a model is
  never traded on a value that may have moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from kalshi_cli.reference_index import STRIKE_TYPES, WINDOW_S
from kalshi_cli.strategies.crypto_fair import (
    ewma_volatility,
    macd,
    probability_yes,
    rsi,
    twap,
)
from kalshi_cli.strategy_api import IndexView, MarketSnapshot

VERSION = "crypto-1"
_PROBABILITY_STEP = Decimal("0.0001")


class StaleIndex(ValueError):
    """The index's latest value is too old to price on."""


@dataclass(frozen=True)
class CryptoConfig:
    halflife_s: float = 300.0
    min_returns: int = 30
    min_sigma: float = 0.0
    max_index_age_s: float = 10.0
    bar_s: float = 1.0
    rsi_period: int = 14
    rsi_weight: float = 0.0
    rsi_low: float = 0.0
    rsi_high: float = 100.0
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    macd_weight: float = 0.0
    vwap_window_s: float = 300.0
    vwap_weight: float = 0.0


@dataclass(frozen=True)
class CryptoFair:
    probability: Decimal  # that the market settles YES, on a grid of 0.0001
    sigma: float
    drift: float
    seconds_to_close: float


def crypto_fair(snapshot: MarketSnapshot, config: CryptoConfig) -> CryptoFair | None:
    """The model's answer, or None when it has no opinion (not a market of one settlement
    value, no index, too few values, filtered out); raises `StaleIndex` (module docstring)."""
    terms, index = snapshot.terms, snapshot.index
    if terms is None or terms.strike_type not in STRIKE_TYPES or terms.close_ts is None:
        return None
    if index is None or not index.history:
        return None
    age = snapshot.ts - index.ts
    if age > config.max_index_age_s:
        raise StaleIndex(
            f"the index {index.index_id} is {age:.1f} s old "
            f"(max_index_age_s {config.max_index_age_s:g})"
        )
    points = [(t, float(v)) for t, v in index.history]
    if len(points) - 1 < config.min_returns:
        return None
    sigma = max(ewma_volatility(points, halflife_s=config.halflife_s), config.min_sigma)
    bars = _bars(points, config.bar_s)
    level = float(index.value)
    value_rsi = rsi(bars, config.rsi_period)
    if value_rsi is not None and not config.rsi_low <= value_rsi <= config.rsi_high:
        return None
    drift = _drift(points, bars, level, value_rsi, config)
    to_close = terms.close_ts - snapshot.ts
    p = probability_yes(
        terms.strike_type,
        terms.floor_strike,
        terms.cap_strike,
        spot=level,
        sigma=sigma,
        seconds_to_close=to_close,
        observed=_observed(index, terms.close_ts),
        drift=drift,
    )
    probability = Decimal(repr(min(max(p, 0.0), 1.0))).quantize(_PROBABILITY_STEP)
    return CryptoFair(probability, sigma, drift, to_close)


def _drift(
    points: list[tuple[float, float]],
    bars: list[float],
    level: float,
    value_rsi: float | None,
    config: CryptoConfig,
) -> float:
    drift = 0.0
    if config.rsi_weight and value_rsi is not None:
        drift += config.rsi_weight * (value_rsi - 50.0) / 50.0
    if config.macd_weight and level > 0:
        found = macd(bars, config.macd_fast, config.macd_slow, config.macd_signal)
        if found is not None:
            drift += config.macd_weight * found[2] / level
    if config.vwap_weight and level > 0:
        since = points[-1][0] - config.vwap_window_s
        average = twap([p for p in points if p[0] >= since])
        if average is not None:
            drift += config.vwap_weight * (level - average) / level
    return drift


def _bars(points: list[tuple[float, float]], bar_s: float) -> list[float]:
    """The last value of each `bar_s` bar, oldest first (a 5 Hz index and a 1 Hz one alike)."""
    out: list[float] = []
    last_bar: int | None = None
    for t, v in points:
        bar = int(t // bar_s)
        if bar == last_bar:
            out[-1] = v
        else:
            out.append(v)
            last_bar = bar
    return out


def _observed(index: IndexView, close_ts: float) -> list[float]:
    """The window's values already printed (one a second: the last of each second), or
    Kalshi's running settlement average standing for them when it counts more."""
    start = close_ts - WINDOW_S
    seconds: dict[int, float] = {}
    for t, v in index.history:
        if start <= t < close_ts:
            seconds[int(t)] = float(v)
    if index.settlement_avg is not None and index.settlement_count > len(seconds):
        return [float(index.settlement_avg)] * index.settlement_count
    return list(seconds.values())
