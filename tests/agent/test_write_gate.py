"""The write gate's tokens and budget, on a clock the test moves."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kalshi_cli.agent.gate import Charge, WriteGate
from kalshi_cli.agent.settings import AgentBudget
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ValidationError

ORDER = Charge(1, Decimal(3), Decimal("0.90"))


def gate(clock: ManualClock, **budget: object) -> WriteGate:
    return WriteGate(AgentBudget(**budget), clock, ttl_s=60.0)  # type: ignore[arg-type]


def refused(call: object, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.code == code


def test_a_token_executes_once_and_not_after_it_expires() -> None:
    clock = ManualClock(1_000.0)
    g = gate(clock)
    token, expires = g.issue("preview_order", {"ticker": "T"}, ORDER)
    assert expires == 1_060.0
    assert g.redeem(token).arguments == {"ticker": "T"}
    refused(lambda: g.redeem(token), "TOKEN_USED")

    late, _ = g.issue("preview_order", {}, ORDER)
    clock.advance(60.0)
    refused(lambda: g.redeem(late), "TOKEN_EXPIRED")
    refused(lambda: g.redeem(late), "TOKEN_USED")  # an expired token is spent too
    refused(lambda: g.redeem("made-up"), "TOKEN_UNKNOWN")


def test_the_budget_counts_what_was_sent_and_refuses_past_it() -> None:
    g = gate(ManualClock(0.0), max_orders=2, max_contracts=Decimal(5), max_dollars=Decimal(10))
    first, _ = g.issue("preview_order", {}, ORDER)
    second, _ = g.issue("preview_order", {}, ORDER)  # previews spend nothing
    g.spend(g.redeem(first).charge)
    # the second token was fine when issued; 3 + 3 contracts is past the budget of 5 now
    refused(lambda: g.redeem(second), "BUDGET_CONTRACTS")
    refused(
        lambda: g.issue("preview_order", {}, Charge(1, Decimal(1), Decimal(20))), "BUDGET_DOLLARS"
    )
    g.spend(Charge(1, Decimal(1), Decimal(1)))
    refused(
        lambda: g.issue("preview_order", {}, Charge(1, ZERO_COUNT, ZERO_COUNT)), "BUDGET_ORDERS"
    )
    assert g.remaining() == {"orders": 0, "contracts": "1.00", "dollars": "8.1000"}


ZERO_COUNT = Decimal(0)
