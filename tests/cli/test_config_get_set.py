"""`kalshi config get` reads the environment a key names, and `config set KEY null` unsets it:
the key leaves the file and the default is in force again, as the help says."""

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


def test_set_null_unsets_a_key_whose_value_may_not_be_null(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    assert run(["config", "set", "risk.max_orders_per_minute", "7"], home=tmp_path).exit_code == 0
    assert "max_orders_per_minute: 7" in config.read_text()
    result = run(["config", "set", "risk.max_orders_per_minute", "null"], home=tmp_path)
    assert result.exit_code == 0, result.output
    assert "max_orders_per_minute" not in config.read_text()
    assert "unset" in result.stdout
    shown = run(["config", "get", "risk.max_orders_per_minute", "--json"], home=tmp_path)
    assert '"source": "default"' in shown.stdout


def test_set_null_keeps_the_comments_and_the_other_keys(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "# my settings\nrisk:\n  # keep me\n  max_orders_per_minute: 7\n  min_edge: 0.03\n"
    )
    result = run(["config", "set", "risk.max_orders_per_minute", "~"], home=tmp_path)
    assert result.exit_code == 0, result.output
    assert config.read_text() == "# my settings\nrisk:\n  # keep me\n  min_edge: 0.03\n"


def test_set_null_of_a_key_that_is_not_set_changes_nothing_and_says_so(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("timeout: 5\n")
    result = run(["config", "set", "risk.min_edge", "null"], home=tmp_path)
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
