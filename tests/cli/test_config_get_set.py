"""`kalshi config get` reads the environment a key names, and `config unset KEY` takes it out:
the key leaves the file and the default is in force again, as the help says; `config set` never
resets a key (an empty or null value is refused)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .fakes import run


def test_get_of_an_environment_key_reads_that_environment(tmp_path: Path) -> None:
    assert run(["config", "set", "demo.tier", "advanced"], home=tmp_path).exit_code == 0
    result = run(["config", "get", "demo.tier"], home=tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout == "advanced\n"
    # the simulator's own tier is untouched, and a bare key reads the selected environment
    assert run(["config", "get", "sim.tier"], home=tmp_path).stdout == "basic\n"
    assert run(["config", "get", "tier", "--env", "demo"], home=tmp_path).stdout == "advanced\n"


def test_get_of_one_environment_with_another_selected_is_refused(tmp_path: Path) -> None:
    result = run(["config", "get", "demo.tier", "--env", "prod"], home=tmp_path)
    assert result.exit_code == 2
    assert "demo.tier" in result.stderr and "prod" in result.stderr


def test_unset_takes_out_a_key_whose_value_may_not_be_null(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    assert run(["config", "set", "risk.max_orders_per_minute", "7"], home=tmp_path).exit_code == 0
    assert "max_orders_per_minute: 7" in config.read_text()
    result = run(["config", "unset", "risk.max_orders_per_minute"], home=tmp_path)
    assert result.exit_code == 0, result.output
    assert "max_orders_per_minute" not in config.read_text()
    assert "unset" in result.stdout
    shown = run(["config", "get", "risk.max_orders_per_minute", "--json"], home=tmp_path)
    assert '"source": "default"' in shown.stdout


def test_unset_keeps_the_comments_and_the_other_keys(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "# my settings\nrisk:\n  # keep me\n  max_orders_per_minute: 7\n  min_edge: 0.03\n"
    )
    result = run(["config", "unset", "risk.max_orders_per_minute"], home=tmp_path)
    assert result.exit_code == 0, result.output
    assert config.read_text() == "# my settings\nrisk:\n  # keep me\n  min_edge: 0.03\n"


def test_unset_of_a_key_that_is_not_set_changes_nothing_and_says_so(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("timeout: 5\n")
    result = run(["config", "unset", "risk.min_edge"], home=tmp_path)
    assert result.exit_code == 0, result.output
    assert config.read_text() == "timeout: 5\n"
    assert "not set" in result.stdout


def test_set_of_the_environment_to_an_unknown_one_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("timeout: 5\n")
    result = run(["config", "set", "env", "staging"], home=tmp_path)
    # the value is refused as a bad argument, the file left as it was
    assert result.exit_code == 2, result.output
    assert "not written" in result.stderr and "staging" in result.stderr
    assert config.read_text() == "timeout: 5\n"
    # every later command still reads the file
    assert run(["config", "get", "timeout"], home=tmp_path).exit_code == 0


def test_show_refuses_a_file_that_the_trade_loop_would_refuse(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("risk:\n  max_order_count: ten\n")
    result = run(["config", "show"], home=tmp_path)
    assert result.exit_code == 3, result.output
    assert "max_order_count" in result.stderr


def test_get_of_a_strategy_param_no_file_sets_prints_its_params_default(tmp_path: Path) -> None:
    """A fresh `config init` file sets no strategy parameter (they are commented out), yet
    `config get` prints the value in force: the strategy's own default, said to be one."""
    assert run(["config", "init"], home=tmp_path).exit_code == 0
    result = run(["config", "get", "strategies.market-maker.spread"], home=tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout == "0.04\n"
    shown = run(["config", "get", "strategies.market-maker.spread", "--json"], home=tmp_path)
    assert json.loads(shown.stdout)["values"] == [
        {"key": "strategies.market-maker.spread", "value": "0.04", "source": "default",
         "origin": "default"}
    ]  # fmt: skip
    # one parameter in the file: it is the file's, and the others are still the defaults
    changed = run(["config", "set", "strategies.market-maker.spread", "0.06"], home=tmp_path)
    assert changed.exit_code == 0, changed.output
    every = run(["config", "get", "strategies.market-maker", "--json"], home=tmp_path)
    values = {v["key"]: (v["value"], v["source"]) for v in json.loads(every.stdout)["values"]}
    assert values["strategies.market-maker.spread"] == ("0.06", "file")
    assert values["strategies.market-maker.quote_count"][1] == "default"
    assert run(["config", "get", "strategies.market-maker.sprad"], home=tmp_path).exit_code == 2


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("risk.max_order_count", "0x10", "`risk.max_order_count`: 0x10 is not a plain decimal"),
        ("timeout", "010", "`timeout`: 010 is not a plain decimal number"),
        ("timeout", "9" * 5000, "`timeout`: a number of 5,000 characters"),
    ],
)
def test_set_of_a_number_not_plain_decimal_or_too_long_names_the_key_and_writes_nothing(
    tmp_path: Path, key: str, value: str, says: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("timeout: 5\n")
    result = run(["config", "set", key, value], home=tmp_path)
    assert result.exit_code == 2, result.output  # as every value `config set` refuses
    assert f"not written: {config}:" in result.stderr and says in result.stderr
    assert config.read_text() == "timeout: 5\n"


@pytest.mark.parametrize("value", ["", "  ", "null", "~"])
def test_set_of_an_empty_or_null_value_is_refused_and_writes_nothing(
    tmp_path: Path, value: str
) -> None:
    # a script whose variable is empty must not reset a risk limit to its default
    config = tmp_path / "config.yaml"
    config.write_text("risk:\n  max_orders_per_minute: 7\n")
    result = run(["config", "set", "risk.max_orders_per_minute", value], home=tmp_path)
    assert result.exit_code == 2, result.output
    assert "kalshi config unset risk.max_orders_per_minute" in result.stderr
    assert config.read_text() == "risk:\n  max_orders_per_minute: 7\n"


def test_unset_says_the_value_now_in_force_and_where_it_comes_from(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("# mine\nrisk:\n  max_orders_per_minute: 7\n  min_edge: 0.03\n")
    result = run(["config", "unset", "risk.max_orders_per_minute"], home=tmp_path)
    assert result.exit_code == 0, result.output
    assert config.read_text() == "# mine\nrisk:\n  min_edge: 0.03\n"
    in_force = run(["config", "get", "risk.max_orders_per_minute"], home=tmp_path).stdout.strip()
    assert result.stdout.endswith(f"now {in_force} (default)\n"), result.stdout
    assert f"{config}:3: risk.max_orders_per_minute unset" in result.stdout


def test_unset_of_an_environment_setting_names_the_environment_value_in_force(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yaml"
    assert run(["config", "set", "tier", "advanced", "--env", "demo"], home=tmp_path).exit_code == 0
    # the command's --env names the section written, as `config unset`'s names the one taken out
    assert config.read_text() == "demo:\n  tier: advanced\n"
    result = run(
        ["config", "unset", "tier", "--env", "demo"],
        home=tmp_path,
        environ={"KALSHI_TIER": "premier"},
    )
    assert result.exit_code == 0, result.output
    assert "tier" not in config.read_text().split("demo:", 1)[-1]
    assert result.stdout.endswith("now premier (env: KALSHI_TIER)\n"), result.stdout
