"""A backtest counts every signal its strategy decided whether or not it keeps them, and a run
with an entry log writes each order's fields: the loop builds an order's log fields only for a
log that writes them (`EntryLog.reads`), and a backtest's log without a file only counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kalshi_cli.backtest import BacktestSpec, execute
from kalshi_cli.data.scenario_recording import record_scenario

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
# a quoting strategy requotes in place: its signals, and its amends, are every order action
STRATEGY = "market-maker"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("mm"), seconds=200, tickers=[LAL])


def test_signals_are_counted_alike_kept_or_not(data: Path) -> None:
    spec = BacktestSpec(data=str(data), strategy=STRATEGY)
    kept = execute(spec, keep_signals=True)
    counted = execute(spec)
    assert kept.signal_count == len(kept.signals) > 0
    assert counted.signal_count == kept.signal_count
    assert counted.signals == []


def test_a_written_log_carries_each_orders_fields(data: Path, tmp_path: Path) -> None:
    log = tmp_path / "entries.jsonl"
    execute(BacktestSpec(data=str(data), strategy=STRATEGY), log_path=log)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    signals = [e for e in lines if e["event"] == "signal"]
    amended = [e for e in lines if e["event"] == "order_amended"]
    assert signals and amended
    for entry in signals + amended:
        assert {"ticker", "side", "price", "count", "edge", "strategy", "reason"} <= set(entry)
    assert all({"order_id", "status", "remaining"} <= set(e) for e in amended)
