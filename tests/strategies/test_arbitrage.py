from decimal import Decimal as D

from kalshi_cli.models import ONE, Action, Orderbook, Side, TimeInForce, trading_fee
from kalshi_cli.strategies import Intent, MarketSnapshot, PositionView
from kalshi_cli.strategies.arbitrage import ArbitrageParams, decide, pair_edge

FLAT = PositionView("T")


def snap(yes_bid: str, yes_depth: int, no_bid: str, no_depth: int) -> MarketSnapshot:
    book = Orderbook("T", ((D(yes_bid), D(yes_depth)),), ((D(no_bid), D(no_depth)),))
    return MarketSnapshot("T", 1000.0, book)


def test_a_normal_book_never_triggers():
    assert decide(snap("0.48", 100, "0.50", 100), FLAT, ArbitrageParams()) == []


def test_asks_plus_fees_below_one_buys_both_sized_by_the_shallower_depth():
    # YES ask = 1 - 0.50 = 0.50 (depth 30), NO ask = 1 - 0.55 = 0.45 (depth 20)
    legs = decide(snap("0.55", 20, "0.50", 30), FLAT, ArbitrageParams())
    assert len(legs) == 2
    yes, no = legs
    assert isinstance(yes, Intent) and isinstance(no, Intent)
    assert (yes.side, yes.action, yes.price, yes.count) == (Side.YES, Action.BUY, D("0.50"), 20)
    assert (no.side, no.action, no.price, no.count) == (Side.NO, Action.BUY, D("0.45"), 20)
    assert yes.time_in_force is TimeInForce.FOK and no.time_in_force is TimeInForce.FOK
    fees = trading_fee(D(20), D("0.50")) + trading_fee(D(20), D("0.45"))
    edge = ONE - D("0.95") - fees / 20
    assert edge == D("0.015")
    assert yes.model_fair + no.model_fair == ONE
    assert yes.edge_after_fees + no.edge_after_fees == edge


def test_gross_edge_eaten_by_fees_is_not_traded():
    # asks sum to 0.98: 0.02 gross, about 0.035 of fees per pair
    assert pair_edge(D("0.50"), D("0.48"), D(20), D("0.07")) < 0
    assert decide(snap("0.52", 20, "0.50", 30), FLAT, ArbitrageParams()) == []


def test_the_pair_edge_threshold_is_inclusive():
    edge = pair_edge(D("0.50"), D("0.45"), D(20), D("0.07"))
    assert decide(snap("0.55", 20, "0.50", 30), FLAT, ArbitrageParams(min_edge=edge))
    bigger = edge + D("0.0001")
    assert decide(snap("0.55", 20, "0.50", 30), FLAT, ArbitrageParams(min_edge=bigger)) == []


def test_max_count_caps_the_size():
    legs = decide(snap("0.55", 200, "0.50", 300), FLAT, ArbitrageParams(max_count=D(7)))
    assert [leg.count for leg in legs if isinstance(leg, Intent)] == [D(7), D(7)]
