"""The randomized 2,500-tick run: invariants that must hold whatever happens around the loop.

The state file of these runs lives on a RAM disk when the machine has one: a run covers most of
an hour of simulated time, so it writes thousands of heartbeats and order rows, and on a shared
disk each commit's fsync (the store runs `synchronous=FULL`) would be most of the run's time.
What is checked here is the loop's logic; the state file's durability is the SIGKILL test's
subject, and that one runs on the ordinary disk.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.vocabulary.errors import RateLimitedError
from tests.runner.fakes import make_rig

LIMIT = Decimal("20")


RAM_DISK = Path("/dev/shm")


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    if not RAM_DISK.is_dir():
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="kalshi-loop-", dir=RAM_DISK))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# 2,500 ticks: each kind of event comes some twenty-five times, and a loop that ignores the
# stale feed breaks the invariants within 40 ticks, one that ignores the position limit within
# 2,300 (seven seeds of the market maker; this one's: 1,313). The market maker's run takes 8 s
# alone and minutes under coverage tracing on a busy 2-core machine: the slow test's time limit,
# which says nothing about the invariants
@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "seed", "ticks"), [("spike", 11, 2_500), ("market-maker", 12, 2_500)]
)
def test_thousands_of_random_ticks_keep_the_invariants(
    state_dir: Path, strategy: str, seed: int, ticks: int
) -> None:
    rng = random.Random(seed)
    rig = make_rig(
        state_dir / "state.db",
        strategy=strategy,
        risk={"max_position_per_market": LIMIT, "max_orders_per_minute": 1000},
    )
    tickers = list(rig.exchange.reference.markets)
    sent_while_blocked = 0
    for _ in range(ticks):
        roll = rng.random()
        if roll < 0.01:
            rig.store.trading.set_trading_state("HALTED", reason="test", source="cancel-all")
        elif roll < 0.03:
            rig.store.trading.set_trading_state("ACTIVE", reason="test", source="kalshi resume")
        elif roll < 0.04:
            rig.feed.silent = not rig.feed.silent
        elif roll < 0.05:
            rig.feed.stale = set(rng.sample(tickers, 3))
        elif roll < 0.06:
            outcomes: list[BaseException | str] = [RateLimitedError("429", status=429), "unknown"]
            rig.client.create_errors.append(rng.choice(outcomes))
        state = rig.store.trading.trading_state().state
        silent = rig.feed.silent
        before = len(rig.client.requests)
        rig.step(rng.uniform(0.1, 1.0))
        new = rig.client.requests[before:]
        if state in ("HALTED", "SAFE_MODE") or silent:
            sent_while_blocked += len(new)
        assert not [r for r in new if r.ticker in rig.feed.stale], "sent on a stale market"
        for p in rig.client.get_positions():
            assert abs(p.position) <= LIMIT, f"{p.ticker} position {p.position} over the limit"
    assert sent_while_blocked == 0
    # every order went out once, under a fresh id written to the state file before it was sent
    ids = [r.client_order_id for r in rig.client.requests]
    assert len(set(ids)) == len(ids)
    assert all(rig.store.orders.get_intent(i) is not None for i in ids)
    # the loop's own view of its positions is the exchange's, once the last fills are read
    rig.loop.executor.fills.sync()
    ours = {m.ticker: m.position for m in rig.loop.portfolio.open_positions()}
    assert ours == {p.ticker: p.position for p in rig.client.get_positions()}
    assert rig.loop.executor.counters.orders > 20, "the run must actually trade"
    assert rig.loop.executor.counters.denied > 0
