"""The risk layer over the real state file: what it persists survives closing and reopening."""

from decimal import Decimal as D

import pytest

from kalshi_cli.risk.engine import RiskEngine, RiskLimits
from kalshi_cli.risk.rules import Code
from kalshi_cli.risk.state import resume
from kalshi_cli.store import Store
from kalshi_cli.store.records import FillRecord
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import standard_rates
from tests.fakes import loop_context
from tests.runner.crash_rig import Killed, crash_at

START = 1_700_000_000.0


def buy() -> Intent:
    return Intent("T", Side.YES, Action.BUY, D("0.40"), D(10), D("0.50"), "test")


def codes(engine: RiskEngine) -> list[str]:
    ctx = loop_context(
        engine, PositionView("T"), total_exposure=D(0), last_data_at=engine.clock.wall()
    )
    return [d.code for d in engine.evaluate(buy(), ctx)]


def losing_fill(pnl: str) -> FillRecord:
    return FillRecord(
        "f1", "o1", None, "T", BookSide.ASK, D("0.30"), D(10), D("0.15"), True, START,
        realized_pnl=D(pnl),
    )  # fmt: skip


def test_circuit_breaker_trip_survives_reopening_the_state_file(tmp_path):
    clock = ManualClock(START)
    limits = RiskLimits(daily_loss_limit=D(50))
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        store.fills.record_fill(losing_fill("-50"))
        engine = RiskEngine(
            store.trading,
            limits,
            clock=clock,
            fee_rates=standard_rates,
            sink=lambda kind, data: None,
        )
        assert engine.check_circuit_breaker()
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        assert store.trading.trading_state().state == TradingState.REDUCING
        resume(store.trading)
        engine = RiskEngine(
            store.trading,
            limits,
            clock=clock,
            fee_rates=standard_rates,
            sink=lambda kind, data: None,
        )
        assert codes(engine) == [Code.CIRCUIT_BREAKER]


def test_safe_mode_survives_reopening_until_resumed(tmp_path):
    clock = ManualClock(START)
    limits = RiskLimits(max_consecutive_errors=2)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        engine = RiskEngine(
            store.trading,
            limits,
            clock=clock,
            fee_rates=standard_rates,
            sink=lambda kind, data: None,
        )
        for _ in range(2):
            engine.api_guard.record_error(ServerError("boom", status=502))
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        engine = RiskEngine(
            store.trading,
            limits,
            clock=clock,
            fee_rates=standard_rates,
            sink=lambda kind, data: None,
        )
        assert codes(engine) == [Code.SAFE_MODE]
        assert [t.code for t in store.trading.risk_trips(rule="api_error_guard")] == ["SAFE_MODE"]
        resume(store.trading)
        assert codes(engine) == []


def _engine(store: Store, clock: ManualClock, limits: RiskLimits) -> RiskEngine:
    return RiskEngine(
        store.trading, limits, clock=clock, fee_rates=standard_rates, sink=lambda kind, data: None
    )


def test_a_kill_as_a_trip_is_written_leaves_its_trading_state_with_it_or_neither(tmp_path):
    """A trip is recorded with the trading state it sets, in one commit: a restart reads the
    state (`kalshi status`, the order commands, the API error guard's SAFE_MODE is nothing
    else), so a kill between the two left the circuit breaker's trip with the state ACTIVE (the
    order commands took orders the breaker's REDUCING refuses, and `status` said ACTIVE), and
    the guard's trip with no SAFE_MODE at all (the next start traded). Killed as the state is
    written, the file keeps neither; the breaker, its day's loss still there, trips again at
    the next start."""
    clock = ManualClock(START)
    limits = RiskLimits(daily_loss_limit=D(50), max_consecutive_errors=2)
    state, left = tmp_path / "state.db", tmp_path / "left.db"
    with Store.open(state, clock=clock) as store:
        store.fills.record_fill(losing_fill("-50"))
        crash_at(store.trading, "set_trading_state", state, left, after=False)
        with pytest.raises(Killed):
            _engine(store, clock, limits).check_circuit_breaker()
    with Store.open(left, clock=clock) as store:
        assert _engine(store, clock, limits).check_circuit_breaker()
        assert store.trading.trading_state().state == TradingState.REDUCING
        assert len(store.trading.risk_trips()) == 1
        resume(store.trading)
        crash_at(store.trading, "set_trading_state", left, state, after=False)
        engine = _engine(store, clock, limits)
        with pytest.raises(Killed):
            for _ in range(2):
                engine.api_guard.record_error(ServerError("boom", status=502))
    with Store.open(state, clock=clock) as store:
        assert store.trading.risk_trips(rule="api_error_guard") == []
        assert store.trading.trading_state().state == TradingState.ACTIVE
