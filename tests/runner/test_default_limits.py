"""Each strategy's defaults fit the default risk limits on the default scenario.

A person who runs `kalshi trade --strategy NAME` with no config gets the strategy's default
parameters and the default risk limits. Those must work together: the market maker's default
quotes once asked for about 170 orders a minute against a cap of 30 and logged a denial per
market per tick. Each strategy here runs on the default scenario (the one the embedded simulator
starts with, its participants moving the prices) for three minutes of a manual clock, and no
intent may be denied by a limit it never chose. Arbitrage buys the NO sets of the scenario's
three-candidate event, up to the sets its defaults let it hold.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.strategies import get_strategy
from tests.runner.fakes import make_rig

MINUTES = 3
STEP_S = 0.5


@pytest.mark.parametrize("strategy", ["market-maker", "spike", "mean-reversion", "arbitrage"])
def test_default_parameters_are_not_refused_by_the_default_limits(
    tmp_path: Path, strategy: str
) -> None:
    log_path = tmp_path / "trade.log"
    rig = make_rig(tmp_path / "state.db", strategy=strategy, log_path=log_path)
    for _ in range(int(MINUTES * 60 / STEP_S)):
        rig.feed.last_at = rig.clock.monotonic()  # a live feed: staleness is another test's
        rig.step(STEP_S)
    rig.loop.log.close()
    lines = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    denials = [x for x in lines if str(x["event"]).startswith("risk_denied")]
    assert rig.loop.log.counts.get("risk_denied", 0) == 0, (
        f"{strategy} with its defaults was denied by the default limits: {denials[:3]}"
    )
    sent = [
        datetime.fromisoformat(str(x["ts"])).timestamp()
        for x in lines
        if x["event"] == "order_placed"
    ]
    peak = max((sum(1 for u in sent if t - 60 < u <= t) for t in sent), default=0)
    cap = RiskLimits().max_orders_per_minute
    assert peak <= cap
    if strategy in ("market-maker", "spike", "arbitrage"):
        assert sent, f"{strategy} traded on the default scenario"  # the run proves something
    params = get_strategy(strategy).params({})
    count = getattr(params, "quote_count", None) or getattr(params, "order_count", None)
    if count is not None:
        assert count <= RiskLimits().max_order_count
