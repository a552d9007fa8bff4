"""A run that crashes still stops as a stop should, and its log says what happened: the crash
(`crashed`), and what the stop did (`stop_proven` when it withdrew and proved everything),
never `shutdown_failed` for a stop that ran to its end. A step of the stop that fails with a bug
(here the trigger of the session's order group) is logged where it was met
(`stop_withdrawal_failed`), and the run ends as the crash it is; a stop that itself ends early
(before its `stopped` line) is a failed shutdown, and says so. A second interrupt as the run
crashes gives the crash's stop up, as it gives up any stop."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.runner.config import StrategyChoice, TradeOptions
from kalshi_cli.runner.lifecycle.running import run
from tests.runner.fakes import Rig
from tests.runner.lifecycle.test_stop_withdraws_past_a_failing_trigger import (
    _a_bug,
    quoting_in_a_group,
)
from tests.runner.test_strategies_share_a_loop import MM, _resting_of


def _quoting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rig:
    """A loop whose quote rests, in the session's order group, and whose next turn crashes."""
    rig = quoting_in_a_group(tmp_path)

    def a_crash() -> list[object]:
        raise RuntimeError("a bug in the loop")

    monkeypatch.setattr(rig.feed, "drain_messages", a_crash)
    return rig


def _crashed_run(rig: Rig) -> None:
    with pytest.raises(RuntimeError, match="a bug in the loop"):
        run(rig.loop, TradeOptions(strategies=(StrategyChoice(MM),), duration_s=600))
    assert _resting_of(rig, MM) == []


def test_a_crash_whose_stop_withdrew_and_proved_everything_logs_no_failed_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = _quoting(tmp_path, monkeypatch)
    rig.loop.stop.trigger_group = _a_bug
    _crashed_run(rig)
    counts = rig.loop.log.counts
    assert counts.get("crashed") == 1
    assert counts.get("stop_withdrawal_failed") == 1
    assert (counts.get("stop_proven"), counts.get("stopped")) == (1, 1)
    assert counts.get("shutdown_failed") is None


class _FailingHeartbeat:
    """A heartbeat whose last beat meets a bug: the stop ends there, before its summary."""

    def beat(self) -> None:
        raise RuntimeError("a bug in the last heartbeat")

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the stop went past its last beat to {name}")


def test_a_crash_whose_stop_ends_early_logs_the_failed_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = _quoting(tmp_path, monkeypatch)
    rig.loop.stop.heartbeat = _FailingHeartbeat()
    said: list[Mapping[str, Any] | None] = []
    emit = rig.loop.log.emit

    def keeping(kind: str, fields: Mapping[str, Any] | None = None) -> None:
        if kind == "shutdown_failed":
            said.append(fields)
        emit(kind, fields)

    monkeypatch.setattr(rig.loop.log, "emit", keeping)
    _crashed_run(rig)
    counts = rig.loop.log.counts
    assert (counts.get("crashed"), counts.get("stop_proven")) == (1, 1)
    assert counts.get("stopped") is None
    assert counts.get("shutdown_failed") == 1
    # the line names what ended the stop, the person's one clue to what it left undone
    assert said == [{"error": repr(RuntimeError("a bug in the last heartbeat"))}]


def test_a_crash_whose_stop_meets_a_second_interrupt_gives_the_stop_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = quoting_in_a_group(tmp_path)
    abandon = threading.Event()

    def a_crash_and_ctrl_c_twice() -> list[object]:
        abandon.set()
        raise RuntimeError("a bug in the loop")

    monkeypatch.setattr(rig.feed, "drain_messages", a_crash_and_ctrl_c_twice)
    options = TradeOptions(strategies=(StrategyChoice(MM),), duration_s=600)
    with pytest.raises(RuntimeError, match="a bug in the loop"):
        run(rig.loop, options, abandon=abandon)
    counts = rig.loop.log.counts
    assert (counts.get("crashed"), counts.get("shutdown_abandoned")) == (1, 1)
