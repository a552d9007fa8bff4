"""The built-in crypto model on snapshots: its probability against the closed form (an hour out,
inside the settlement window, with Kalshi's running settlement average standing in), its
volatility from the index's returns, its drift terms (RSI, MACD, VWAP) against values worked by
hand, its RSI filter, and what it refuses (a stale index) or has no opinion on; then the
`crypto` strategy buying the side the model prices above its ask."""

from __future__ import annotations

import math
from decimal import Decimal as D

import pytest

from kalshi_cli.strategies import get_strategy
from kalshi_cli.strategies.model import ModelError
from kalshi_cli.strategies.model.crypto import CryptoConfig, CryptoFair, StaleIndex, crypto_fair
from kalshi_cli.strategies.model.sources import parse_source
from kalshi_cli.strategy_api import (
    IndexView,
    Intent,
    MarketSnapshot,
    MarketTerms,
    PositionView,
)
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.reference_index import student_t_cdf
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce

SPOT = 68_000.0
R = 0.0001  # the size of every log return of the test paths, per second
NOW = 1_000_771.0  # 29 s before a quarter-hour close (1_000_800 = 900 x 1112)
BOOK = Orderbook("KXBTC-T", ((D("0.40"), D(100)),), ((D("0.40"), D(100)),))


def phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def zigzag(n: int, end: float = NOW) -> tuple[tuple[float, D], ...]:
    """n+1 one-second values alternating between SPOT and SPOT x e^R, the last one SPOT: every
    return is +-R, so the EWMA of squared returns is R^2 whatever its half-life."""
    values = [SPOT if (n - k) % 2 == 0 else SPOT * math.exp(R) for k in range(n + 1)]
    return tuple((end - n + k, D(repr(v))) for k, v in enumerate(values))


def snapshot(
    history: tuple[tuple[float, D], ...],
    *,
    close_in: float = 3600.0,
    strike_type: str = "greater",
    floor: str | None = "68100",
    cap: str | None = None,
    ts: float = NOW,
    **index: object,
) -> MarketSnapshot:
    view = IndexView("BRTI", history[-1][0], history[-1][1], history=history, **index)  # type: ignore[arg-type]
    terms = MarketTerms(
        strike_type,
        None if floor is None else D(floor),
        None if cap is None else D(cap),
        close_ts=NOW + close_in,
        index_id="BRTI",
    )
    return MarketSnapshot("KXBTC-T", ts, BOOK, terms=terms, index=view)


def worth(n: int, halflife_s: float = 300.0) -> float:
    """What n one-second returns weighted `1 - q`, `(1 - q) q`, ... `(1 - q) q^(n-1)` are worth
    (`(sum w)^2 / sum w^2`, q = 2^(-1 / halflife_s)): just under n while they span much less
    than the half-life."""
    q: float = 2.0 ** (-1.0 / halflife_s)
    return (1 - q**n) * (1 + q) / ((1 - q) * (1 + q**n))


def cdf(found: CryptoFair, z: float) -> float:
    """The model prices the settlement average's distance as Student's t, with as many degrees
    of freedom as its volatility estimate is worth in returns."""
    return student_t_cdf(z, found.dof)


def close_to(found: D, expected: float) -> bool:
    """The model answers on a grid of 0.0001."""
    return abs(float(found) - expected) <= 0.00005 + 1e-12


def test_an_hour_out_the_probability_is_the_closed_form_of_the_average():
    found = crypto_fair(snapshot(zigzag(120)), CryptoConfig())
    assert found is not None
    assert found.sigma == pytest.approx(R, rel=1e-9)
    assert found.dof == pytest.approx(worth(120), rel=1e-9)
    assert found.seconds_to_close == 3600.0 and found.drift == 0.0
    # the average of [T-60, T): sd = S sigma sqrt((T - 60) + 60/3)
    sd = SPOT * R * math.sqrt(3540 + 20)
    assert close_to(found.probability, 1 - cdf(found, (68_100 - SPOT) / sd))


def test_a_range_market_is_the_mass_between_its_strikes():
    found = crypto_fair(
        snapshot(zigzag(120), strike_type="between", floor="67900", cap="68150"), CryptoConfig()
    )
    assert found is not None
    sd = SPOT * R * math.sqrt(3560)
    expected = cdf(found, (68_150 - SPOT) / sd) - cdf(found, (67_900 - SPOT) / sd)
    assert close_to(found.probability, expected)


def test_inside_the_window_the_printed_values_are_known_and_only_the_rest_is_uncertain():
    # 30 s to the close: the window's first 30 values are printed (the zigzag's last 30 s)
    history = zigzag(120)
    found = crypto_fair(snapshot(history, close_in=30.0, floor="68003"), CryptoConfig())
    assert found is not None
    printed = [float(v) for t, v in history if NOW - 30 <= t < NOW + 30]
    assert len(printed) == 31  # [close - 60, now]: 30 s back and the value of now
    mean = (30 * (sum(printed) / len(printed)) + 30 * SPOT) / 60
    sd = (30 / 60) * SPOT * R * math.sqrt(30 / 3)
    assert close_to(found.probability, 1 - cdf(found, (68_003 - mean) / sd))


