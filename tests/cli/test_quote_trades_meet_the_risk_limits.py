"""Accepting a quote and confirming one are purchases: each meets the account's `risk:` limits
as `kalshi order place` does, refused (exit 9, the rule's code) with nothing sent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_cli.risk.engine import CircuitBreaker
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, utc_day
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.cli.test_rfq_cli import ok_json
from tests.conftest import REAL_CLOCK_WINDOW_S, SimHarness
from tests.prime_tier import Kalshi, kalshi_as, prime_simulator, state_path

T = "KXRFQRISK-26JAN01-A"


@pytest.fixture
def prime(tmp_path: Path) -> Iterator[SimHarness]:
    yield from prime_simulator(
        tmp_path, clock=ManualClock(time.time()), auth_window_s=REAL_CLOCK_WINDOW_S
    )


def test_accept_and_confirm_past_the_accounts_limits_are_refused_before_anything_is_sent(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """The requester's `risk.max_order_count` is 5 and the maker's position limit 5: a quote for
    10 contracts would buy each 10, so the accept and the confirm are refused and the quote stays
    as it was; within the limits they go."""
    prime.create_market(T)
    maker_home = tmp_path / "maker"
    maker = kalshi_as(prime.new_account(), maker_home)
    maker_home.mkdir(parents=True, exist_ok=True)
    (maker_home / "config.yaml").write_text("risk:\n  max_position_per_market: 5\n")
    (tmp_path / "home").mkdir(parents=True, exist_ok=True)
    (tmp_path / "home" / "config.yaml").write_text("risk:\n  max_order_count: 5\n")

    rfq_id = ok_json(kalshi("rfq", "create", T, "--count", "10", "--json"))["rfq_id"]
    quote_id = ok_json(
        maker("quote", "create", rfq_id, "--yes-bid", "0.40", "--no-bid", "0.55", "--json")
    )["quote_id"]

    refused = kalshi("quote", "accept", quote_id, "--side", "yes")
    assert refused.exit_code == ExitCode.REJECTED, refused.output
    assert "count 10.00 > max 5" in refused.stderr, refused.stderr
    assert "risk.max_order_count" in refused.stderr, refused.stderr
    assert ok_json(kalshi("quote", "show", quote_id, "--json"))["status"] == "open"

    (tmp_path / "home" / "config.yaml").write_text("risk:\n  max_order_count: 10\n")
    ok_json(kalshi("quote", "accept", quote_id, "--side", "yes", "--json"))
    refused = maker("quote", "confirm", quote_id)
    assert refused.exit_code == ExitCode.REJECTED, refused.output
    assert "risk.max_position_per_market" in refused.stderr, refused.stderr
    assert ok_json(maker("quote", "show", quote_id, "--json"))["status"] == "accepted"

    (maker_home / "config.yaml").write_text("risk:\n  max_position_per_market: 10\n")
    assert ok_json(maker("quote", "confirm", quote_id, "--json"))["result"] == "confirmed"


def test_a_quote_accepted_on_a_day_the_circuit_breaker_tripped_is_refused_after_resume(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """An accept buys: on a UTC day the daily circuit breaker tripped it is refused (exit 9,
    `CIRCUIT_BREAKER`) with nothing sent, whatever the state reads after `kalshi resume`."""
    prime.create_market(T)
    maker = kalshi_as(prime.new_account(), tmp_path / "maker")
    rfq_id = ok_json(kalshi("rfq", "create", T, "--count", "2", "--json"))["rfq_id"]
    quote_id = ok_json(
        maker("quote", "create", rfq_id, "--yes-bid", "0.40", "--no-bid", "0.55", "--json")
    )["quote_id"]
    with Store.open(state_path(tmp_path)) as store:
        store.trading.record_risk_trip(
            rule=CircuitBreaker.RULE,
            code="CIRCUIT_BREAKER",
            detail="realized P&L -$150.00 reached the daily loss limit of -$100.00",
            day=utc_day(time.time()),
        )
        store.trading.set_trading_state("REDUCING", reason="tripped", source=CircuitBreaker.RULE)
    assert kalshi("resume").exit_code == 0

    refused = kalshi("quote", "accept", quote_id, "--side", "yes")
    assert refused.exit_code == ExitCode.REJECTED, refused.output
    assert "daily circuit breaker tripped on" in refused.stderr, refused.stderr
    assert ok_json(kalshi("quote", "show", quote_id, "--json"))["status"] == "open"
