"""The backtest's statistics (kalshi_cli/backtest/stats.py): hand-computed values, the published
example of the deflated Sharpe ratio, and properties of constant, zero-variance and shuffled
series."""

from __future__ import annotations

import math
import random
import statistics
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshi_cli.backtest.stats import (
    MIN_RETURNS,
    Figure,
    analyse,
    bootstrap,
    calibration,
    daily_returns,
    deflate,
    deflated_sharpe,
    expectancy,
    expected_max_sharpe,
    moments,
    pnl_intervals,
    probabilistic_sharpe,
    sharpe,
    sortino,
    total_pnl,
)

# a few dozen numbers cost nothing to draw: a draw Hypothesis finds slow is the machine's load
CHEAP_DRAWS = settings(suppress_health_check=[HealthCheck.too_slow])
returns_lists = st.lists(
    st.floats(min_value=-0.5, max_value=0.5, allow_nan=False, allow_subnormal=False),
    min_size=MIN_RETURNS,
    max_size=60,
)


def test_sharpe_and_sortino_by_hand() -> None:
    r = [0.02, -0.01] * 10  # mean 0.005; sample sd sqrt(20 * 0.015**2 / 19)
    sd = math.sqrt(20 * 0.015**2 / 19)
    assert sharpe(r).value == pytest.approx(0.005 / sd)
    # downside deviation: sqrt(10 * 0.01**2 / 20)
    assert sortino(r).value == pytest.approx(0.005 / math.sqrt(10 * 0.0001 / 20))
    short = sharpe(r[:19], "per-trade")
    assert short.value is None
    assert short.reason == "19 per-trade returns; at least 20 are needed"


@CHEAP_DRAWS
@given(st.floats(min_value=-0.2, max_value=0.2, allow_nan=False), st.integers(20, 80))
def test_a_constant_series_has_no_sharpe_and_says_why(value: float, n: int) -> None:
    series = [value] * n
    for figure in (sharpe(series), sortino(series)):
        assert figure.value is None
        assert figure.reason == "the daily returns do not vary"
    mean, sd, skew, kurt = moments(series)
    assert (sd, skew, kurt) == (0.0, 0.0, 3.0)
    assert mean == pytest.approx(value)


def test_a_zero_variance_series_of_zeros_has_no_ratio_and_no_loss() -> None:
    zeros = [0.0] * 30
    assert sharpe(zeros).value is None and sortino(zeros).value is None
    gains = [0.01, 0.02] * 15  # varies, never loses: Sortino undefined, Sharpe defined
    assert sortino(gains).reason == "no daily return was a loss"
    assert sharpe(gains).value is not None


@settings(CHEAP_DRAWS, max_examples=60)
@given(returns_lists, st.randoms(use_true_random=False))
def test_shuffling_a_series_changes_none_of_its_statistics(
    series: list[float], rng: random.Random
) -> None:
    shuffled = series[:]
    rng.shuffle(shuffled)
    a, b = sharpe(series), sharpe(shuffled)
    assert (a.value is None) == (b.value is None)
    if a.value is not None and b.value is not None:
        assert b.value == pytest.approx(a.value, rel=1e-9, abs=1e-9)
        _, _, skew, kurt = moments(series)
        psr_a = probabilistic_sharpe(a.value, len(series), skew, kurt)
        _, _, skew_b, kurt_b = moments(shuffled)
        psr_b = probabilistic_sharpe(b.value, len(series), skew_b, kurt_b)
        assert psr_b == pytest.approx(psr_a, abs=1e-9)
        assert 0.0 <= psr_a <= 1.0


def test_the_probabilistic_sharpe_ratio_by_hand() -> None:
    # normal returns (skew 0, kurtosis 3), SR 0.1 over 101 days: Φ(0.1 * 10 / sqrt(1.005))
    expected = 0.5 * (1 + math.erf(1 / math.sqrt(1.005) / math.sqrt(2)))
    assert probabilistic_sharpe(0.1, 101, 0.0, 3.0) == pytest.approx(expected)
    assert probabilistic_sharpe(0.0, 50, -1.0, 9.0) == pytest.approx(0.5)
    # more data at the same Sharpe is more sure of it
    assert probabilistic_sharpe(0.1, 400, 0.0, 3.0) > probabilistic_sharpe(0.1, 100, 0.0, 3.0)