def test_kalshis_running_settlement_average_stands_for_values_the_feed_did_not_see():
    # the feed saw only the last 20 s of values (21 in the window); Kalshi's running average
    # counts 31 and says 68010
    history = zigzag(20)
    found = crypto_fair(
        snapshot(
            history,
            close_in=29.0,
            floor="68005",
            settlement_avg=D("68010"),
            settlement_count=31,
        ),
        CryptoConfig(min_returns=10),
    )
    assert found is not None
    mean = (31 * 68_010 + 29 * SPOT) / 60
    sd = (29 / 60) * SPOT * R * math.sqrt(29 / 3)
    assert close_to(found.probability, 1 - cdf(found, (68_005 - mean) / sd))
    # the running average is the quarter-hour's: a market closing a second later is not priced
    # on it, only on the values the feed saw
    other = crypto_fair(
        snapshot(
            history,
            close_in=30.0,
            floor="68005",
            settlement_avg=D("68010"),
            settlement_count=31,
        ),
        CryptoConfig(min_returns=10),
    )
    assert other is not None
    seen = [float(v) for t, v in history if t >= NOW - 30]
    # 30 s of the window are past: what the feed saw of them stands for them all
    mean = (30 * (sum(seen) / len(seen)) + 30 * SPOT) / 60
    sd = (30 / 60) * SPOT * R * math.sqrt(30 / 3)
    assert close_to(other.probability, 1 - cdf(other, (68_005 - mean) / sd))


def test_a_volatility_floor_holds_when_the_index_has_not_moved():
    flat = tuple((NOW - 60 + k, D("68000")) for k in range(61))
    found = crypto_fair(snapshot(flat), CryptoConfig(min_sigma=0.0002))
    assert found is not None and found.sigma == 0.0002
    sd = SPOT * 0.0002 * math.sqrt(3560)
    assert close_to(found.probability, 1 - cdf(found, 100 / sd))
    # with no floor and no movement the settlement is known: below the strike, NO
    still = crypto_fair(snapshot(flat), CryptoConfig())
    assert still is not None and still.probability == D("0")


def test_no_opinion_without_enough_returns_an_index_or_a_single_value_strike():
    assert crypto_fair(snapshot(zigzag(29)), CryptoConfig()) is None  # 29 returns < 30
    assert crypto_fair(snapshot(zigzag(30)), CryptoConfig()) is not None
    assert crypto_fair(snapshot(zigzag(60), strike_type="custom"), CryptoConfig()) is None
    plain = MarketSnapshot("KXBTC-T", NOW, BOOK)
    assert crypto_fair(plain, CryptoConfig()) is None


def test_a_stale_index_is_refused_and_the_source_says_so():
    old = snapshot(zigzag(60), ts=NOW + 10.5)
    with pytest.raises(StaleIndex, match=r"10\.5 s old"):
        crypto_fair(old, CryptoConfig())
    source = parse_source("builtin:crypto", timeout_ms=500, max_age_s=60)
    with pytest.raises(ModelError, match=r"builtin:crypto: the index BRTI is 10\.5 s old"):
        source.ask(old)
    answer = source.ask(snapshot(zigzag(60)))
    assert answer is not None and answer.version == "crypto-1"


def test_an_unknown_builtin_model_is_refused():
    with pytest.raises(ValueError, match="the built-in models are crypto"):
        parse_source("builtin:weather", timeout_ms=500, max_age_s=60)


# ---------------------------------------------------------------------------------------------
# drift and filter terms, on three one-second values 10, 11 (or 10), 13 worked by hand

THREE = ((NOW - 2, D("10")), (NOW - 1, D("10")), (NOW, D("13")))


def test_the_macd_drift_is_its_weight_times_the_histogram_over_the_level():
    # EMA span 2 (alpha 2/3): 10, 10, 12; span 3 (alpha 1/2): 10, 10, 11.5; line 0, 0, 0.5;
    # signal span 2 of the line: 0, 0, 1/3; histogram 1/6
    config = CryptoConfig(min_returns=1, macd_fast=2, macd_slow=3, macd_signal=2, macd_weight=0.3)
    found = crypto_fair(snapshot(THREE), config)
    assert found is not None
    assert found.drift == pytest.approx(0.3 * (1 / 6) / 13, rel=1e-12)


def test_the_rsi_drift_is_its_weight_times_the_distance_from_50():
    rising = ((NOW - 2, D("10")), (NOW - 1, D("11")), (NOW, D("12")))  # RSI(2) = 100
    found = crypto_fair(snapshot(rising), CryptoConfig(min_returns=1, rsi_period=2, rsi_weight=0.2))
    assert found is not None and found.drift == pytest.approx(0.2 * (100 - 50) / 50)
    # a drift moves the expected average: S (1 + drift (T - 30))
    sd = 12 * found.sigma * math.sqrt(3560)
    mean = 12 * (1 + found.drift * (3600 - 30))
    expected = 1 - phi((68_100 - mean) / sd)
    assert close_to(found.probability, expected)


