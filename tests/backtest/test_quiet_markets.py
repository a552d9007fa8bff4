"""Quiet markets (runner/loop/trade_loop.py `_still_quiet`): skipping a strategy's call when
nothing it reads has changed since a call that decided nothing changes no order.

Each built-in strategy runs over the same recording twice through the production loop: as
registered (its `clock_free` lets the loop skip quiet calls), and as a copy that the loop must
always call (`clock_free=None`, the default of a strategy of your own). Both copies count their
calls, so the test also shows the skipping happened. The orders (time, market, side, action,
price, count, time in force) and the fills must be identical. The runs go in a child process,
so the copies registered there leave this process's registry as it was.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kalshi_cli.data.scenario_recording import record_scenario

# both runs of one strategy; prints {"quiet": [orders, fills, calls], "always": [...]}
_RUN = """
import json, sys
from dataclasses import replace
from pathlib import Path
from kalshi_cli.backtest import BacktestSpec, execute
from kalshi_cli.store import Store
from kalshi_cli.strategies import get_strategy, register_strategy

data, name, params = sys.argv[1], sys.argv[2], tuple(map(tuple, json.loads(sys.argv[3])))
base = get_strategy(name)
out = {}
for label, clock_free in (("quiet", base.clock_free), ("always", None)):
    calls = [0]

    def decide(snapshot, view, p, calls=calls):
        calls[0] += 1
        return base.decide(snapshot, view, p)

    copy = f"{name}-{label}"
    register_strategy(replace(base, name=copy, decide_fn=decide, clock_free=clock_free))
    # the full pass every second, as `kalshi trade` runs, where quiet markets are many
    artifacts = execute(BacktestSpec(data=data, strategy=copy, params=params))
    with artifacts.store as store:
        orders = [
            [i.created_at, i.ticker, i.side, i.action, str(i.price), str(i.count),
             i.time_in_force]
            for i in store.orders.intents()
        ]
        fills = [
            [f.ts, f.ticker, f.book_side, str(f.yes_price), str(f.count), str(f.fee),
             f.is_taker]
            for f in store.fills.iter_fills()
        ]
    out[label] = [orders, fills, calls[0]]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("quiet"), seconds=240)


@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("spike", (("take_profit", "0.06"), ("order_count", "20"), ("max_hold_s", "60"))),
        ("mean-reversion", (("window_s", "60"), ("min_samples", "5"), ("entry_z", "1.5"))),
        ("arbitrage", ()),
        ("market-maker", ()),
    ],
)
def test_skipping_quiet_calls_places_the_same_orders(
    strategy: str, params: tuple[tuple[str, str], ...], recording: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _RUN, str(recording), strategy, json.dumps(params)],
        capture_output=True,
        text=True,
        check=True,
    )
    runs = json.loads(result.stdout)
    orders, fills, calls = runs["quiet"]
    always_orders, always_fills, always_calls = runs["always"]
    assert orders, "the recording must make the strategy trade"
    assert orders == always_orders
    assert fills == always_fills
    assert 0 < calls < always_calls, "no call was skipped: the test proves nothing"