def test_the_deflated_sharpe_ratio_of_the_published_example() -> None:
    # Bailey & López de Prado (2014): annual SR 2.5 over 1,250 days, skew -3, kurtosis 10,
    # 100 trials whose annual Sharpe ratios vary by 0.5: SR0 = 0.1132 a day, DSR = 0.9004
    sr = 2.5 / math.sqrt(250)
    assert expected_max_sharpe(100, 0.5 / 250) == pytest.approx(0.1132, abs=5e-5)
    moments_ = (sr, 1250, -3.0, 10.0)
    assert deflated_sharpe(*moments_, trials=100, variance=0.002) == pytest.approx(0.9004, abs=5e-5)
    # one trial is not deflated; more trials deflate more
    assert deflated_sharpe(*moments_, trials=1, variance=0.002) == probabilistic_sharpe(*moments_)
    many = deflated_sharpe(*moments_, trials=1000, variance=0.002)
    assert many < deflated_sharpe(*moments_, trials=10, variance=0.002)


def day(d: int, hour: int = 12) -> float:
    return datetime(2026, 1, d, hour, tzinfo=UTC).timestamp()


def test_daily_returns_take_each_days_last_equity() -> None:
    curve = [
        (day(1, 1), Decimal(1010)),
        (day(1, 23), Decimal(1100)),  # day 1 closes at 1100: +10% on the start of 1000
        (day(2, 5), Decimal(900)),
        (day(2, 20), Decimal(990)),  # day 2: -10%
        (day(4), Decimal(990)),  # day 4 (no sample on day 3): 0%
    ]
    assert daily_returns(curve, Decimal(1000)) == pytest.approx([0.1, -0.1, 0.0])


def test_the_bootstrap_is_seeded_and_brackets_the_total() -> None:
    trips = [(Decimal(p), Decimal(10)) for p in ("1.50", "-0.70", "0.20", "2.10", "-1.30")]
    first = bootstrap(trips, total_pnl, seed=7)
    assert first == bootstrap(trips, total_pnl, seed=7)
    assert first != bootstrap(trips, total_pnl, seed=8)
    assert first.low is not None and first.high is not None
    # every resample's total lies between five worst and five best trips
    assert Decimal("-6.50") <= first.low < total_pnl(trips) < first.high <= Decimal("10.50")
    same = [(Decimal("0.25"), Decimal(5))] * 4
    assert bootstrap(same, expectancy).to_json()["low"] == "0.0500"
    one = bootstrap(trips[:1], total_pnl)
    assert (one.low, one.reason) == (None, "1 closed round trips; at least 2 are needed")


def test_calibration_and_brier_by_hand() -> None:
    forecasts = [
        ("A", Decimal("0.8"), True),
        ("B", Decimal("0.8"), False),
        ("C", Decimal("0.2"), False),
        ("D", Decimal("0.35"), True),
    ]
    cal = calibration(forecasts)
    # (0.2² + 0.8² + 0.2² + 0.65²) / 4
    assert cal.brier == pytest.approx((0.04 + 0.64 + 0.04 + 0.4225) / 4)
    assert [(b["from"], b["forecasts"], b["settled_share"]) for b in cal.bins] == [
        ("0.2", 1, 0.0),
        ("0.3", 1, 1.0),
        ("0.8", 2, 0.5),
    ]
    assert cal.bins[2]["mean_fair"] == pytest.approx(0.8)
    assert cal.markets == 4 and cal.reason is not None and "4 settled markets" in cal.reason
    assert calibration([]).brier is None


def test_a_small_sample_says_so_in_words() -> None:
    curve = [(day(1, 1), Decimal(1000)), (day(1, 2), Decimal(1003))]
    trips = [(Decimal("2.00"), Decimal(10)), (Decimal("-1.00"), Decimal(10))]
    block = analyse(curve, Decimal(1000), trips, Decimal(3), [])
    assert block["returns"]["basis"] == "trade"
    assert block["sharpe"] == {
        "value": None,
        "reason": "2 per-trade returns; at least 20 are needed",
    }
    assert block["conclusive"] is False
    assert block["notes"][0].startswith("too few closed round trips to conclude anything")
    # the net's interval adds what no closed trip holds (here $2) to each resample's trips
    net = block["net_interval"]
    assert (Decimal(net["low"]), Decimal(net["high"])) == (Decimal("0.00"), Decimal("6.00"))
    assert "includes zero" in block["notes"][1]


