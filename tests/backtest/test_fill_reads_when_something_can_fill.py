"""A backtest's venue holds only the loop's orders (`LoopSettings.fills_of_its_orders_only`):
while nothing of the account rests, is held or is on its way, no fill can come, and the loop
makes no timed fill read; once an order rests or a position is held it reads them as before
(the golden results, tests/backtest/test_golden_results.py, hold every run's fills to the
cent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.backtest import BacktestSpec, run_backtest
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.runner.execution.fills import FillSync

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("reads"), seconds=60)


def _reads(
    monkeypatch: pytest.MonkeyPatch, data: Path, strategy: str
) -> tuple[int, dict[str, Any]]:
    reads = [0]
    read_for = FillSync.read_for

    def counted(self: FillSync, *args: object, **kwargs: object) -> None:
        reads[0] += 1
        read_for(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(FillSync, "read_for", counted)
    report = run_backtest(BacktestSpec(data=str(data), strategy=strategy))
    return reads[0], report


def test_a_run_that_never_orders_reads_no_fills(
    monkeypatch: pytest.MonkeyPatch, recording: Path
) -> None:
    reads, report = _reads(monkeypatch, recording, str(BENCH / "strategy_book_only.py"))
    assert report["data"]["book_events"] > 0
    assert report["totals"]["orders"] == 0
    assert reads == 0


def test_a_run_whose_orders_rest_reads_its_fills(
    monkeypatch: pytest.MonkeyPatch, recording: Path
) -> None:
    reads, report = _reads(monkeypatch, recording, str(BENCH / "strategy_join_best.py"))
    assert report["totals"]["orders"] > 0
    assert report["totals"]["fills"] > 0
    # one timed read every `fill_poll_s` (5 s) of the minute while its quotes rest
    assert reads >= 60 // 5 - 1
