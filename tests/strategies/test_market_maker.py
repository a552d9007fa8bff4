from decimal import Decimal as D

from kalshi_cli.strategies.market_maker import MarketMakerParams, decide
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.decisions import Cancel, Intent, PositionView, RestingOrder
from kalshi_cli.vocabulary.models import MAKER_FEE_RATE, Orderbook
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce

PARAMS = MarketMakerParams()


def snap(yes_bid: str, no_bid: str | None) -> MarketSnapshot:
    no_levels = () if no_bid is None else ((D(no_bid), D(100)),)
    return MarketSnapshot("T", 1000.0, Orderbook("T", ((D(yes_bid), D(100)),), no_levels))


def quotes(out) -> dict[Side, Intent]:
    return {i.side: i for i in out if isinstance(i, Intent)}


def resting(side: Side, price: str, order_id: str, count: str = "10") -> RestingOrder:
    return RestingOrder(order_id, side, Action.BUY, D(price), D(count))


def test_flat_book_gets_post_only_quotes_either_side_of_the_mid():
    q = quotes(decide(snap("0.45", "0.45"), PositionView("T"), PARAMS))  # mid 0.50
    assert q[Side.YES].price == D("0.48") and q[Side.NO].price == D("0.48")  # YES ask 0.52
    for intent in q.values():
        assert intent.action is Action.BUY and intent.post_only
        assert intent.time_in_force is TimeInForce.GTC
        assert intent.fee_rate == MAKER_FEE_RATE
        assert intent.count == PARAMS.quote_count
        assert intent.edge_after_fees >= PARAMS.min_edge
    assert q[Side.YES].model_fair == D("0.50")


def test_quiet_book_with_our_quotes_resting_sends_nothing():
    pos = PositionView("T", resting=(resting(Side.YES, "0.48", "y"), resting(Side.NO, "0.48", "n")))
    assert decide(snap("0.45", "0.45"), pos, PARAMS) == []


def test_a_book_change_requotes_replacing_the_old_orders():
    pos = PositionView("T", resting=(resting(Side.YES, "0.48", "y"), resting(Side.NO, "0.48", "n")))
    q = quotes(decide(snap("0.55", "0.35"), pos, PARAMS))  # mid 0.60
    assert q[Side.YES].price == D("0.58") and q[Side.YES].replaces == ("y",)
    assert q[Side.NO].price == D("0.38") and q[Side.NO].replaces == ("n",)


def test_inventory_skews_the_quotes_away_from_the_position():
    q = quotes(decide(snap("0.45", "0.45"), PositionView("T", D(25)), PARAMS))
    # centre 0.50 - 0.02 x 25/50 = 0.49: YES bid 0.47, YES ask 0.51 (NO bid 0.49)
    assert q[Side.YES].price == D("0.47") and q[Side.NO].price == D("0.49")
    assert q[Side.YES].model_fair == D("0.49") and q[Side.NO].model_fair == D("0.51")


def test_full_inventory_stops_that_side_and_cancels_its_resting_quote():
    pos = PositionView("T", D(50), resting=(resting(Side.YES, "0.47", "y"),))
    out = decide(snap("0.45", "0.45"), pos, PARAMS)
    assert Cancel("T", "y", "market-maker: no yes quote") in out
    assert set(quotes(out)) == {Side.NO}


def test_quote_size_never_takes_inventory_past_the_maximum():
    q = quotes(decide(snap("0.45", "0.45"), PositionView("T", D(46)), PARAMS))
    assert q[Side.YES].count == D(4)


def test_quotes_never_cross_the_opposite_best():
    # a one-tick market: YES bid 0.49, YES ask 0.50; spread 0.04 would want 0.475 / 0.515
    q = quotes(decide(snap("0.49", "0.50"), PositionView("T"), MarketMakerParams(spread=D("0.04"))))
    assert q[Side.YES].price < D("0.50")
    assert 1 - q[Side.NO].price > D("0.49")


def test_one_sided_book_pulls_every_quote():
    pos = PositionView("T", resting=(resting(Side.YES, "0.48", "y"), resting(Side.NO, "0.48", "n")))
    out = decide(snap("0.45", None), pos, PARAMS)
    assert {c.order_id for c in out if isinstance(c, Cancel)} == {"y", "n"}
    assert quotes(out) == {}


