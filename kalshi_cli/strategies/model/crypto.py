"""The built-in crypto fair-value model (`builtin:crypto`, and the `crypto` strategy): the
probability that a crypto market settles YES, from the reference index its rules name. It reads
only the snapshot (the market's strike fields and the index's recent values), has no opinion
with too few returns or outside its RSI filter, and refuses an index older than
`max_index_age_s` (`StaleIndex`).

The variance is the weighted mean of the squared returns the index history holds
(`reference_index.Volatility`), and the probability is Student's t around the settlement average
with as many degrees of freedom as the estimate is worth (`Volatility.dof`): a volatility read
from few returns can be far too low, and the t's tails keep the answer off 0 and 1, narrowing to
the normal's as returns grow. Below `min_returns` there is no answer. docs/models.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from kalshi_cli.strategies.crypto_fair import macd, rsi, twap
from kalshi_cli.strategy_api import IndexView, MarketSnapshot
from kalshi_cli.vocabulary.reference_index import (
    STRIKE_TYPES,
    WINDOW_S,
    Volatility,
    probability_yes,
)

VERSION = "crypto-1"
QUARTER_S = 900  # Kalshi's running settlement average is streamed before each quarter-hour
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
    dof: float  # the returns the volatility estimate is worth (`Volatility.dof`)


def crypto_fair(
    snapshot: MarketSnapshot, config: CryptoConfig, volatility: Volatility | None = None
) -> CryptoFair | None:
    """The model's answer, or None when it has no opinion (not a market of one settlement
    value, no index, too few values, filtered out); raises `StaleIndex` (module docstring).
    `volatility` is the index's running estimate (a fresh one reads the whole history)."""
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
    tracker = (volatility or Volatility(config.halflife_s)).update(index.history)
    if tracker.returns < config.min_returns:
        return None
    sigma = max(tracker.sigma, config.min_sigma)
    level = float(index.value)
    drift = 0.0
    if _reads_bars(config):
        bars = _bars(index.history, config.bar_s)
        value_rsi = rsi(bars, config.rsi_period)
        if value_rsi is not None and not config.rsi_low <= value_rsi <= config.rsi_high:
            return None
        drift += _bar_drift(bars, level, value_rsi, config)
    if config.vwap_weight and level > 0:
        since = index.ts - config.vwap_window_s
        average = twap([(t, float(v)) for t, v in index.history if t >= since])
        if average is not None:
            drift += config.vwap_weight * (level - average) / level
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
        dof=tracker.dof,
    )
    probability = Decimal(repr(min(max(p, 0.0), 1.0))).quantize(_PROBABILITY_STEP)
    return CryptoFair(probability, sigma, drift, to_close, tracker.dof)


def _reads_bars(config: CryptoConfig) -> bool:
    return bool(
        config.rsi_weight or config.macd_weight or config.rsi_low > 0 or config.rsi_high < 100
    )


def _bar_drift(
    bars: list[float], level: float, value_rsi: float | None, config: CryptoConfig
) -> float:
    drift = 0.0
    if config.rsi_weight and value_rsi is not None:
        drift += config.rsi_weight * (value_rsi - 50.0) / 50.0
    if config.macd_weight and level > 0:
        found = macd(bars, config.macd_fast, config.macd_slow, config.macd_signal)
        if found is not None:
            drift += config.macd_weight * found[2] / level
    return drift


def _bars(points: Sequence[tuple[float, Decimal]], bar_s: float) -> list[float]:
    """The last value of each `bar_s` bar, oldest first (a 5 Hz index and a 1 Hz one alike)."""
    out: list[float] = []
    last_bar: int | None = None
    for t, v in points:
        bar = int(t // bar_s)
        if bar == last_bar:
            out[-1] = float(v)
        else:
            out.append(float(v))
            last_bar = bar
    return out


def _observed(index: IndexView, close_ts: float) -> list[float]:
    """The window's values already printed (one a second: the last of each second), or
    Kalshi's running settlement average standing for them when it counts more."""
    start = close_ts - WINDOW_S
    seconds: dict[int, float] = {}
    for t, v in reversed(index.history):  # newest first: the window is at the end
        if t < start:
            break
        if t < close_ts:
            seconds.setdefault(int(t), float(v))  # the last value of each second
    # Kalshi's running average is that of the quarter-hour close less than a minute away: it
    # stands for this market's window only when that is the market's close
    ours = close_ts % QUARTER_S == 0 and 0 <= close_ts - index.ts < WINDOW_S
    if ours and index.settlement_avg is not None and index.settlement_count > len(seconds):
        return [float(index.settlement_avg)] * index.settlement_count
    return list(seconds.values())
