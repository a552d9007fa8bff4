"""The risk engine's events are told (logged, alerted, counted) once what they tell of is in
the state file: a trip made while the loop books a drain of answers (one transaction for all
of them) is told when that transaction commits, and one that rolled back is never told. A
trader who reads "safe_mode" in the log, or gets its webhook, and runs `kalshi status` in
another process reads SAFE_MODE."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.risk.engine import RiskEngine, RiskLimits
from kalshi_cli.runner.assembly import risk_sink
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.books.records import LoopTradingRecords
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.trading_state import TradingState
from tests.conftest import standard_rates

START = 1_767_268_800.0  # 2026-01-01 12:00 UTC


def _state_elsewhere(path: Path) -> str:
    """The trading state as another process reads it."""
    other = Store.open_readonly(path)
    assert other is not None
    with other:
        return other.trading.trading_state().state


def _logged(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["event"] for line in path.read_text().splitlines()]


def _engine(
    tmp_path: Path,
) -> tuple[Store, EntryLog, RiskEngine, list[tuple[str, str]], Path]:
    clock = ManualClock(START)
    store = Store.open(tmp_path / "state.db", clock=clock)
    log_path = tmp_path / "trade.log"
    log = EntryLog(clock, path=log_path, stderr=None)
    seen: list[tuple[str, str]] = []

    def on_entry(kind: str, data: Any) -> None:
        # what another process reads at the moment the event is told
        seen.append((kind, _state_elsewhere(tmp_path / "state.db")))

    sink = risk_sink(store, log, None, on_entry)
    limits = RiskLimits(max_consecutive_errors=2)
    engine = RiskEngine(
        LoopTradingRecords(store), limits, clock=clock, fee_rates=standard_rates, sink=sink
    )
    return store, log, engine, seen, log_path


def test_a_safe_mode_tripped_inside_a_transaction_is_told_once_it_is_committed(
    tmp_path: Path,
) -> None:
    store, log, engine, seen, log_path = _engine(tmp_path)
    with store, contextlib.closing(log):
        with store.transaction():
            engine.api_guard.record_error(ServerError("boom", status=503))
            verdict = engine.api_guard.record_error(ServerError("boom", status=503))
            assert verdict.safe_mode
            assert seen == [], "told while another process still read ACTIVE"
            assert "safe_mode" not in _logged(log_path)
        assert seen == [("safe_mode", "SAFE_MODE")]
        assert "safe_mode" in _logged(log_path)


def test_a_trip_whose_transaction_rolled_back_is_never_told(tmp_path: Path) -> None:
    store, log, engine, seen, log_path = _engine(tmp_path)
    with store, contextlib.closing(log):
        with pytest.raises(RuntimeError), store.transaction():
            engine.api_guard.record_error(ServerError("boom", status=503))
            engine.api_guard.record_error(ServerError("boom", status=503))
            raise RuntimeError("the booking after it failed")
        assert seen == []
        assert "safe_mode" not in _logged(log_path)
        assert _state_elsewhere(tmp_path / "state.db") == TradingState.ACTIVE.value
        # outside any transaction an event is told at once, its write committed by then
        engine.api_guard.record_error(ServerError("boom", status=503))
        engine.api_guard.record_error(ServerError("boom", status=503))
        assert seen == [("safe_mode", "SAFE_MODE")]
