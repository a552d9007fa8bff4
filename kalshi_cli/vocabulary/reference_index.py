"""How a crypto market settles on the reference index Kalshi streams (the trimmed mean of its
one-second values in `[close - 60 s, close)`), shared by the simulator that settles and the model
that prices, so the two never disagree; the model's float functions are here too. docs/models.md
"`builtin:crypto`" and docs/simulator.md "Crypto markets".
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, SupportsFloat

WINDOW_S = 60
TRIM_SHARE = Decimal("0.2")

# the strike types whose outcome a single settlement value decides
STRIKE_TYPES = ("greater", "greater_or_equal", "less", "less_or_equal", "between")


# asyncapi.yaml `cfbenchmarks_value`, "Coins and index IDs"
CF_INDEX_IDS = (
    "AAVEUSD_RTI",
    "ADAUSD_RTI",
    "BCHUSD_RTI",
    "BNBUSD_RTI",
    "BRTI",
    "DOGEUSD_RTI",
    "DOTUSD_RTI",
    "ETHUSD_RTI",
    "HBARUSD_RTI",
    "HYPEUSD_RTI",
    "LINKUSD_RTI",
    "LTCUSD_RTI",
    "NEARUSD_RTI",
    "SHIBUSD_RTI",
    "SOLUSD_RTI",
    "SUIUSD_RTI",
    "VVVUSD_RTI",
    "WLDUSD_RTI",
    "XLMUSD_RTI",
    "XRPUSD_RTI",
    "ZECUSD_RTI",
)
# the indices the 5 Hz sibling channel carries (asyncapi.yaml `cfbenchmarks_value_5hz`)
FIVE_HZ_INDEX_IDS = frozenset({"BRTI", "ETHUSD_RTI", "SOLUSD_RTI", "XRPUSD_RTI", "DOGEUSD_RTI"})
_INDEX_WORD = re.compile(r"\b(" + "|".join(CF_INDEX_IDS) + r")\b")


def index_for_market(market: Mapping[str, Any]) -> str | None:
    """The CF Benchmarks index a market's rules name (module docstring); None when they name
    none."""
    for key in ("rules_primary", "rules_secondary"):
        text = market.get(key)
        if isinstance(text, str):
            found = _INDEX_WORD.search(text)
            if found is not None:
                return found.group(1)
    return None


class StrikeError(ValueError):
    """A market whose strike fields do not say how one value settles it."""


def window(close_ts: int) -> tuple[int, int]:
    """The seconds whose values count for a close at `close_ts`: `[start, end)`."""
    return close_ts - WINDOW_S, close_ts


def trimmed_count(n: int) -> int:
    """How many values are left out at each end of `n`."""
    return int(n * TRIM_SHARE)


def settlement_value(values: Sequence[Decimal]) -> Decimal:
    """The trimmed mean of the window's values (their order does not matter)."""
    if not values:
        raise ValueError("no index value in the settlement window")
    cut = trimmed_count(len(values))
    kept = sorted(values)[cut : len(values) - cut]
    return sum(kept, Decimal(0)) / len(kept)


def settles_yes(
    strike_type: str, floor_strike: Decimal | None, cap_strike: Decimal | None, value: Decimal
) -> bool:
    """Whether a market of these strike fields pays YES at this settlement value."""
    if strike_type in ("greater", "greater_or_equal"):
        if floor_strike is None:
            raise StrikeError(f"strike_type {strike_type} without a floor_strike")
        return value > floor_strike if strike_type == "greater" else value >= floor_strike
    if strike_type in ("less", "less_or_equal"):
        if cap_strike is None:
            raise StrikeError(f"strike_type {strike_type} without a cap_strike")
        return value < cap_strike if strike_type == "less" else value <= cap_strike
    if strike_type == "between":
        if floor_strike is None or cap_strike is None:
            raise StrikeError("strike_type between needs both floor_strike and cap_strike")
        return floor_strike <= value <= cap_strike
    raise StrikeError(f"strike_type {strike_type!r} is not settled by one value")


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


class Volatility:
    """The per-second volatility of an index's log returns, fed `(unix seconds, value)` points once
    each, in time order, and how much evidence it rests on.

    Each return is scaled to one second (`r2 = ln(v1 / v0)^2 / dt`) and weighted `w = 1 - exp(-ln 2
    x dt / halflife_s)`, earlier weights decaying by `exp(-ln 2 x dt / halflife_s)`; the variance is
    the weighted mean `sum(w r2) / sum(w)`, so its first value is the mean of the returns there are,
    not one seed carried for half-lives. `dof` is Satterthwaite's `sum(w)^2 / sum(w^2)`. `update`
    reads only the points after the last one it saw, with the same estimate as one fed the whole
    path."""

    def __init__(self, halflife_s: float) -> None:
        self.halflife_s = halflife_s
        self.last: tuple[float, float] | None = None
        self.returns = 0
        self._weight = 0.0
        self._weight_sq = 0.0
        self._weighted_r2 = 0.0

    def update(self, points: Sequence[tuple[float, SupportsFloat]]) -> Volatility:
        start = 0 if self.last is None else bisect_right(points, self.last[0], key=_time)
        rate = math.log(2.0) / self.halflife_s
        for t1, value in points[start:]:
            v1 = float(value)
            if self.last is not None:
                t0, v0 = self.last
                dt = t1 - t0
                if dt > 0 and v0 > 0 and v1 > 0:
                    keep = math.exp(-rate * dt)
                    w = -math.expm1(-rate * dt)
                    self._weight = keep * self._weight + w
                    self._weight_sq = keep * keep * self._weight_sq + w * w
                    self._weighted_r2 = keep * self._weighted_r2 + w * math.log(v1 / v0) ** 2 / dt
                    self.returns += 1
            self.last = (t1, v1)
        return self

    @property
    def sigma(self) -> float:
        """Per square-root second; 0.0 before the first return."""
        return math.sqrt(self._weighted_r2 / self._weight) if self._weight > 0 else 0.0

    @property
    def dof(self) -> float:
        """The returns the estimate is worth (the class docstring); 0.0 before the first."""
        return self._weight**2 / self._weight_sq if self._weight_sq > 0 else 0.0


