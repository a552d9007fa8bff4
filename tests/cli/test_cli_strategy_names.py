"""One spelling of each strategy name: what `trade --help` offers is what `--strategy` accepts,
and the other spelling is refused with a "did you mean", as the config's sections are."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.strategies import get_strategy, strategy_names
from kalshi_cli.vocabulary.exit_codes import ExitCode

from .fakes import run

FAIR_VALUE = Path(__file__).resolve().parents[2] / "examples" / "strategies" / "fair_value.py"


def test_trade_help_offers_exactly_the_registered_names(tmp_path: Path) -> None:
    result = run(["trade", "--help"], home=tmp_path)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for name in strategy_names():
        assert name in text
        get_strategy(name)  # what help offers is accepted
    assert "mean_reversion" not in text
    assert "market_maker" not in text


@pytest.mark.parametrize(
    ("typed", "meant"), [("mean_reversion", "mean-reversion"), ("market_maker", "market-maker")]
)
def test_the_underscore_spelling_is_refused_before_any_client(
    tmp_path: Path, typed: str, meant: str
) -> None:
    # no client is given: the fake factory fails the test if the command builds one
    result = run(["trade", "--strategy", typed, "--dry-run", "--once"], home=tmp_path)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert f"unknown strategy '{typed}'" in result.stderr
    assert f"did you mean `{meant}`?" in result.stderr


def test_a_loop_refuses_a_strategy_whose_name_the_assistant_places_its_orders_under(
    tmp_path: Path,
) -> None:
    """`agent.strategy` names the owner of `kalshi mcp`'s orders: a loop running a strategy of
    that name (one of the trader's own, from a file) would own them (withdraw them at its
    stop, count their fills as its part)."""
    config = tmp_path / "config.yaml"
    config.write_text("agent:\n  strategy: fair-value\n")
    result = run(
        ["--config", str(config), "trade", "--strategy", str(FAIR_VALUE), "--dry-run", "--once"],
        home=tmp_path,
    )
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "agent.strategy" in result.stderr
    assert "fair-value" in result.stderr


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("market-maker", "another owner's name"),
        ("manual", "another owner's name"),
        ("desk assistant", "at most 31 ASCII"),
    ],
)
def test_a_loop_refuses_an_assistant_name_kalshi_mcp_refuses(
    tmp_path: Path, name: str, why: str
) -> None:
    """The loop reads `agent.strategy` (whose orders its background prune keeps for the day,
    and whose budget it leaves to the assistant) by the one rule `kalshi mcp` reads it by: a
    name it refuses is refused at its line before the loop starts, whatever strategy runs."""
    config = tmp_path / "config.yaml"
    config.write_text(f"agent:\n  strategy: {name}\n")
    result = run(
        ["--config", str(config), "trade", "--strategy", "spike", "--dry-run", "--once"],
        home=tmp_path,
    )
    assert result.exit_code == ExitCode.CONFIG, result.output
    assert f"{config}:2" in result.stderr and "agent.strategy" in result.stderr, result.stderr
    assert why in result.stderr, result.stderr
