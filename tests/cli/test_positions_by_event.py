"""`kalshi positions --by event`: each event's markets together, their worst and best case at
settlement by the one rule, and the exchange's `event_exposure_dollars` beside them."""

from __future__ import annotations

import json
from decimal import Decimal as D

from kalshi_cli.client import CreateOrder
from kalshi_cli.vocabulary.models import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect

FREE = {"fee_type": "quadratic", "fee_multiplier": "0"}  # no fees: the example's figures


def test_positions_by_event_show_the_worst_and_best_case_of_kalshis_example(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    """NO at 0.60 on A and NO at 0.70 on C of three candidates: $1.30 in, -$0.30 at worst."""
    for n, name in enumerate("ABC"):
        extra = FREE if n == 0 else {}
        prime.create_market(
            f"KXSOS-{name}", event_ticker="KXSOS", collateral_return_type="MECNET", **extra
        )
    with connect(prime.new_account(balance_cents=1_000_000)) as other:
        for name, yes_bid in (("A", "0.40"), ("C", "0.30")):
            other.orders.create_order(CreateOrder(f"KXSOS-{name}", BookSide.BID, D(yes_bid), D(1)))
    for name, price in (("A", "0.60"), ("C", "0.70")):
        place = ["order", "place", f"KXSOS-{name}", "--side", "no", "--action", "buy"]
        assert kalshi(*place, "--count", "1", "--price", price).exit_code == 0
    answer = kalshi("positions", "--by", "event", "--json")
    assert answer.exit_code == 0, answer.output
    (row,) = json.loads(answer.stdout)["events"]
    assert row["event_ticker"] == "KXSOS"
    assert row["collateral_return_type"] == "MECNET"
    assert [m["ticker"] for m in row["markets"]] == ["KXSOS-A", "KXSOS-C"]
    assert row["cost"] == "1.3000"
    assert row["worst_case"] == {"pnl": "-0.3000", "outcome": "KXSOS-A yes"}
    assert row["best_case"] == {"pnl": "0.7000", "outcome": "none yes"}
    assert row["event_exposure_dollars"] == "1.3000"  # netting is off: the whole cost is held
    table = kalshi("positions", "--by", "event", "--format", "plain")
    assert "-0.30 (KXSOS-A yes)" in table.stdout, table.stdout
