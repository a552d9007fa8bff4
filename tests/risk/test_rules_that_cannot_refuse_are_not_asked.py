"""The loop's pre-trade account asks only the rules that can refuse under its limits and budgets
(`services/pretrade/settings.py` `refusing_rules`, chosen once): a limit that is not set, a
budget nobody has and the stop-loss turned off leave their rules out, and a rule left out could
not have refused any order."""

from dataclasses import replace
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.risk.budget import Budget
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.risk.rules import (
    Code,
    EventLossRule,
    MaxOrderCostRule,
    StopLossAtEntryRule,
    StrategyBudgetRule,
)
from kalshi_cli.services.pretrade.loop import LoopAccount, LoopView
from kalshi_cli.services.pretrade.settings import refusing_rules
from kalshi_cli.vocabulary.decisions import Intent, PositionView, RestingOrder
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.risk.fakes import make
from tests.risk.test_risk_engine import buy, fresh

LEFT_OUT = {Code.MAX_ORDER_COST, Code.EVENT_LOSS, Code.STRATEGY_BUDGET, Code.STOP_LOSS_AT_ENTRY}


def codes(rules) -> set[Code]:
    return {rule.code for rule in rules}


def test_unset_limits_no_budget_and_the_stop_loss_off_leave_their_rules_unasked():
    engine, *_ = make(RiskLimits(stop_loss_share=D(0)))
    assert codes(LoopAccount(engine).rules) == codes(engine.rules) - LEFT_OUT
    # the rules keep the engine's order
    assert [r for r in engine.rules if r.code not in LEFT_OUT] == list(LoopAccount(engine).rules)


def test_each_limit_set_and_a_budget_keep_the_rules_that_read_them():
    limits = RiskLimits(max_order_cost=D(5), max_event_loss=D(20))
    engine, *_ = make(limits)
    assert codes(refusing_rules(engine.rules, limits, [Budget()])) == codes(engine.rules)
    # a budget's own limit on an event's loss keeps that rule, the account's unset
    kept = refusing_rules(engine.rules, RiskLimits(), [Budget(max_event_loss=D(3))])
    assert {Code.EVENT_LOSS, Code.STRATEGY_BUDGET} <= codes(kept)
    assert Code.MAX_ORDER_COST not in codes(kept)


def test_a_limit_set_still_refuses_through_the_account_with_the_engines_text():
    engine, *_ = make(RiskLimits(max_order_cost=D(2)))
    intent = buy(count="10", price="0.40")
    seen = LoopView(PositionView, D(0), tuple, engine.clock.wall())
    denials = LoopAccount(engine).judge(intent, seen)
    assert [(d.code, d.detail) for d in denials] == [
        (d.code, d.detail) for d in engine.evaluate(intent, fresh(engine))
    ]
    assert [d.code for d in denials] == [Code.MAX_ORDER_COST]


prices = st.integers(1, 99).map(lambda c: D(c) / 100)
counts = st.integers(1, 500).map(D)


@settings(max_examples=150, deadline=None)
@given(
    side=st.sampled_from(Side),
    action=st.sampled_from(Action),
    price=prices,
    count=counts,
    reduce_only=st.booleans(),
    position=st.integers(-300, 300).map(D),
    cost=st.integers(0, 300).map(D),
    resting=st.lists(st.tuples(st.sampled_from(Side), prices, counts), max_size=3),
    bids=st.lists(st.tuples(prices, counts), max_size=3),
)
def test_a_rule_left_out_refuses_nothing_under_those_limits(
    *, side, action, price, count, reduce_only, position, cost, resting, bids
):
    """Any order in any position, book and resting orders passes each rule that `refusing_rules`
    leaves out, under limits that leave it out and with no budget (no strategy's own part)."""
    tif = TimeInForce.IOC if reduce_only else TimeInForce.GTC
    intent = Intent(
        "T", side, action, price, count, price, "t", reduce_only=reduce_only, time_in_force=tif
    )
    orders = tuple(
        RestingOrder(f"o{n}", s, Action.BUY, p, c) for n, (s, p, c) in enumerate(resting)
    )
    view = PositionView("T", position, entry_cost=cost, resting=orders)
    levels = tuple(sorted(dict(bids).items(), reverse=True))
    book = Orderbook("T", levels, levels)
    engine, *_ = make(RiskLimits(stop_loss_share=D(0)))
    ctx = replace(fresh(engine, view), book=book)
    idle = (
        MaxOrderCostRule(None),
        EventLossRule(None),
        StrategyBudgetRule(),
        StopLossAtEntryRule(D(0)),
    )
    assert [rule.check(intent, ctx).allowed for rule in idle] == [True] * 4
