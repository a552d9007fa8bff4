"""Every number a person writes in the config file is finite and in its range, or `kalshi trade`
refuses to start with one line naming the file and line (exit 3), before it builds a client.

The walk takes its keys from the code that owns them: every field of `RiskLimits` and of each
built-in strategy's parameters, the numeric `trade.*` keys, every check threshold, every order
limit, the top-level durations; each is given NaN, an infinity and a negative infinity."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.checks.thresholds import THRESHOLDS
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.strategies import get_strategy, strategy_names
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.cli.fakes import run

NUMBER_KINDS = (int, float, Decimal, "int", "float", "Decimal")

TRADE_NUMBERS = (
    "status_interval_s",
    "tick_interval_s",
    "log_max_bytes",
    "log_backups",
    "log_coalesce_s",
    "deadman_interval_s",
    "order_group_limit",
)


def _fields(cls: Any) -> list[str]:
    """The numeric fields of a dataclass (the risk limits) or of a strategy's params Struct
    (their `Annotated[Decimal, Range(...)]` types read as the type they annotate)."""
    import typing

    import msgspec

    if isinstance(cls, type) and issubclass(cls, msgspec.Struct):
        hints = typing.get_type_hints(cls)
        return [
            f.name
            for f in msgspec.structs.fields(cls)
            if (
                typing.get_origin(hints[f.name]) is typing.Annotated
                and typing.get_args(hints[f.name])[0] in NUMBER_KINDS
            )
            or hints[f.name] in NUMBER_KINDS
        ]
    return [f.name for f in dataclasses.fields(cls) if f.type in NUMBER_KINDS]


def _keys() -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = [("risk", name) for name in _fields(RiskLimits)]
    for name in strategy_names():
        params = get_strategy(name).params_type
        keys += [("strategies", name, field) for field in _fields(params)]
    keys += [("trade", name) for name in TRADE_NUMBERS]
    keys += [("checks", t.check, t.key) for t in THRESHOLDS]
    keys += [("timeout",), ("read_lag",)]
    return keys


def _yaml(key: tuple[str, ...], value: str) -> str:
    lines = []
    for depth, part in enumerate(key[:-1]):
        lines.append("  " * depth + f"{part}:")
    lines.append("  " * (len(key) - 1) + f"{key[-1]}: {value}")
    return "\n".join(lines) + "\n"


def _refused(tmp_path: Path, text: str) -> str:
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    result = run(["trade", "--strategy", "spike", "--dry-run"], home=tmp_path)  # no client
    assert result.exit_code == ExitCode.CONFIG, (text, result.exit_code, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_the_walk_finds_the_keys() -> None:
    keys = _keys()
    assert ("risk", "min_edge") in keys and ("risk", "api_outage_s") in keys
    assert ("strategies", "spike", "max_hold_s") in keys
    assert len(keys) > 60


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "'nan'", "'Infinity'"])
@pytest.mark.parametrize("key", _keys(), ids=".".join)
def test_a_config_number_that_is_not_finite_is_refused_with_file_and_line(
    tmp_path: Path, key: tuple[str, ...], value: str
) -> None:
    line = _refused(tmp_path, _yaml(key, value))
    assert f"config.yaml:{len(key)}" in line, line


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (("risk", "min_edge"), "-0.01"),
        (("risk", "min_edge"), "1"),
        (("risk", "api_outage_s"), "0"),
        (("risk", "api_outage_s"), "-5"),
        (("risk", "maintenance_lead_s"), "-1"),
        (("risk", "max_position_per_market"), "0"),
        (("risk", "stop_loss_share"), "1"),
    ],
    ids=lambda x: ".".join(x) if isinstance(x, tuple) else x,
)
def test_a_config_number_out_of_its_range_is_refused_with_file_and_line(
    tmp_path: Path, key: tuple[str, ...], value: str
) -> None:
    line = _refused(tmp_path, _yaml(key, value))
    assert f"config.yaml:{len(key)}" in line and ".".join(key[1:]) in line, line


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "Infinity"])
@pytest.mark.parametrize("variable", ["KALSHI_TIMEOUT", "KALSHI_READ_LAG"])
def test_a_number_in_the_environment_that_is_not_finite_is_refused(
    tmp_path: Path, variable: str, value: str
) -> None:
    result = run(
        ["trade", "--strategy", "spike", "--dry-run"], home=tmp_path, environ={variable: value}
    )
    assert result.exit_code == ExitCode.CONFIG, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {variable}:"), result.stderr
