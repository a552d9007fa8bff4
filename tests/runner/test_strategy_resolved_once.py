"""The strategy of a run is looked up once, where the run is asked for, and the loop runs the
very strategy found there: `kalshi trade` hands each resolved strategy down in its
`StrategyChoice`, and building the loop looks nothing up again, so a registry changed after
the lookup changes nothing in the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli import strategies
from kalshi_cli.runner import assembly
from kalshi_cli.runner.config import StrategyChoice
from kalshi_cli.runner.lifecycle import launch
from tests.cli.fakes import FakeClient, run
from tests.runner.fakes import make_rig


def _counting(base: Any, calls: list[int]) -> Any:
    def decide(*args: Any) -> Any:
        calls.append(1)
        return base.decide(*args)

    return replace(base, decide_fn=decide)


def test_the_loop_runs_the_strategy_its_choice_was_resolved_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    resolved = _counting(strategies.get_strategy("spike"), calls)

    def no_lookup(spec: str) -> Any:
        raise AssertionError(f"the loop looked {spec!r} up again")

    # from here on the registry answers nothing the loop could run
    monkeypatch.setattr(assembly, "get_strategy", no_lookup)
    rig = make_rig(tmp_path / "s.db", strategies=[StrategyChoice("spike", strategy=resolved)])
    assert rig.loop.reloads.lineup.members[0].strategy is resolved
    rig.loop.tick(rig.feed.drain_messages(), full=True)
    assert calls, "the resolved strategy decided the tick"


def test_a_choice_given_by_its_spec_alone_is_looked_up_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked: list[str] = []
    real = strategies.get_strategy

    def spy(spec: str) -> Any:
        looked.append(spec)
        return real(spec)

    monkeypatch.setattr(assembly, "get_strategy", spy)
    rig = make_rig(tmp_path / "s.db", strategies=["spike"])
    assert looked == ["spike"]
    assert rig.loop.reloads.lineup.names == ("spike",)


def _trade_until_the_loop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str]
) -> tuple[list[str], Any]:
    """`kalshi trade ARGS` up to the call that starts the loop: the strategy lookups it made
    and the options it handed on."""
    looked: list[str] = []
    real: Callable[[str], Any] = strategies.get_strategy

    def spy(spec: str) -> Any:
        looked.append(spec)
        return real(spec)

    handed: list[Any] = []
    monkeypatch.setattr(strategies, "get_strategy", spy)
    monkeypatch.setattr(launch, "run_trade", lambda options, **_: handed.append(options))
    result = run(["trade", *args], client=FakeClient(), home=tmp_path)
    assert result.exit_code == 0, result.output
    (options,) = handed
    return looked, options


def test_kalshi_trade_looks_each_strategy_up_once_and_hands_it_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked, options = _trade_until_the_loop(
        monkeypatch,
        tmp_path,
        ["--strategy", "spike", "--strategy", "market-maker", "--dry-run", "--once"],
    )
    assert sorted(looked) == ["market-maker", "spike"]
    assert [c.strategy.name for c in options.strategies] == ["spike", "market-maker"]


def test_a_strategy_file_is_loaded_once_by_kalshi_trade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = Path(__file__).resolve().parents[2] / "examples" / "strategies" / "fair_value.py"
    looked, options = _trade_until_the_loop(
        monkeypatch, tmp_path, ["--strategy", str(source), "--dry-run", "--once"]
    )
    assert len(looked) == 1
    (choice,) = options.strategies
    assert choice.strategy is not None
    assert choice.spec == choice.strategy.spec == str(source)


def test_a_configured_strategy_file_is_loaded_once_by_the_config_check_and_kalshi_trade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = Path(__file__).resolve().parents[2] / "examples" / "strategies" / "fair_value.py"
    (tmp_path / "strats").mkdir()
    (tmp_path / "strats" / "fv.py").write_text(source.read_text())
    (tmp_path / "config.yaml").write_text(
        "strategies:\n  fair-value:\n    strategy: strats/fv.py\n    fair: 0.6\n"
    )
    looked, options = _trade_until_the_loop(
        monkeypatch, tmp_path, ["--strategy", "fair-value", "--dry-run", "--once"]
    )
    path = str(tmp_path / "strats" / "fv.py")
    assert looked == [path]  # by the config check; the run takes what it found
    (choice,) = options.strategies
    assert choice.spec == path
    assert choice.strategy is not None and choice.strategy.name == "fair-value"
