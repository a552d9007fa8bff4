"""The statistics of a backtest, as pure functions. Returns are per day or per closed round trip,
never annualized; Sharpe, Sortino, the probabilistic and deflated Sharpe, bootstrap intervals and
calibration are null with a reason when the sample is too small. Money stays `Decimal`.
docs/backtesting.md "Statistics".
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.units import ZERO

MIN_DAYS = 3  # a run shorter than this has per-trade returns
MIN_RETURNS = 20  # fewer returns give no Sharpe: its error would be as large as itself
MIN_TRIPS = 2  # fewer closed round trips give no interval
MIN_SETTLED = 10  # fewer settled markets: calibration is shown but said to be too small
RESAMPLES = 2000
LEVEL = 0.95
SEED = 0
EULER_GAMMA = 0.5772156649015329
_NORMAL = statistics.NormalDist()


@dataclass(frozen=True)
class Figure:
    """A statistic, or null with the reason it is not given."""

    value: float | None  # a ratio, not money
    reason: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"value": self.value, "reason": self.reason}


# ------------------------------------------------------------------------- returns


def daily_equity(curve: Sequence[tuple[float, Decimal]]) -> list[tuple[str, Decimal]]:
    """The last equity of each UTC day the curve has a sample in, in order."""
    days: dict[str, Decimal] = {}
    for ts, equity in curve:
        days[utc_day(ts)] = equity
    return list(days.items())


def daily_returns(curve: Sequence[tuple[float, Decimal]], start: Decimal) -> list[float]:
    """Each day's change of equity over the day before's close (the first day's over `start`)."""
    out: list[float] = []  # returns
    before = start
    for _, equity in daily_equity(curve):
        if before > 0:
            out.append(float((equity - before) / before))  # a return
        before = equity
    return out


def trade_returns(pnls: Sequence[Decimal], start: Decimal) -> list[float]:
    """Each closed round trip's P&L as a share of the starting balance."""
    if start <= 0:
        return []
    return [float(p / start) for p in pnls]  # returns


def span_days(first: float, last: float) -> float:  # unix seconds -> days
    return max(last - first, 0.0) / 86_400


# ------------------------------------------------------------------------- ratios


def moments(returns: Sequence[float]) -> tuple[float, float, float, float]:
    """Mean, sample standard deviation, skewness and (non-excess) kurtosis; a normal
    distribution has skewness 0 and kurtosis 3. Zero variance gives skewness 0, kurtosis 3."""
    n = len(returns)
    mean = math.fsum(returns) / n
    sd = statistics.stdev(returns) if n > 1 else 0.0
    pop = math.sqrt(math.fsum((r - mean) ** 2 for r in returns) / n)
    if pop <= _TINY * max(1.0, abs(mean)):
        return mean, sd, 0.0, 3.0
    skew = math.fsum(((r - mean) / pop) ** 3 for r in returns) / n
    kurt = math.fsum(((r - mean) / pop) ** 4 for r in returns) / n
    return mean, sd, skew, kurt


_TINY = 1e-12  # relative spread below which a series is constant (rounding noise)


def _enough(returns: Sequence[float], unit: str) -> str | None:
    if len(returns) < MIN_RETURNS:
        return f"{len(returns)} {unit} returns; at least {MIN_RETURNS} are needed"
    mean, sd, _, _ = moments(returns)
    if sd <= _TINY * max(1.0, abs(mean)):
        return f"the {unit} returns do not vary"
    return None


def sharpe(returns: Sequence[float], unit: str = "daily") -> Figure:
    """Mean over sample standard deviation, per period (not annualized)."""
    why = _enough(returns, unit)
    if why:
        return Figure(None, why)
    mean, sd, _, _ = moments(returns)
    return Figure(mean / sd)


def sortino(returns: Sequence[float], unit: str = "daily") -> Figure:
    """Mean over the downside deviation (root mean square of the shortfalls below zero)."""
    why = _enough(returns, unit)
    if why:
        return Figure(None, why)
    down = math.sqrt(math.fsum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    if down == 0:
        return Figure(None, f"no {unit} return was a loss")
    return Figure(math.fsum(returns) / len(returns) / down)


def probabilistic_sharpe(
    sr: float,  # the observed per-period Sharpe
    n: int,
    skew: float,
    kurtosis: float,  # non-excess (normal: 3)
    benchmark: float = 0.0,  # the Sharpe to beat, per period
) -> float:  # a probability
    """P(true Sharpe > benchmark): Φ((SR - SR*) √(n-1) / √(1 - γ₃ SR + (γ₄ - 1)/4 SR²))."""
    if n < 2:
        raise ValueError("the probabilistic Sharpe ratio needs at least two returns")
    var = 1 - skew * sr + (kurtosis - 1) / 4 * sr * sr
    if var <= 0:
        # the moments of a tiny or degenerate sample; the normal case (skew 0, kurtosis 3)
        var = 1 + sr * sr / 2
    return _NORMAL.cdf((sr - benchmark) * math.sqrt(n - 1) / math.sqrt(var))


def expected_max_sharpe(trials: int, variance: float) -> float:
    """The Sharpe the best of `trials` independent unskilled tries reaches by luck, when their
    Sharpe ratios vary by `variance` (False Strategy theorem)."""
    if trials < 1:
        raise ValueError("trials must be at least 1")
    if trials == 1 or variance <= 0:
        return 0.0
    first = _NORMAL.inv_cdf(1 - 1 / trials)
    second = _NORMAL.inv_cdf(1 - 1 / (trials * math.e))
    return math.sqrt(variance) * ((1 - EULER_GAMMA) * first + EULER_GAMMA * second)


def deflated_sharpe(
    sr: float,
    n: int,
    skew: float,
    kurtosis: float,
    *,
    trials: int,
    variance: float,  # of the Sharpe ratios over the trials
) -> float:  # a probability
    """The probabilistic Sharpe ratio against `expected_max_sharpe(trials, variance)`."""
    return probabilistic_sharpe(sr, n, skew, kurtosis, expected_max_sharpe(trials, variance))


def deflate(blocks: Sequence[Mapping[str, Any] | None]) -> list[Figure]:
    """Each sweep run's deflated Sharpe ratio, from the runs' `statistics` blocks: the trials
    are every run of the sweep, the variance that of the Sharpe ratios the runs have."""
    ratios = [b["sharpe"]["value"] for b in blocks if b and b["sharpe"]["value"] is not None]
    variance = statistics.variance(ratios) if len(ratios) > 1 else 0.0
    out = []
    for b in blocks:
        if not b:
            out.append(Figure(None, "the run's report has no statistics"))
            continue
        sr, r = b["sharpe"]["value"], b["returns"]
        if sr is None:
            out.append(Figure(None, b["sharpe"]["reason"]))
            continue
        value = deflated_sharpe(
            sr, r["count"], r["skew"], r["kurtosis"], trials=len(blocks), variance=variance
        )
        out.append(Figure(value))
    return out


# ------------------------------------------------------------------------- the bootstrap


@dataclass(frozen=True)
class Interval:
    low: Decimal | None
    high: Decimal | None
    reason: str | None = None
    level: float = LEVEL  # a probability
    resamples: int = RESAMPLES
    seed: int = SEED

    def to_json(self) -> dict[str, object]:
        return {
            "low": None if self.low is None else str(self.low),
            "high": None if self.high is None else str(self.high),
            "level": self.level,
            "resamples": self.resamples,
            "seed": self.seed,
            "reason": self.reason,
        }

    def includes_zero(self) -> bool:
        return self.low is not None and self.high is not None and self.low <= 0 <= self.high


def bootstrap(
    items: Sequence[tuple[Decimal, Decimal]],
    statistic: Callable[[Sequence[tuple[Decimal, Decimal]]], Decimal | None],
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> Interval:
    """The percentile interval of `statistic` over resamples (with replacement) of `items`,
    from `random.Random(seed)`: the same items and seed give the same interval."""
    if len(items) < MIN_TRIPS:
        return _too_few(len(items), level, resamples, seed)
    values = [statistic([items[i] for i in draw]) for draw in _draws(len(items), resamples, seed)]
    return _percentiles(values, level, resamples, seed)


def pnl_intervals(
    trips: Sequence[tuple[Decimal, Decimal]],
    rest: Decimal,
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> tuple[Interval, Interval]:
    """`bootstrap` of the net P&L (`rest` plus the trips' `total_pnl`) and of the `expectancy`,
    equal to theirs to the digit, from one set of draws and in integers: a report of a few
    thousand round trips drew and summed them twice, as Decimals (a tenth of a short run).
    Each resample's net keeps the exponent the Decimal sum would have (its fewest decimals),
    so the interval reads the same too."""
    if len(trips) < MIN_TRIPS:
        too_few = _too_few(len(trips), level, resamples, seed)
        return too_few, too_few
    places = -min(0, *(int(d.as_tuple().exponent) for trip in trips for d in trip))
    pnl = [int(p.scaleb(places)) for p, _ in trips]
    contracts = [int(c.scaleb(places)) for _, c in trips]
    exponent = [min(0, int(p.as_tuple().exponent)) for p, _ in trips]
    nets: list[Decimal | None] = []
    expectancies: list[Decimal | None] = []
    for draw in _draws(len(trips), resamples, seed):
        total = Decimal(sum(map(pnl.__getitem__, draw))).scaleb(-places)
        total = total.quantize(Decimal(1).scaleb(min(map(exponent.__getitem__, draw))))
        nets.append(rest + total)
        held = Decimal(sum(map(contracts.__getitem__, draw))).scaleb(-places)
        expectancies.append((total / held).quantize(MONEY) if held else None)
    return (
        _percentiles(nets, level, resamples, seed),
        _percentiles(expectancies, level, resamples, seed),
    )


def _draws(n: int, resamples: int, seed: int) -> Iterator[list[int]]:
    """The positions each resample takes, from `random.Random(seed)`."""
    rng = random.Random(seed)
    for _ in range(resamples):
        yield [rng.randrange(n) for _ in range(n)]


def _percentiles(
    found: Sequence[Decimal | None], level: float, resamples: int, seed: int
) -> Interval:
    values = sorted(v for v in found if v is not None)
    tail = (1 - level) / 2
    lo = values[min(len(values) - 1, math.floor(tail * len(values)))]
    hi = values[min(len(values) - 1, math.ceil((1 - tail) * len(values)) - 1)]
    return Interval(lo, hi, None, level, resamples, seed)


def _too_few(trips: int, level: float, resamples: int, seed: int) -> Interval:
    reason = f"{trips} closed round trips; at least {MIN_TRIPS} are needed"
    return Interval(None, None, reason, level, resamples, seed)


def total_pnl(trips: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    """Items are (P&L, contracts) of closed round trips."""
    return sum((p for p, _ in trips), ZERO)


def expectancy(trips: Sequence[tuple[Decimal, Decimal]]) -> Decimal | None:
    contracts = sum((c for _, c in trips), ZERO)
    return None if not contracts else (total_pnl(trips) / contracts).quantize(MONEY)


MONEY = Decimal("0.0001")


# ------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Calibration:
    brier: float | None  # a score
    forecasts: int
    markets: int
    bins: list[dict[str, object]]
    reason: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "brier": self.brier,
            "forecasts": self.forecasts,
            "markets": self.markets,
            "bins": self.bins,
            "reason": self.reason,
        }


def calibration(forecasts: Iterable[tuple[str, Decimal, bool]], *, bins: int = 10) -> Calibration:
    """Forecasts are (market, stated probability of the side, did the side settle): the Brier
    score (mean squared error, 0 is perfect, 0.25 a coin) and `bins` equal bins of the
    probability with their mean forecast and the share that settled. They are counted as they
    come, each distinct one once: a quoting strategy states a fair value with every order, and
    what is held grows with the distinct prices, not with the run's length."""
    counted = Counter(forecasts)
    if not counted:
        return Calibration(None, 0, 0, [], "no fair value stated on a market that settled")
    total = sum(counted.values())
    markets = len({m for m, _, _ in counted})
    errors = (
        error
        for (_, p, won), times in counted.items()
        for error in itertools.repeat((float(p) - (1.0 if won else 0.0)) ** 2, times)
    )
    brier = math.fsum(errors) / total  # exact whatever the order: as over the forecasts one by one
    table: list[dict[str, object]] = []
    for b in range(bins):
        lo, hi = Decimal(b) / bins, Decimal(b + 1) / bins
        last = b == bins - 1  # the last bin holds 1 itself
        inside = [
            (p, won, times)
            for (_, p, won), times in counted.items()
            if lo <= p < hi or (last and p == hi)
        ]
        if not inside:
            continue
        count = sum(times for _, _, times in inside)
        table.append(
            {
                "from": str(lo),
                "to": str(hi),
                "forecasts": count,
                "mean_fair": float(sum((p * times for p, _, times in inside), ZERO) / count),
                "settled_share": sum(times for _, won, times in inside if won) / count,
            }
        )
    reason = None
    if markets < MIN_SETTLED:
        reason = (
            f"{markets} settled markets; at least {MIN_SETTLED} are needed to judge calibration "
            "(forecasts on one market are not independent)"
        )
    return Calibration(brier, total, markets, table, reason)


# ------------------------------------------------------------------------- the report's block


def analyse(
    curve: Sequence[tuple[float, Decimal]],  # (unix seconds, equity)
    start: Decimal,
    trips: Sequence[tuple[Decimal, Decimal]],
    net: Decimal,
    forecasts: Iterable[tuple[str, Decimal, bool]],
    *,
    seed: int = SEED,
) -> dict[str, Any]:
    """The report's `statistics`: returns and their ratios, the P&L intervals, calibration, and
    in words what the sample can and cannot say. `trips` are the closed round trips' (P&L,
    contracts); `net` the run's net P&L (what is not in a closed trip stays as it is in every
    resample)."""
    days = span_days(curve[0][0], curve[-1][0]) if curve else 0.0
    if days >= MIN_DAYS:
        basis, unit, returns = "day", "daily", daily_returns(curve, start)
    else:
        basis, unit, returns = "trade", "per-trade", trade_returns([p for p, _ in trips], start)
    sr, so = sharpe(returns, unit), sortino(returns, unit)
    psr = Figure(None, sr.reason)
    block_returns: dict[str, object] = {"basis": basis, "count": len(returns), "span_days": days}
    if returns:
        mean, sd, skew, kurt = moments(returns)
        block_returns |= {"mean": mean, "stdev": sd, "skew": skew, "kurtosis": kurt}
        if sr.value is not None:
            psr = Figure(probabilistic_sharpe(sr.value, len(returns), skew, kurt))
    else:
        block_returns |= {"mean": None, "stdev": None, "skew": None, "kurtosis": None}
    rest = net - total_pnl(trips)
    net_ci, exp_ci = pnl_intervals(trips, rest, seed=seed)
    cal = calibration(forecasts)
    notes = verdict(len(trips), basis=basis, sr=sr, net_ci=net_ci, cal=cal)
    return {
        "returns": block_returns,
        "sharpe": sr.to_json(),
        "sortino": so.to_json(),
        "probabilistic_sharpe": psr.to_json(),
        "net_interval": net_ci.to_json(),
        "expectancy_interval": exp_ci.to_json(),
        "calibration": cal.to_json(),
        "conclusive": not any(n.startswith("too few") or "includes zero" in n for n in notes)
        and sr.value is not None,
        "notes": notes,
    }


def verdict(
    trips: int,
    *,
    basis: str,
    sr: Figure,
    net_ci: Interval,
    cal: Calibration,
) -> list[str]:
    """What a trader should read before any figure, in words."""
    notes = []
    if trips == 0:
        notes.append("too few trades to conclude anything: no round trip closed")
    elif sr.value is None:
        per = "days" if basis == "day" else "closed round trips"
        notes.append(f"too few {per} to conclude anything: {sr.reason}")
    if net_ci.includes_zero():
        notes.append(
            f"the net P&L's {net_ci.level:.0%} interval [{net_ci.low}, {net_ci.high}] includes "
            "zero: this run does not show that the strategy makes money"
        )
    if cal.reason and cal.forecasts:
        notes.append(f"calibration: {cal.reason}")
    return notes


__all__ = [
    "Calibration",
    "Figure",
    "Interval",
    "analyse",
    "bootstrap",
    "calibration",
    "daily_returns",
    "deflate",
    "deflated_sharpe",
    "expectancy",
    "expected_max_sharpe",
    "moments",
    "pnl_intervals",
    "probabilistic_sharpe",
    "sharpe",
    "sortino",
    "total_pnl",
    "trade_returns",
]
