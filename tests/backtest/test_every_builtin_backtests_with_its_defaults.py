"""Every built-in strategy runs through `kalshi backtest` on recorded data with no params file, on
its own defaults (the model strategy given only its source of fair values, which has no
default); a list parameter, defaulted or from a params file, reaches the run as the list it is.
In-process, on a recording of the default scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.strategies import strategy_names
from tests.backtest.in_process import kalshi

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
MODEL = Path(__file__).parents[2] / "examples" / "models" / "anchor.py"
BUILT_INS = ("spike", "mean-reversion", "arbitrage", "market-maker", "model", "crypto")
# what a strategy cannot run without, and has no default for
NEEDS = {"model": ["--model", f"python:{MODEL}:fair"]}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("rec"), seconds=60, tickers=[LAL])


def test_the_built_ins_are_these() -> None:
    assert set(BUILT_INS) <= set(strategy_names())


@pytest.mark.parametrize("name", BUILT_INS)
def test_a_built_in_backtests_on_its_defaults(name: str, data: Path, tmp_path: Path) -> None:
    args = ["backtest", "--strategy", name, *NEEDS.get(name, []), "--data", str(data), "--json"]
    done = kalshi(args, tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert not report["failed"] and report["spec"]["strategy"] == name
    assert report["equity"], "the run went over the recording"


def test_a_list_parameter_from_a_params_file_reaches_the_run(data: Path, tmp_path: Path) -> None:
    params = tmp_path / "arbitrage.yaml"
    params.write_text("exhaustive_events: [KXNBAGAME-SIM-LALGSW]\n")
    args = ["backtest", "--strategy", "arbitrage", "--params", str(params), "--data", str(data)]
    done = kalshi([*args, "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    given = dict(json.loads(done.stdout)["spec"]["params"])
    assert given["exhaustive_events"] == ["KXNBAGAME-SIM-LALGSW"]