def test_a_long_run_has_daily_returns() -> None:
    rng = random.Random(1)
    equity, curve = Decimal(1000), []
    for d in range(1, 31):
        equity += Decimal(rng.randint(-30, 40))
        curve.append((day(d), equity))
    block = analyse(curve, Decimal(1000), [], equity - 1000, [])
    assert block["returns"]["basis"] == "day" and block["returns"]["count"] == 30
    assert block["sharpe"]["value"] == pytest.approx(
        sharpe(daily_returns(curve, Decimal(1000))).value
    )
    assert 0 <= block["probabilistic_sharpe"]["value"] <= 1


def test_a_sweeps_sharpe_ratios_are_deflated_by_its_trials() -> None:
    def block(sr: float | None) -> dict[str, object]:
        returns = {"count": 250, "skew": -0.5, "kurtosis": 5.0}
        return {
            "sharpe": {"value": sr, "reason": None if sr else "19 daily returns"},
            "returns": returns,
        }

    blocks = [block(0.20), block(0.05), block(-0.10), block(None)]
    figures = deflate(blocks)
    variance = statistics.variance([0.20, 0.05, -0.10])  # over the runs that have one
    assert figures[0].value == pytest.approx(
        deflated_sharpe(0.20, 250, -0.5, 5.0, trials=4, variance=variance)
    )
    best, middle, worst = (f.value for f in figures[:3])
    assert best is not None and middle is not None and worst is not None
    assert best < probabilistic_sharpe(0.20, 250, -0.5, 5.0)
    assert best > middle > worst
    assert figures[3] == Figure(None, "19 daily returns")
    assert deflate([None])[0].reason == "the run's report has no statistics"


@settings(CHEAP_DRAWS, max_examples=40)
@given(
    st.lists(st.integers(-500, 500), min_size=2, max_size=12),
    st.integers(0, 2**32 - 1),
)
def test_a_bootstrap_interval_lies_within_what_resampling_can_reach(
    cents: list[int], seed: int
) -> None:
    trips = [(Decimal(c) / 100, Decimal(10)) for c in cents]
    ci = bootstrap(trips, total_pnl, seed=seed, resamples=200)
    assert ci.low is not None and ci.high is not None
    n = len(trips)
    assert n * min(p for p, _ in trips) <= ci.low <= ci.high <= n * max(p for p, _ in trips)
    assert ci == bootstrap(trips, total_pnl, seed=seed, resamples=200)
    # shuffling the trips resamples other draws, but what can be reached is the same
    shuffled = list(reversed(trips))
    again = bootstrap(shuffled, total_pnl, seed=seed, resamples=200)
    assert again.low is not None and again.high is not None
    assert n * min(p for p, _ in trips) <= again.low <= again.high <= n * max(p for p, _ in trips)


# a P&L or a count as a Decimal of 0 to 4 places, the same value written with more or fewer
# zeros (1.5, 1.50), so the sums' exponents vary from resample to resample
_amounts = st.builds(
    lambda units, places, pad: (Decimal(units).scaleb(-places)).quantize(
        Decimal(1).scaleb(-places - pad)
    ),
    st.integers(-5000, 5000),
    st.integers(0, 4),
    st.integers(0, 2),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(_amounts, st.integers(1, 30).map(Decimal)), min_size=0, max_size=9),
    _amounts,
    st.integers(0, 2**32 - 1),
)
def test_the_report_intervals_are_the_bootstrap_of_net_and_expectancy_to_the_digit(
    trips: list[tuple[Decimal, Decimal]], rest: Decimal, seed: int
) -> None:
    net, per_contract = pnl_intervals(trips, rest, seed=seed, resamples=150)
    whole = bootstrap(trips, lambda t: rest + total_pnl(t), seed=seed, resamples=150)
    assert net.to_json() == whole.to_json()
    each = bootstrap(trips, expectancy, seed=seed, resamples=150)
    assert per_contract.to_json() == each.to_json()
