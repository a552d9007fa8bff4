"""The crypto fair value against closed-form values: at the strike, one standard deviation out,
deep in and out of the money, inside the settlement window, zero volatility and at the close;
and the index indicators against values worked by hand."""

from __future__ import annotations

import math
from decimal import Decimal as D

import pytest

from kalshi_cli.strategies.crypto_fair import macd, rsi, twap
from kalshi_cli.vocabulary.reference_index import (
    Volatility,
    ewma_volatility,
    probability_yes,
    settlement_distribution,
    student_t_cdf,
)

SPOT = 68_000.0
SIGMA = 0.0001  # per square-root second
HOUR = 3600.0
# an hour out: sd = 68,000 x 0.0001 x sqrt(3540 + 20) = 6.8 x sqrt(3560)
SD_HOUR = 6.8 * math.sqrt(3560)


def phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def p(strike_type: str, floor: float | None, cap: float | None, **kw: object) -> float:
    args: dict[str, object] = {"spot": SPOT, "sigma": SIGMA, "seconds_to_close": HOUR} | kw
    return probability_yes(
        strike_type,
        None if floor is None else D(repr(floor)),
        None if cap is None else D(repr(cap)),
        **args,  # type: ignore[arg-type]
    )


def test_the_spread_of_the_average_an_hour_out() -> None:
    mean, sd = settlement_distribution(SPOT, SIGMA, HOUR)
    assert mean == SPOT
    assert sd == pytest.approx(SD_HOUR)  # 405.73: less than the spot's 408.00 at the close


def test_at_the_strike_it_is_even() -> None:
    assert p("greater", SPOT, None) == pytest.approx(0.5)
    assert p("less", None, SPOT) == pytest.approx(0.5)


def test_one_standard_deviation_out() -> None:
    assert p("greater", SPOT + SD_HOUR, None) == pytest.approx(1 - phi(1.0))  # 0.1587
    assert p("less", None, SPOT - SD_HOUR) == pytest.approx(phi(-1.0))
    assert p("between", SPOT - SD_HOUR, SPOT + SD_HOUR) == pytest.approx(phi(1) - phi(-1))


def test_deep_in_and_out_of_the_money() -> None:
    assert p("greater", SPOT - 10 * SD_HOUR, None) > 0.999999
    assert p("greater", SPOT + 10 * SD_HOUR, None) < 1e-6


def test_inside_the_window_the_seconds_printed_count() -> None:
    # 30 s left, 30 printed at 68,100: mean (30 x 68,100 + 30 x 68,000) / 60 = 68,050, and the
    # future half's spread is (30 / 60) x 6.8 x sqrt(30 / 3)
    observed = [68_100.0] * 30
    mean, sd = settlement_distribution(SPOT, SIGMA, 30.0, observed)
    assert mean == pytest.approx(68_050.0)
    assert sd == pytest.approx(0.5 * 6.8 * math.sqrt(10))
    assert p("greater", 68_050.0, None, seconds_to_close=30.0, observed=observed) == (
        pytest.approx(0.5)
    )
    assert p("greater", 68_050.0 + sd, None, seconds_to_close=30.0, observed=observed) == (
        pytest.approx(1 - phi(1.0))
    )


def test_zero_volatility_is_the_settlement_rule_itself() -> None:
    assert p("greater", SPOT, None, sigma=0.0) == 0.0  # greater is strictly above
    assert p("greater_or_equal", SPOT, None, sigma=0.0) == 1.0
    assert p("greater", SPOT - 0.01, None, sigma=0.0) == 1.0


def test_at_the_close_the_trimmed_mean_decides() -> None:
    # a spike at the end of the window is trimmed: 59 at 67,990 and one at 90,000
    observed = [67_990.0] * 59 + [90_000.0]
    assert p("greater", 68_000.0, None, seconds_to_close=0.0, observed=observed) == 0.0
    assert p("less", None, 68_000.0, seconds_to_close=0.0, observed=observed) == 1.0


def test_a_market_whose_strike_cannot_be_priced_is_refused() -> None:
    with pytest.raises(ValueError, match="strike"):
        p("custom", SPOT, None)


def test_ewma_volatility_of_a_steady_trend_is_its_rate() -> None:
    points = [(float(t), 100.0 * math.exp(0.001 * t)) for t in range(11)]
    assert ewma_volatility(points, halflife_s=30) == pytest.approx(0.001)
    # two-second steps of 0.002 are 0.002 / sqrt(2) per square-root second
    points = [(2.0 * t, 100.0 * math.exp(0.002 * t)) for t in range(11)]
    assert ewma_volatility(points) == pytest.approx(0.002 / math.sqrt(2))
    assert ewma_volatility([(0.0, 100.0)]) == 0.0