def test_the_vwap_drift_is_its_weight_times_the_level_above_the_time_weighted_average():
    points = ((NOW - 200, D("100")), (NOW - 100, D("100")), (NOW, D("130")))
    # each value held until the next: (100 x 100 + 100 x 100) / 200 = 100
    config = CryptoConfig(min_returns=1, vwap_window_s=300, vwap_weight=0.5)
    found = crypto_fair(snapshot(points), config)
    assert found is not None and found.drift == pytest.approx(0.5 * (130 - 100) / 130)


def test_the_rsi_filter_leaves_the_market_without_an_opinion_outside_its_band():
    rising = ((NOW - 2, D("10")), (NOW - 1, D("11")), (NOW, D("12")))
    banded = CryptoConfig(min_returns=1, rsi_period=2, rsi_low=20, rsi_high=80)
    assert crypto_fair(snapshot(rising), banded) is None
    wide = CryptoConfig(min_returns=1, rsi_period=2, rsi_low=20, rsi_high=100)
    assert crypto_fair(snapshot(rising), wide) is not None


# ---------------------------------------------------------------------------------------------
# the crypto strategy


def test_the_crypto_strategy_buys_the_side_its_model_prices_above_the_ask():
    strategy = get_strategy("crypto")
    assert strategy.reads_index
    params = strategy.params({"min_edge": "0.02", "bankroll": "100", "kelly_fraction": "0.5"})
    # the strike 200 below the spot an hour out: YES is worth ~0.69, offered at 0.60
    snap = snapshot(zigzag(120), floor="67800")
    fair = crypto_fair(snap, CryptoConfig())
    assert fair is not None and fair.probability > D("0.68")
    [intent] = strategy.decide(snap, PositionView("KXBTC-T"), params)
    assert isinstance(intent, Intent)
    assert (intent.side, intent.action, intent.price) == (Side.YES, Action.BUY, D("0.60"))
    assert intent.time_in_force is TimeInForce.IOC
    assert intent.model_fair == fair.probability
    assert "builtin:crypto version crypto-1" in intent.reason
    assert intent.strategy == "crypto"  # its orders are the crypto strategy's, by name


def test_the_crypto_strategy_refuses_another_source_and_checks_its_params():
    strategy = get_strategy("crypto")
    with pytest.raises(Exception, match="for another, use `model`"):
        strategy.params({"source": "file:x.csv"})
    with pytest.raises(Exception, match="rsi_low must not be above rsi_high"):
        strategy.params({"rsi_low": "70", "rsi_high": "30"})


def test_the_running_volatility_fed_in_pieces_is_the_ewma_of_the_whole_path():
    from kalshi_cli.vocabulary.reference_index import Volatility, ewma_volatility

    rng = __import__("random").Random(9)
    path = [
        (NOW + k * 0.2, D(repr(round(68_000 * math.exp(rng.gauss(0, 0.0005)), 2))))
        for k in range(400)
    ]
    whole = ewma_volatility([(t, float(v)) for t, v in path], halflife_s=30.0)
    running = Volatility(30.0)
    # decisions see growing histories whose oldest values have aged out, as the board's do
    # (each window starts no later than the last one ended: every value is seen once)
    for end in (50, 51, 120, 200, 290, 380, 400):
        found = running.update(tuple(path[max(0, end - 100) : end])).sigma
    assert found == pytest.approx(whole, rel=1e-12) and running.returns == 399
    # the source keeps one per index: the same answer as the pure function on the whole path
    snap = snapshot(tuple(path), close_in=600.0, floor="68010", ts=path[-1][0])
    source = parse_source("builtin:crypto", timeout_ms=500, max_age_s=60)
    for end in (50, 150, 250, 350, 400):
        answer = source.ask(
            snapshot(
                tuple(path[max(0, end - 100) : end]),
                close_in=600.0,
                floor="68010",
                ts=path[end - 1][0],
            )
        )
    fair = crypto_fair(snap, CryptoConfig(), Volatility(300.0))
    assert answer is not None and fair is not None and answer.fair == fair.probability


def test_a_command_model_is_sent_the_markets_terms_and_its_index():
    import json

    from kalshi_cli.strategies.model.sources import request_json

    snap = snapshot(
        zigzag(2), floor="68100", avg_60s=D("68000.5"), settlement_avg=None, settlement_count=0
    )
    line = json.loads(request_json(3, snap))
    assert line["terms"] == {
        "strike_type": "greater",
        "floor_strike": 68100,
        "cap_strike": None,
        "close_ts": NOW + 3600,
        "index_id": "BRTI",
    }
    assert line["index"] == {
        "id": "BRTI",
        "ts": NOW,
        "value": 68000.0,
        "avg_60s": 68000.5,
        "settlement_avg": None,
        "settlement_count": 0,
    }
    # a market with no strike and no index: the line is the book's alone, as before
    plain = json.loads(request_json(4, MarketSnapshot("KXBTC-T", NOW, BOOK)))
    assert "terms" not in plain and "index" not in plain
