"""The crypto strategy from a cold start (a feed with no index history yet) under the default
stop-loss: a market the stop-loss closed is not bought again at once
(`risk.stop_loss_cooldown_s`), so the first 90 s of the shipped crypto scenario stop each market
out at most once instead of buying and stopping out the same market again and again."""

from __future__ import annotations

from pathlib import Path

from kalshi_cli.backtest import BacktestSpec, run_backtest
from kalshi_cli.backtest.scenario import record_scenario


def test_a_cold_start_is_stopped_out_of_each_market_at_most_once(tmp_path: Path) -> None:
    data = record_scenario("crypto", tmp_path / "data", seconds=90)
    report = run_backtest(BacktestSpec(data=str(data), strategy="crypto"))
    assert report["failed"] is None
    # the cool-down (300 s) outlasts the run: one stop-loss round trip a market at most
    traded = [m for m in report["markets"].values() if m["round_trips"]]
    assert 0 < report["exit_reasons"].get("stop-loss", 0) <= len(traded), report["exit_reasons"]
    assert all(m["round_trips"] <= 1 for m in traded), report["markets"]
