"""The risk layer over the real state file: what it persists survives closing and reopening."""

from decimal import Decimal as D

from kalshi_cli.risk.engine import RiskEngine, RiskLimits
from kalshi_cli.risk.rules import Code
from kalshi_cli.risk.state import TradingState, resume
from kalshi_cli.store import Store
from kalshi_cli.store.records import FillRecord
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import standard_rates

START = 1_700_000_000.0


def buy() -> Intent:
    return Intent("T", Side.YES, Action.BUY, D("0.40"), D(10), D("0.50"), "test")


def codes(engine: RiskEngine) -> list[str]:
    ctx = engine.context(PositionView("T"), total_exposure=D(0), last_data_at=engine.clock.wall())
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
