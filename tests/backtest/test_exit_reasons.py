"""The report's exit reasons name what closed each round trip, for the scaffold's own pattern of
reasons (`NAME: take-profit`) as for the built-ins' (`take-profit: bid ...`): the strategy's
name before the colon is not the reason, and a reason's figures do not split it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.backtest import BacktestSpec, run_backtest
from kalshi_cli.backtest.report import reason_kind, render_text
from kalshi_cli.data.scenario_recording import record_scenario

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
TILT = str(Path(__file__).with_name("tilt_strategy.py"))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("exits"), seconds=200, tickers=[LAL])


def test_name_prefixed_reasons_are_kept_apart_by_what_closed_the_trip(data: Path) -> None:
    spec = BacktestSpec(
        data=str(data), strategy=TILT, params=(("fair", "0.6"), ("max_hold_s", "10"))
    )
    report = run_backtest(spec)
    assert report["failed"] is None
    exits = report["exit_reasons"]
    # the time stop's reason carries how long it held ("tilt: time stop: held 12s"): one kind
    assert set(exits) <= {"tilt: take-profit", "tilt: time stop", "left open"}, exits
    assert exits["tilt: take-profit"] > 0 and exits["tilt: time stop"] > 0
    assert exits["tilt: take-profit"] + exits["tilt: time stop"] == report["totals"]["round_trips"]
    (line,) = [line for line in render_text(report) if line.startswith("exits: ")]
    assert f"tilt: take-profit {exits['tilt: take-profit']}" in line


def test_the_built_ins_reasons_keep_their_kind(data: Path) -> None:
    spec = BacktestSpec(data=str(data), strategy="spike", params=(("take_profit", "0.06"),))
    exits = run_backtest(spec)["exit_reasons"]
    assert exits and set(exits) <= {"take-profit", "time stop", "left open", "settlement"}, exits


@pytest.mark.parametrize("name", ["tilt", "r2exit", "spike-v2", "mm2", "btc15m", "2fast"])
def test_a_strategy_name_with_digits_keeps_its_reasons_apart(name: str) -> None:
    assert reason_kind(f"{name}: take-profit") == f"{name}: take-profit"
    assert reason_kind(f"{name}: time stop: held 12s") == f"{name}: time stop"
    assert reason_kind("take-profit: bid 0.55 >= 0.50") == "take-profit"
    assert reason_kind("edge 0.04 after fees") == "edge 0.04 after fees"
