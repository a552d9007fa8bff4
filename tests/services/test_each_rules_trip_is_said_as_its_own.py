"""`kalshi status` names the trips that still hold: the daily circuit breaker's of today (after
`kalshi resume` too) and the API error guard's under a halt. Each is read from its own rule's
trips: another rule's trip, however recent, is never said as the breaker's or the guard's."""

from __future__ import annotations

from pathlib import Path

from kalshi_cli.risk.engine import ApiErrorGuard, CircuitBreaker
from kalshi_cli.risk.state import halt, resume
from kalshi_cli.services.orders.status import trading_status
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock

GUARD = "5 consecutive API errors, last: 503 Service Unavailable"
BREAKER = "daily loss -150.00 reached the daily loss limit 100.00"


def test_a_day_only_the_api_error_guard_tripped_holds_no_breaker(tmp_path: Path) -> None:
    """The guard tripped today and trading was resumed: status reads ACTIVE and says no
    breaker holds new orders until tomorrow."""
    path = tmp_path / "state.db"
    now = SystemClock().wall()
    with Store.open(path, clock=ManualClock(now - 30)) as store:
        store.trading.record_risk_trip(rule=ApiErrorGuard.RULE, code="SAFE_MODE", detail=GUARD)
        resume(store.trading)
    status = trading_status(path, now=now)
    assert status.state == "ACTIVE"
    assert "circuit_breaker" not in status.details()


def test_a_breaker_trip_under_a_halt_is_not_said_as_the_guards(tmp_path: Path) -> None:
    """Under a halt the breaker tripped: status names no API error guard trip to be lifted
    with the halt. Once the guard trips too, it names the guard's, in its own words."""
    path = tmp_path / "state.db"
    now = SystemClock().wall()
    with Store.open(path, clock=ManualClock(now - 60)) as store:
        halt(store.trading, reason="by hand", source="kalshi halt")
    with Store.open(path, clock=ManualClock(now - 40)) as store:
        store.trading.record_risk_trip(
            rule=CircuitBreaker.RULE, code="CIRCUIT_BREAKER", detail=BREAKER
        )
    assert "api_error_guard" not in trading_status(path, now=now).details()
    with Store.open(path, clock=ManualClock(now - 30)) as store:
        store.trading.record_risk_trip(rule=ApiErrorGuard.RULE, code="SAFE_MODE", detail=GUARD)
    assert trading_status(path, now=now).details()["api_error_guard"] == (
        f"tripped while HALTED: {GUARD}; resuming lifts its SAFE_MODE too "
        "(`kalshi check api` grades the exchange's answers)"
    )