def test_a_quote_whose_edge_after_the_maker_fee_is_below_min_edge_is_not_posted():
    # spread 0.02: 0.01 from the centre, less the maker fee of 10 at 0.49: 0.0175 x 10 x 0.49
    # x 0.51 = 0.0437325, rounded up to 0.0438, i.e. 0.00438 a contract: an edge of 0.00562
    tight = MarketMakerParams(spread=D("0.02"), min_edge=D("0.00562"))
    assert len(decide(snap("0.45", "0.45"), PositionView("T"), tight)) == 2
    tighter = MarketMakerParams(spread=D("0.02"), min_edge=D("0.00563"))
    assert decide(snap("0.45", "0.45"), PositionView("T"), tighter) == []


def test_a_resting_quote_within_the_tolerance_keeps_its_place():
    # mid 0.50 wants 0.48 / 0.48; the mid moves one cent to 0.51: wanted YES 0.49, NO 0.47
    pos = PositionView("T", resting=(resting(Side.YES, "0.48", "y"), resting(Side.NO, "0.48", "n")))
    assert decide(snap("0.46", "0.44"), pos, PARAMS) == []
    # without a tolerance both sides are cancelled and sent again
    exact = MarketMakerParams(requote_tolerance=D("0"))
    assert set(quotes(decide(snap("0.46", "0.44"), pos, exact))) == {Side.YES, Side.NO}


def test_a_resting_quote_beyond_the_tolerance_or_without_its_edge_is_replaced():
    pos = PositionView("T", resting=(resting(Side.YES, "0.48", "y"), resting(Side.NO, "0.48", "n")))
    # mid 0.54: wanted YES 0.52 (four cents above what rests), NO 0.44 (four below)
    q = quotes(decide(snap("0.50", "0.42"), pos, PARAMS))
    assert q[Side.YES].replaces == ("y",) and q[Side.NO].replaces == ("n",)
    # mid 0.485: the NO quote at 0.48 would pay 0.48 for a NO worth 0.515, an edge of 0.035
    # less the fee, kept; the YES quote at 0.48 against a centre of 0.485 has no edge left
    out = decide(snap("0.44", "0.47"), pos, PARAMS)
    assert set(quotes(out)) == {Side.YES}


# --- queue position: the front of the queue is not given up for one tick -------------------


def at(price: str, order_id: str, ahead: str | None) -> RestingOrder:
    queue = None if ahead is None else D(ahead)
    return RestingOrder(order_id, Side.YES, Action.BUY, D(price), D(10), queue_position=queue)


# mid 0.495 (YES bid 0.48, ask 0.51): the wanted YES bid is 0.47, one tick under a resting 0.48
ONE_TICK_CHEAPER = ("0.48", "0.49")
# the queue rule alone: no requote tolerance, which would keep a one-tick move on its own
Q_PARAMS = MarketMakerParams(requote_tolerance=D("0"))


def test_a_quote_at_the_front_of_its_queue_is_kept_for_a_one_tick_cheaper_quote():
    pos = PositionView("T", resting=(at("0.48", "y", "0"),))
    q = quotes(decide(snap(*ONE_TICK_CHEAPER), pos, Q_PARAMS))
    assert Side.YES not in q  # left resting: no replace, no cancel
    assert not [d for d in decide(snap(*ONE_TICK_CHEAPER), pos, Q_PARAMS) if isinstance(d, Cancel)]


def test_a_quote_behind_others_or_of_unknown_place_is_replaced_for_one_tick():
    for ahead in ("1", None):
        pos = PositionView("T", resting=(at("0.48", "y", ahead),))
        q = quotes(decide(snap(*ONE_TICK_CHEAPER), pos, Q_PARAMS))
        assert q[Side.YES].price == D("0.47") and q[Side.YES].replaces == ("y",), ahead


def test_the_front_of_the_queue_does_not_hold_a_quote_two_ticks_off_or_a_dearer_one():
    two_ticks = PositionView("T", resting=(at("0.49", "y", "0"),))  # wanted 0.47
    assert quotes(decide(snap(*ONE_TICK_CHEAPER), two_ticks, Q_PARAMS))[Side.YES].replaces == ("y",)
    dearer = PositionView("T", resting=(at("0.46", "y", "0"),))  # wanted 0.47: one tick up
    assert quotes(decide(snap(*ONE_TICK_CHEAPER), dearer, Q_PARAMS))[Side.YES].replaces == ("y",)


def test_the_front_of_the_queue_does_not_hold_a_quote_below_min_edge():
    # with min_edge 0.015 the wanted 0.47 (fair 0.495) clears it, the resting 0.48 does not
    params = MarketMakerParams(min_edge=D("0.015"), requote_tolerance=D("0"))
    pos = PositionView("T", resting=(at("0.48", "y", "0"),))
    q = quotes(decide(snap(*ONE_TICK_CHEAPER), pos, params))
    assert q[Side.YES].price == D("0.47") and q[Side.YES].replaces == ("y",)
