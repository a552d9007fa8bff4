"""The statistics a backtest reports, through `kalshi backtest`: never annualized from seconds,
null with a reason on a small sample, said in words; calibration of the stated fair values
against the settled results, by hand from the run's own state file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.store import Store
from tests.backtest.in_process import kalshi

LAL = "KXNBAGAME-SIM-LALGSW-LAL"


@pytest.fixture(scope="module")
def settling(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario(
        "default",
        tmp_path_factory.mktemp("settling"),
        seconds=200,
        tickers=[LAL],
        settle={LAL: (150.0, "no")},
    )


def test_a_short_run_gives_no_sharpe_and_says_it_is_too_small(
    settling: Path, tmp_path: Path
) -> None:
    args = ["backtest", "--strategy", "spike", "--data", str(settling)]
    args += ["--param", "take_profit=0.06", "--param", "order_count=20"]
    done = kalshi([*args, "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    st = report["statistics"]
    trips = report["totals"]["round_trips"]
    assert 0 < trips < 20
    assert st["returns"]["basis"] == "trade" and st["returns"]["count"] == trips
    assert report["totals"]["sharpe"] is None and report["totals"]["sortino"] is None
    assert st["sharpe"]["reason"] == f"{trips} per-trade returns; at least 20 are needed"
    assert st["probabilistic_sharpe"]["value"] is None
    assert st["conclusive"] is False
    net = st["net_interval"]
    assert net["low"] is not None and net["seed"] == 0 and net["resamples"] == 2000
    text = kalshi(args, tmp_path)
    assert text.returncode == 0, text.stderr
    assert "NOTE: too few closed round trips to conclude anything" in text.stdout
    assert "Sharpe -, Sortino -" in text.stdout
    # the same data and seed: the same intervals, run after run
    again = json.loads(kalshi([*args, "--json"], tmp_path).stdout)["statistics"]
    assert again == st


def test_calibration_of_stated_fair_values_against_the_settled_result(
    settling: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = ["backtest", "--strategy", "market-maker", "--data", str(settling)]
    done = kalshi([*args, "--out", str(out), "--keep-state", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    cal = json.loads(done.stdout)["statistics"]["calibration"]
    with Store.open(out / "backtest.db", create=False) as store:
        stated = [(i.side.value, i.model_fair) for i in store.orders.intents() if i.model_fair]
    assert stated, "the market maker states a fair value with every quote"
    # the market settled NO: a NO quote's fair is the chance of what happened
    outcomes = [(float(fair), 1.0 if side == "no" else 0.0) for side, fair in stated]
    brier = sum((p - o) ** 2 for p, o in outcomes) / len(outcomes)
    assert cal["forecasts"] == len(stated) and cal["markets"] == 1
    assert cal["brier"] == pytest.approx(brier)
    assert sum(b["forecasts"] for b in cal["bins"]) == len(stated)
    assert "1 settled markets; at least 10 are needed" in cal["reason"]
    text = kalshi(args, tmp_path)
    assert f"Brier {brier:.4f} over {len(stated)} fair values on 1 settled markets" in text.stdout
