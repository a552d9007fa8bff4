from decimal import Decimal as D

from kalshi_cli.strategies import Intent, MarketSnapshot, PositionView
from kalshi_cli.strategies.arbitrage import ArbitrageParams, decide, pair_edge
from kalshi_cli.vocabulary.models import (
    ONE,
    TAKER_FEE_RATE,
    Action,
    Orderbook,
    Side,
    TimeInForce,
    trading_fee,
)

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
    fees = trading_fee(D(20), D("0.50"), TAKER_FEE_RATE)
    fees += trading_fee(D(20), D("0.45"), TAKER_FEE_RATE)
    edge = ONE - D("0.95") - fees / 20
    # fees 0.07 x 20 x (0.25 + 0.2475) = 0.6965 for 20 pairs: 0.034825 a pair
    assert edge == D("0.015175")
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


def pair_snap(ticker: str, other: str, ask_here: str, ask_there: str, depth: int = 40):
    """Two markets of a mutually exclusive event, each a normal (uncrossed) book whose YES ask
    is `ask` (a NO bid at 1 - ask) and whose YES bid sits 2 cents lower."""
    from kalshi_cli.strategy_api import Complement

    def book(t: str, ask: str) -> Orderbook:
        yes_bid = D(ask) - D("0.02")
        return Orderbook(t, ((yes_bid, D(depth)),), ((ONE - D(ask), D(depth)),))

    return MarketSnapshot(
        ticker, 1000.0, book(ticker, ask_here), complement=Complement(other, book(other, ask_there))
    )


def test_yes_asks_of_two_exclusive_markets_below_one_buy_both() -> None:
    decided = decide(
        pair_snap("EV-A", "EV-B", "0.45", "0.47"), PositionView("EV-A"), ArbitrageParams()
    )
    legs = [leg for leg in decided if isinstance(leg, Intent)]
    assert len(legs) == len(decided)
    assert [(leg.ticker, leg.side, leg.price) for leg in legs] == [
        ("EV-A", Side.YES, D("0.45")),
        ("EV-B", Side.YES, D("0.47")),
    ]
    fees = trading_fee(D(40), D("0.45"), TAKER_FEE_RATE)
    fees += trading_fee(D(40), D("0.47"), TAKER_FEE_RATE)
    edge = ONE - D("0.92") - fees / 40
    assert edge >= ArbitrageParams().min_edge
    assert sum((leg.model_fair for leg in legs), D(0)) == ONE
    assert all(leg.time_in_force is TimeInForce.FOK and leg.count == 40 for leg in legs)


def test_the_pair_is_emitted_once_from_the_lower_ticker() -> None:
    params = ArbitrageParams()
    assert decide(pair_snap("EV-B", "EV-A", "0.47", "0.45"), PositionView("EV-B"), params) == []


def test_a_gap_between_exclusive_markets_that_the_fees_eat_is_left_alone() -> None:
    # 0.48 + 0.49 leaves 3 cents a pair, but the two fees near 50 cents take 3.5
    legs = decide(
        pair_snap("EV-A", "EV-B", "0.48", "0.49"), PositionView("EV-A"), ArbitrageParams()
    )
    assert legs == []