def _time(point: tuple[float, SupportsFloat]) -> float:
    return point[0]


def ewma_volatility(
    points: Sequence[tuple[float, SupportsFloat]], *, halflife_s: float = 300.0
) -> float:
    """`Volatility` of `(unix seconds, value)` points, oldest first. 0.0 with fewer than two."""
    return Volatility(halflife_s).update(points).sigma


def student_t_cdf(x: float, dof: float) -> float:
    """P(T <= x) for Student's t with `dof` degrees of freedom (any real `dof` > 0), from the
    regularized incomplete beta function: `P(|T| > |x|) = I(dof / (dof + x^2); dof/2, 1/2)`.
    Past a million degrees of freedom the normal's, which it is then to nine places."""
    if dof >= 1e6:
        return _phi(x)
    tail = 0.5 * _beta_regularized(dof / 2.0, 0.5, dof / (dof + x * x))
    return 1.0 - tail if x > 0 else tail


def _beta_regularized(a: float, b: float, x: float) -> float:
    """I_x(a, b), by Lentz's evaluation of its continued fraction on the side where it
    converges fast (x below (a + 1) / (a + b + 2)), the other side by symmetry."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - _beta_regularized(b, a, 1.0 - x)
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 1000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * fraction / a


def settlement_distribution(
    spot: float,
    sigma: float,
    seconds_to_close: float,
    observed: Sequence[float] = (),
    *,
    drift: float = 0.0,
) -> tuple[float, float]:
    """(mean, standard deviation) of the settlement average, as the module docstring states.
    `observed` are the window's values already printed (only read inside the window)."""
    t = max(0.0, seconds_to_close)
    if t >= WINDOW_S:
        mean = spot * (1.0 + drift * (t - WINDOW_S / 2))
        return mean, spot * sigma * math.sqrt((t - WINDOW_S) + WINDOW_S / 3)
    elapsed = WINDOW_S - t
    known = sum(observed) / len(observed) if observed else spot
    future = spot * (1.0 + drift * t / 2)
    mean = (elapsed * known + t * future) / WINDOW_S
    return mean, (t / WINDOW_S) * spot * sigma * math.sqrt(t / 3)


def probability_yes(
    strike_type: str,
    floor_strike: Decimal | None,
    cap_strike: Decimal | None,
    *,
    spot: float,
    sigma: float,
    seconds_to_close: float,
    observed: Sequence[float] = (),
    drift: float = 0.0,
    dof: float | None = None,
) -> float:
    """The probability that the market pays YES: the settlement average is normal around its mean
    when `sigma` is known, Student's t with `dof` degrees of freedom when `sigma` is an estimate
    (`Volatility.dof`). With no spread left it is 0.0 or 1.0 by the settlement rule; at the close
    with the whole window printed, the exact trimmed mean decides."""
    if seconds_to_close <= 0 and len(observed) >= WINDOW_S:
        value = settlement_value([Decimal(repr(v)) for v in observed])
        return 1.0 if settles_yes(strike_type, floor_strike, cap_strike, value) else 0.0
    mean, sd = settlement_distribution(spot, sigma, seconds_to_close, observed, drift=drift)
    if sd <= 0.0:
        value = Decimal(repr(mean))
        return 1.0 if settles_yes(strike_type, floor_strike, cap_strike, value) else 0.0

    def below(x: Decimal) -> float:
        z = (float(x) - mean) / sd
        return _phi(z) if dof is None else student_t_cdf(z, dof)

    if strike_type in ("greater", "greater_or_equal") and floor_strike is not None:
        return 1.0 - below(floor_strike)
    if strike_type in ("less", "less_or_equal") and cap_strike is not None:
        return below(cap_strike)
    if strike_type == "between" and floor_strike is not None and cap_strike is not None:
        return max(0.0, below(cap_strike) - below(floor_strike))
    # the rule itself names what is missing
    settles_yes(strike_type, floor_strike, cap_strike, Decimal(repr(mean)))
    raise AssertionError("unreachable: settles_yes refuses what is not priced above")