def test_ewma_volatility_weights_recent_returns_more() -> None:
    calm = [(float(t), 100.0 + 0.01 * (t % 2)) for t in range(100)]
    wild = [(100.0 + t, 100.0 + 1.0 * (t % 2)) for t in range(10)]
    short = ewma_volatility(calm + wild, halflife_s=5)
    long = ewma_volatility(calm + wild, halflife_s=500)
    assert short > long > ewma_volatility(calm)


def test_the_first_estimate_is_the_mean_of_the_returns_there_are_not_the_first_one() -> None:
    # one return of 0.00001, then 29 of 0.0001: the mean square is (1e-10 + 29e-8) / 30
    points = [(1.0 + t, 100.0 * math.exp(0.00001 + 0.0001 * t)) for t in range(30)]
    points.insert(0, (0.0, 100.0))
    assert ewma_volatility(points) == pytest.approx(math.sqrt((1e-10 + 29e-8) / 30), rel=1e-3)


def test_an_estimate_is_worth_the_returns_it_rests_on_and_no_more_than_its_halflife_allows() -> (
    None
):
    def worth(seconds: int, step: float, halflife_s: float) -> float:
        points = [(k * step, 100.0 * math.exp(0.0001 * (k % 2))) for k in range(seconds + 1)]
        return Volatility(halflife_s).update(points).dof

    assert Volatility(300).dof == 0.0 and Volatility(300).update([(0.0, 1.0)]).dof == 0.0
    assert worth(1, 1.0, 300) == pytest.approx(1.0)
    # 30 returns over 30 s of a 300 s half-life: nearly 30
    assert 29.9 < worth(30, 1.0, 300) <= 30
    # the steady state: 2 x halflife / (ln 2 x dt) (one-second returns: 866 at 300 s)
    assert worth(20_000, 1.0, 300) == pytest.approx(2 * 300 / math.log(2), rel=1e-3)


def test_student_t_is_cauchy_at_one_degree_its_closed_form_at_two_and_normal_at_many() -> None:
    for x in (-30.0, -3.0, -0.5, 0.0, 0.7, 4.0, 200.0):
        assert student_t_cdf(x, 1) == pytest.approx(0.5 + math.atan(x) / math.pi, abs=1e-12)
        expected = 0.5 + x / (2 * math.sqrt(2 + x * x))
        assert student_t_cdf(x, 2) == pytest.approx(expected, abs=1e-12)
        assert student_t_cdf(x, 1e7) == pytest.approx(phi(x), abs=1e-9)
        assert student_t_cdf(x, 5000) == pytest.approx(phi(x), abs=1e-4)
    # heavier tails than the normal's with few degrees of freedom: 5 sd out at 30 returns
    assert 1 - student_t_cdf(5.0, 30) == pytest.approx(1.1e-5, rel=0.1)
    assert 1 - phi(5.0) == pytest.approx(2.9e-7, rel=0.1)


def test_rsi_worked_by_hand() -> None:
    # changes +1, -1, +2 with a period of 2: gain 0.5, loss 0.5, then Wilder's smoothing
    # gain (0.5 + 2) / 2 = 1.25, loss 0.5 / 2 = 0.25: RS 5, RSI 100 - 100 / 6
    assert rsi([10.0, 11.0, 10.0, 12.0], period=2) == pytest.approx(100 - 100 / 6)
    assert rsi([1.0, 2.0, 3.0, 4.0], period=2) == 100.0
    assert rsi([1.0, 2.0], period=2) is None


def test_macd_worked_by_hand() -> None:
    # EMA(2) of 1, 2, 3 is 1, 5/3, 23/9; EMA(3) is 1, 3/2, 9/4; the line 0, 1/6, 11/36;
    # its EMA(2) 0, 1/9, 13/54; the histogram 11/36 - 13/54 = 7/108
    line, signal, hist = macd([1.0, 2.0, 3.0], fast=2, slow=3, signal=2) or (0, 0, 0)
    assert line == pytest.approx(11 / 36)
    assert signal == pytest.approx(13 / 54)
    assert hist == pytest.approx(7 / 108)
    assert macd([5.0] * 30) == pytest.approx((0.0, 0.0, 0.0))
    assert macd([1.0] * 25) is None


def test_twap_holds_each_value_until_the_next() -> None:
    assert twap([(0.0, 100.0), (10.0, 110.0), (30.0, 90.0)]) == pytest.approx(3200 / 30)
    assert twap([(0.0, 100.0)]) is None
