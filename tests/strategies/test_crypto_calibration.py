"""The crypto model's probabilities against what happens, on the crypto scenario's BTC index
(its seeded walk, jumps included): forecasts made 10, 30 or 60 seconds after a feed started,
with only what the feed held by then, of markets settling two minutes later on Kalshi's
trimmed mean. In each fifth of the probability scale the share that settled YES is the mean
forecast there, to within three binomial standard errors of that bin."""

from __future__ import annotations

import math
import random
from decimal import Decimal as D

from kalshi_cli.sim.core.indices import RandomWalk
from kalshi_cli.sim.core.scenarios import load_scenario
from kalshi_cli.strategies.model.crypto import CryptoConfig, crypto_fair
from kalshi_cli.strategy_api import IndexView, MarketSnapshot, MarketTerms
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.reference_index import WINDOW_S, settlement_value, settles_yes

PATHS = 1500
AGES_S = (10, 30, 60)  # how long the feed has run at the forecast
TO_CLOSE_S = 120
BINS = 5
[WALK] = [i["walk"] for i in load_scenario("crypto")["indices"] if i["id"] == "BRTI"]


def brti_walk(seed: int) -> RandomWalk:
    return RandomWalk(
        D(WALK["start"]),
        volatility=D(WALK["volatility"]),
        jumps_per_hour=D(WALK["jumps_per_hour"]),
        jump_size=D(WALK["jump_size"]),
        seed=seed,
    )


def level(walk: RandomWalk, offset_ms: int) -> D:
    value = walk.at(offset_ms)
    assert value is not None  # a walk has a level at every offset
    return value


def forecast_and_outcome(k: int, strikes: random.Random) -> tuple[float, bool]:
    """One path: the 5 Hz values a feed holds `age` seconds after it started, the model's
    probability that the trimmed mean of the minute before a close two minutes later is above
    a strike within two standard deviations of the spot, and whether it was."""
    walk = brti_walk(10_000 + k)
    age = AGES_S[k % len(AGES_S)]
    history = tuple((t / 5, level(walk, t * 200)) for t in range(age * 5 + 1))
    ts, spot = history[-1]
    spread = float(WALK["volatility"]) * math.sqrt(TO_CLOSE_S)
    strike = float(spot) * math.exp(spread * strikes.uniform(-2, 2))
    floor = D(repr(round(strike, 2)))
    close = ts + TO_CLOSE_S
    terms = MarketTerms("greater", floor, None, close_ts=close, index_id="BRTI")
    index = IndexView("BRTI", ts, spot, history=history)
    book = Orderbook("KXBTC-T", (), ())
    found = crypto_fair(
        MarketSnapshot("KXBTC-T", ts, book, terms=terms, index=index), CryptoConfig()
    )
    assert found is not None
    window = [level(walk, int(s * 1000)) for s in range(int(ts) + 1, int(close))]
    value = settlement_value(window[-WINDOW_S:])
    return float(found.probability), settles_yes("greater", floor, None, value)


def test_the_models_forecasts_from_the_first_minute_are_reliable_in_each_fifth() -> None:
    strikes = random.Random(7)
    pairs = [forecast_and_outcome(k, strikes) for k in range(PATHS)]
    bins: list[list[tuple[float, bool]]] = [[] for _ in range(BINS)]
    for p, yes in pairs:
        bins[min(int(p * BINS), BINS - 1)].append((p, yes))
    for found in bins:
        assert len(found) >= 100, [len(b) for b in bins]
        mean = sum(p for p, _ in found) / len(found)
        share = sum(yes for _, yes in found) / len(found)
        error = math.sqrt(mean * (1 - mean) / len(found))
        assert abs(share - mean) <= 3 * error, (mean, share, len(found))
