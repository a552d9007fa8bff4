"""The API error guard trips SAFE_MODE on an outage measured in seconds as well as in errors:
a loop that backs off makes few calls, so the count alone climbs slowly through an exchange
that fails every request."""

from __future__ import annotations

from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ApiError, ServerError
from kalshi_cli.vocabulary.trading_state import TradingState
from tests.risk.fakes import START, make


def _error() -> ServerError:
    return ServerError("GET /portfolio/fills failed: HTTP 503", status=503)


def test_an_outage_of_api_outage_s_trips_safe_mode_with_few_errors() -> None:
    engine, records, clock, events = make(
        RiskLimits(max_consecutive_errors=50, api_outage_s=20.0), clock=ManualClock(START)
    )
    guard = engine.api_guard
    verdict = guard.record_error(_error())
    waited = 0.0
    # the loop waits out each backoff, then its next call fails again
    while not verdict.safe_mode:
        assert verdict.delay_s > 0
        clock.advance(verdict.delay_s)
        waited += verdict.delay_s
        assert waited <= 20.0, "a backoff ran past the outage deadline"
        verdict = guard.record_error(_error())
    assert waited == 20.0
    assert guard.consecutive == 0  # a fresh count awaits `kalshi resume`
    assert records.trading_state().state == TradingState.SAFE_MODE
    detail = next(data["detail"] for kind, data in events.seen if kind == "safe_mode")
    assert "API outage" in detail and "20.0s" in detail


def test_a_success_inside_the_window_starts_the_outage_clock_again() -> None:
    engine, records, clock, _ = make(RiskLimits(max_consecutive_errors=50, api_outage_s=10.0))
    guard = engine.api_guard
    guard.record_error(_error())
    clock.advance(8)
    guard.record_success()
    guard.record_error(_error())
    clock.advance(8)
    assert not guard.record_error(_error()).safe_mode
    assert records.trading_state().state == TradingState.ACTIVE


def test_an_error_that_says_nothing_of_the_exchange_does_not_start_the_clock() -> None:
    engine, records, clock, _ = make(RiskLimits(max_consecutive_errors=50, api_outage_s=5.0))
    guard = engine.api_guard
    guard.record_error(ApiError("400 invalid_parameters", status=400))
    clock.advance(30)
    assert not guard.record_error(_error()).safe_mode
    assert records.trading_state().state == TradingState.ACTIVE
