"""`kalshi trade` and `kalshi backtest` take one set of lineup options (`--strategy` repeated,
`--params NAME=FILE`, `--budget NAME:KEY=VALUE`, `--model`): a sweep names whose parameter it
varies (`NAME.param=values`) and `backtest runs list` names the whole lineup. In-process, on a
short recording."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.vocabulary.exit_codes import ExitCode

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
TWO = ["--strategy", "spike", "--strategy", "market-maker"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("lineup"), seconds=60, tickers=[LAL])


def kalshi(args: list[str], home: Path) -> tuple[int, str]:
    context = AppContext(environ={"KALSHI_HOME": str(home), "XDG_CACHE_HOME": str(home / "c")})
    done = CliRunner().invoke(app, args, obj=context, env={"COLUMNS": "200"}, prog_name="kalshi")
    return done.exit_code, done.output


def as_json(out: str) -> Any:
    return json.loads(out[out.index("{") : out.rindex("}") + 1])


def test_backtest_reads_params_name_equals_file_for_the_strategy_it_names(
    data: Path, tmp_path: Path
) -> None:
    keeper = tmp_path / "mm.yaml"
    keeper.write_text("spread: '0.06'\n")
    args = ["backtest", *TWO, "--data", str(data), "--params", f"market-maker={keeper}"]
    code, out = kalshi([*args, "--no-cache", "--json"], tmp_path)
    assert code == 0, out
    ((other, params),) = as_json(out)["spec"]["beside"]
    assert other == "market-maker" and ["spread", "0.06"] in params


def test_a_sweep_varies_the_parameter_of_the_strategy_it_names_and_the_list_shows_the_lineup(
    data: Path, tmp_path: Path
) -> None:
    args = ["backtest", *TWO, "--data", str(data), "--jobs", "1", "--no-cache"]
    code, out = kalshi([*args, "--param", "market-maker.spread=0.03,0.05", "--json"], tmp_path)
    assert code == 0, out
    runs = as_json(out)["runs"]
    assert sorted(r["params"]["market-maker.spread"] for r in runs) == ["0.03", "0.05"]
    assert len({r["params"]["spike.take_profit"] for r in runs}) == 1  # spike's untouched
    code, out = kalshi(["backtest", "runs", "list", "--json"], tmp_path)
    (line,) = as_json(out)["runs"]
    assert line["strategy"] == "spike, market-maker"
    code, out = kalshi([*args, "--param", "spread=0.03,0.05"], tmp_path)
    assert code == ExitCode.USAGE and "say whose: --param NAME.spread" in out


def test_a_budget_on_the_command_line_reaches_the_backtests_trade_section(
    data: Path, tmp_path: Path
) -> None:
    args = ["backtest", *TWO, "--data", str(data), "--no-cache", "--json"]
    code, out = kalshi([*args, "--budget", "spike:max_exposure=5"], tmp_path)
    assert code == 0, out
    trade = dict(as_json(out)["spec"]["trade"])
    assert trade["budgets"] == {"spike": {"max_exposure": "5"}}


@pytest.mark.parametrize("command", ["trade", "backtest"])
@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--budget", "arbitrage:max_exposure=5"], "no strategy arbitrage runs"),
        (["--budget", "spike:max_exposure=-1"], "max_exposure must be positive"),
        (["--budget", "spike=5"], "expected NAME:KEY=VALUE"),
        (["--params", "x.yaml"], "say whose"),
        (["--params", "arbitrage=x.yaml"], "no --strategy of that name"),
        (["--strategy", "spike"], "given twice"),
    ],
)
def test_both_commands_refuse_a_malformed_lineup_alike(
    tmp_path: Path, command: str, extra: list[str], said: str
) -> None:
    code, out = kalshi([command, *TWO, *extra, "--data", str(tmp_path)][: None if command ==
                       "backtest" else -2], tmp_path)  # fmt: skip
    assert code == ExitCode.USAGE, out
    assert said in out


def test_the_trade_banners_risk_rules_list_each_strategys_budget() -> None:
    from kalshi_cli.runner.config import Selection, StrategyChoice, TradeConfig, TradeOptions
    from kalshi_cli.runner.lifecycle.banner import describe

    config = TradeConfig(trade={"budgets": {"spike": {"max_exposure": "50"}, "other": {}}})
    options = TradeOptions(strategies=(StrategyChoice("spike"), StrategyChoice("market-maker")))
    lines = describe("sim", options, config, Selection(), None)
    rules = lines[lines.index("risk rules:") :]
    (spike,) = [line for line in rules if "budget spike" in line]
    assert "max_exposure=50" in spike and "max_contracts=-" in spike
    (maker,) = [line for line in rules if "budget market-maker" in line]
    assert "the account's limits alone" in maker
    assert not [line for line in rules if "budget other" in line]  # not running


def docs_lineup() -> str:
    """The lineup example of docs/strategies.md "Several strategies in one loop"."""
    import re

    text = (Path(__file__).parents[2] / "docs" / "strategies.md").read_text()
    blocks: list[str] = re.findall(r"```yaml\n(.*?)```", text, re.S)
    return next(b for b in blocks if "- name:" in b)


def test_the_configs_entries_are_the_lineup_of_both_commands(data: Path, tmp_path: Path) -> None:
    from kalshi_cli.runner.config import choose_lineup, load_trade_config

    (tmp_path / "config.yaml").write_text(docs_lineup())
    config, lineup = choose_lineup(load_trade_config(tmp_path / "config.yaml"), ())
    assert [c.spec for c in lineup] == ["market-maker", "spike"]
    budgets = config.settings.budgets
    assert budgets["market-maker"].max_exposure == 50 and budgets["spike"].daily_loss_limit == 10
    code, out = kalshi(["backtest", "--data", str(data), "--no-cache", "--json"], tmp_path)
    assert code == 0, out
    spec = as_json(out)["spec"]
    assert spec["names"] == ["market-maker", "spike"] and ["spread", "0.06"] in spec["params"]
    ((_, spike),) = spec["beside"]
    assert ["spike_share", "0.15"] in spike
    assert dict(spec["trade"])["budgets"]["spike"] == {"daily_loss_limit": 10}
    # `config get` reads the entries as every command does
    assert kalshi(["config", "get", "strategies.spike.spike_share"], tmp_path) == (0, "0.15\n")


def test_a_strategy_configured_in_an_entry_and_a_short_form_is_refused(tmp_path: Path) -> None:
    from kalshi_cli.runner.config import load_trade_config
    from kalshi_cli.vocabulary.errors import ConfigError

    path = tmp_path / "config.yaml"
    path.write_text(docs_lineup() + "strategies:\n  spike: {spike_share: 0.2}\n")
    with pytest.raises(ConfigError, match="spike is configured twice"):
        load_trade_config(path)
