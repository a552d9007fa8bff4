"""The write gate's tokens and budget, on a clock the test moves."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kalshi_cli.agent.gate import Charge, Spent, WriteGate
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
    token, expires = g.issue("preview_order", {"ticker": "T"}, ORDER, Spent())
    assert expires == 1_060.0
    assert g.redeem(token).arguments == {"ticker": "T"}
    refused(lambda: g.redeem(token), "TOKEN_USED")

    late, _ = g.issue("preview_order", {}, ORDER, Spent())
    clock.advance(60.0)
    refused(lambda: g.redeem(late), "TOKEN_EXPIRED")
    refused(lambda: g.redeem(late), "TOKEN_USED")  # an expired token is spent too
    refused(lambda: g.redeem("made-up"), "TOKEN_UNKNOWN")


def test_the_budget_counts_what_was_spent_and_refuses_past_it() -> None:
    g = gate(ManualClock(0.0), max_orders=2, max_contracts=Decimal(5), max_dollars=Decimal(10))
    spent = Spent(1, Decimal(3), Decimal("0.90"))  # what the state file says the day took
    refused(lambda: g.issue("preview_order", {}, ORDER, spent), "BUDGET_CONTRACTS")
    refused(lambda: g.check(Charge(1, Decimal(1), Decimal("9.20")), spent), "BUDGET_DOLLARS")
    refused(lambda: g.check(Charge(1), Spent(2)), "BUDGET_ORDERS")
    g.check(Charge(1, Decimal(2), Decimal("9.10")), spent)  # exactly the budget passes
    assert g.remaining(spent) == {"orders": 1, "contracts": "2.00", "dollars": "9.1000"}


def test_tokens_are_forgotten_once_past_their_time() -> None:
    clock = ManualClock(0.0)
    g = gate(clock)
    for n in range(50):
        token, _ = g.issue("preview_order", {"n": n}, ORDER, NONE)
        if n % 2:
            g.redeem(token)
        clock.advance(1.0)
    assert g.held() == 50
    clock.advance(60.0)  # every token expired: a late one is still told so
    late, _ = g.issue("preview_order", {}, ORDER, NONE)
    assert g.held() == 51
    clock.advance(60.0)  # a ttl later the first ones are gone: a server does not grow
    refused(lambda: g.redeem(late), "TOKEN_EXPIRED")
    assert g.held() == 1
    clock.advance(61.0)
    assert g.held() == 0
    refused(lambda: g.redeem(late), "TOKEN_UNKNOWN")


NONE = Spent()
