"""The randomized 10,000-tick run: invariants that must hold whatever happens around the loop."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.errors import RateLimitedError
from tests.runner.fakes import make_rig

LIMIT = Decimal("20")


# the market maker quotes every market every tick, so its run is shorter to keep the suite fast
@pytest.mark.parametrize(
    ("strategy", "seed", "ticks"), [("spike", 11, 10_000), ("market-maker", 12, 2_000)]
)
def test_ten_thousand_random_ticks_keep_the_invariants(
    tmp_path: Path, strategy: str, seed: int, ticks: int
) -> None:
    rng = random.Random(seed)
    rig = make_rig(
        tmp_path / "state.db",
        strategy=strategy,
        risk={"max_position_per_market": LIMIT, "max_orders_per_minute": 1000},
    )
    tickers = list(rig.exchange.markets)
    sent_while_blocked = 0
    for _ in range(ticks):
        roll = rng.random()
        if roll < 0.01:
            rig.store.set_trading_state("HALTED", reason="test", source="cancel-all")
        elif roll < 0.03:
            rig.store.set_trading_state("ACTIVE", reason="test", source="kalshi resume")
        elif roll < 0.04:
            rig.feed.silent = not rig.feed.silent
        elif roll < 0.05:
            rig.feed.stale = set(rng.sample(tickers, 3))
        elif roll < 0.06:
            rig.client.create_errors.append(
                rng.choice([RateLimitedError("429", status=429), "unknown"])
            )
        state = rig.store.trading_state().state
        silent = rig.feed.silent
        before = len(rig.client.requests)
        sent_before = {r.client_order_id for r in rig.client.requests}
        rig.step(rng.uniform(0.1, 1.0))
        new = [r for r in rig.client.requests if r.client_order_id not in sent_before]
        if state in ("HALTED", "SAFE_MODE") or silent:
            sent_while_blocked += len(rig.client.requests) - before
        assert not [r for r in new if r.ticker in rig.feed.stale], "sent on a stale market"
        for p in rig.client.get_positions():
            assert abs(p.position) <= LIMIT, f"{p.ticker} position {p.position} over the limit"
    assert sent_while_blocked == 0
    assert rig.loop.executor.counters.orders > 20, "the run must actually trade"
    assert rig.loop.executor.counters.denied > 0
