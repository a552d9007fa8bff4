"""`kalshi check positions` reads `risk.max_event_loss`: an event whose worst case at settlement
(the figure of `kalshi positions --by event`) is past the limit is CRITICAL, at the warning share
of it WARNING, as a market's position against its limit is; the line names the event, its worst
case and the outcome that gives it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import FREE, Kalshi, another_accounts_order

OK, WARNING, CRITICAL = 0, 1, 2


def hold_an_event_losing_40_cents_at_worst(prime: SimHarness, client: KalshiClient) -> None:
    """NO 1 at $0.70 on KXSOS-A and on KXSOS-C of three candidates, no fees: $1.40 in, $1.00
    back if A or C settles YES: -$0.40 at worst (KXSOS-A yes)."""
    for n, name in enumerate("ABC"):
        prime.create_market(
            f"KXSOS-{name}", event_ticker="KXSOS", collateral_return_type="MECNET",
            **(FREE if n == 0 else {}),
        )  # fmt: skip
    for name in "AC":
        another_accounts_order(prime, f"KXSOS-{name}", BookSide.BID, "0.30", 1)
        no = CreateOrder(f"KXSOS-{name}", BookSide.ASK, Decimal("0.30"), Decimal(1))
        client.orders.create_order(no)


def configure(kalshi: Kalshi, max_event_loss: str) -> None:
    answer = kalshi("config", "set", "risk.max_event_loss", max_event_loss)
    assert answer.exit_code == 0, answer.output


def test_an_event_past_its_loss_limit_is_critical_and_named(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi
) -> None:
    hold_an_event_losing_40_cents_at_worst(prime, client)
    configure(kalshi, "0.30")
    metric = kalshi("metrics")
    assert 'kalshi_event_worst_case_dollars{event_ticker="KXSOS"} -0.4' in metric.stdout
    answer = kalshi("check", "positions")
    assert answer.exit_code == CRITICAL, answer.stdout
    line = answer.stdout.splitlines()[0]
    assert line.startswith(
        "KALSHI POSITIONS CRITICAL - 1 event past its loss limit: "
        "KXSOS worst -$0.40 (KXSOS-A yes) of -$0.30"
    ), line
    assert "'events_over_limit'=1;0;0" in line, line
    doc = json.loads(kalshi("check", "positions", "--json").stdout)
    assert doc["event_breaches"] == [
        {
            "subaccount": None,
            "event_ticker": "KXSOS",
            "worst_case": "-0.4000",
            "outcome": "KXSOS-A yes",
            "max_event_loss": "0.3000",
            "status": "CRITICAL",
        }
    ]


@pytest.mark.parametrize(
    ("limit", "expected"),
    # a loss of $0.40: 80% of $0.50, the warning share; 40% of $1.00
    [
        ("0.50", (WARNING, "WARNING - 1 event at 80% of its loss limit or more: KXSOS worst")),
        ("1.00", (OK, "OK - all 2 positions within limits")),
    ],
)
def test_an_event_at_the_warning_share_of_its_loss_limit_warns(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, limit: str, expected: tuple[int, str]
) -> None:
    hold_an_event_losing_40_cents_at_worst(prime, client)
    configure(kalshi, limit)
    answer = kalshi("check", "positions")
    code, head = expected
    assert answer.exit_code == code, answer.stdout
    line = answer.stdout.splitlines()[0]
    assert line.startswith(f"KALSHI POSITIONS {head}"), line
