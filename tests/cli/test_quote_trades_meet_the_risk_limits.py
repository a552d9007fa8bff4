"""Accepting a quote and confirming one are purchases: each meets the account's `risk:` limits
as `kalshi order place` does, refused (exit 9, the rule's code) with nothing sent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.cli.test_rfq_cli import ok_json
from tests.conftest import REAL_CLOCK_WINDOW_S, SimHarness
from tests.prime_tier import Kalshi, kalshi_as, prime_simulator

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
