"""How a crypto market settles on the reference index Kalshi streams (the trimmed mean of the
index's one-second values in `[close - 60 s, close)`, YES read from the market's strike fields,
the index from its rules text), shared by the simulator that settles such markets and the
fair-value model that prices them, so the two can never disagree on the rule; the model's pure
float functions are here too. See docs/models.md "`builtin:crypto`: the crypto model shipped
with the package" and docs/simulator.md "Crypto markets".
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

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


def ewma_volatility(points: Sequence[tuple[float, float]], *, halflife_s: float = 300.0) -> float:
    """The per-second volatility of log returns of `(unix seconds, value)` points, oldest
    first, each return scaled to one second (`ln(v1 / v0) / sqrt(dt)`) and weighted by an
    exponential decay in time with this half-life. 0.0 with fewer than two points."""
    var: float | None = None
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        dt = t1 - t0
        if dt <= 0 or v0 <= 0 or v1 <= 0:
            continue
        r2 = math.log(v1 / v0) ** 2 / dt
        alpha = 1.0 - math.exp(-math.log(2.0) * dt / halflife_s)
        var = r2 if var is None else (1.0 - alpha) * var + alpha * r2
    return math.sqrt(var) if var is not None else 0.0


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
) -> float:
    """The probability that the market pays YES. With no spread left (zero volatility, or the
    close reached) it is 0.0 or 1.0 by the settlement rule itself; at the close with the whole
    window printed, the exact trimmed mean decides."""
    if seconds_to_close <= 0 and len(observed) >= WINDOW_S:
        value = settlement_value([Decimal(repr(v)) for v in observed])
        return 1.0 if settles_yes(strike_type, floor_strike, cap_strike, value) else 0.0
    mean, sd = settlement_distribution(spot, sigma, seconds_to_close, observed, drift=drift)
    if sd <= 0.0:
        value = Decimal(repr(mean))
        return 1.0 if settles_yes(strike_type, floor_strike, cap_strike, value) else 0.0

    def below(x: Decimal) -> float:
        return _phi((float(x) - mean) / sd)

    if strike_type in ("greater", "greater_or_equal") and floor_strike is not None:
        return 1.0 - below(floor_strike)
    if strike_type in ("less", "less_or_equal") and cap_strike is not None:
        return below(cap_strike)
    if strike_type == "between" and floor_strike is not None and cap_strike is not None:
        return max(0.0, below(cap_strike) - below(floor_strike))
    # the rule itself names what is missing
    settles_yes(strike_type, floor_strike, cap_strike, Decimal(repr(mean)))
    raise AssertionError("unreachable: settles_yes refuses what is not priced above")
