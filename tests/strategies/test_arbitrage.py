from decimal import Decimal as D

from kalshi_cli.strategies.arbitrage import ArbitrageParams, decide, set_edge
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.models import TAKER_FEE_RATE, Orderbook, trading_fee
from kalshi_cli.vocabulary.units import ONE, Action, Side, TimeInForce

FLAT = PositionView("T")


def pair_edge(yes_ask: D, no_ask: D, count: D, fee_rate: D) -> D:
    """Locked profit per YES+NO pair of one market after both fees, at `count` pairs."""
    legs = [("", Side.YES, yes_ask, count, fee_rate), ("", Side.NO, no_ask, count, fee_rate)]
    return set_edge(legs, ONE, count)


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
    assert yes.time_in_force is TimeInForce.IOC and no.time_in_force is TimeInForce.IOC
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


def event_snap(
    ticker: str,
    asks: dict[str, str],
    depth: int = 40,
    *,
    complete: bool = True,
    floor: str | None = None,
) -> MarketSnapshot:
    """One market of a mutually exclusive event whose markets' YES asks are `asks`, each a
    normal (uncrossed) book: a NO bid at 1 - ask, and a YES bid 2 cents under the ask (so the
    NO ask is 1 - ask + 0.02); `floor`: every market's YES settles at that floor at least
    (`settlement_bounds_type` floor), as the loop reads each market's terms."""
    from kalshi_cli.strategy_api import EventMarket, EventView, MarketTerms

    raw = {} if floor is None else {"settlement_bounds_type": "floor"}
    terms = MarketTerms.from_market({**raw, "settlement_floor_dollars": floor})

    def book(t: str) -> Orderbook:
        ask = D(asks[t])
        return Orderbook(t, ((ask - D("0.02"), D(depth)),), ((ONE - ask, D(depth)),))

    others = tuple(EventMarket(t, book(t), terms=terms) for t in sorted(asks) if t != ticker)
    event = EventView("EV", others, complete)
    return MarketSnapshot(ticker, 1000.0, book(ticker), event=event, terms=terms)


EXHAUSTIVE = ArbitrageParams(exhaustive_events=("EV",))


def test_yes_of_every_market_is_bought_only_where_the_event_is_stated_exhaustive() -> None:
    asks = {"EV-A": "0.45", "EV-B": "0.47"}
    # the exchange says at most one settles YES, never at least one: both could settle NO
    assert decide(event_snap("EV-A", asks), PositionView("EV-A"), ArbitrageParams()) == []
    incomplete = event_snap("EV-A", asks, complete=False)
    assert decide(incomplete, PositionView("EV-A"), EXHAUSTIVE) == []
    decided = decide(event_snap("EV-A", asks), PositionView("EV-A"), EXHAUSTIVE)
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
    assert all(leg.time_in_force is TimeInForce.IOC and leg.count == 40 for leg in legs)
    assert all("exhaustive as stated in exhaustive_events" in leg.reason for leg in legs)


def test_a_set_is_emitted_once_from_the_lowest_ticker() -> None:
    asks = {"EV-A": "0.45", "EV-B": "0.47"}
    assert decide(event_snap("EV-B", asks), PositionView("EV-B"), EXHAUSTIVE) == []


def test_a_gap_between_exclusive_markets_that_the_fees_eat_is_left_alone() -> None:
    # 0.48 + 0.49 leaves 3 cents a pair, but the two fees near 50 cents take 3.5
    asks = {"EV-A": "0.48", "EV-B": "0.49"}
    assert decide(event_snap("EV-A", asks), PositionView("EV-A"), EXHAUSTIVE) == []


# YES asks summing to 1.12: the NO asks (1 - ask + 0.02) are 0.57, 0.67, 0.70, 1.94 in all
CANDIDATES = {"EV-A": "0.45", "EV-B": "0.35", "EV-C": "0.32"}


def test_no_in_every_market_of_a_three_market_event_is_bought_when_it_pays_two() -> None:
    decided = decide(
        event_snap("EV-A", CANDIDATES, depth=30), PositionView("EV-A"), ArbitrageParams()
    )
    legs = [leg for leg in decided if isinstance(leg, Intent)]
    assert [(leg.ticker, leg.side, leg.action, leg.price, leg.count) for leg in legs] == [
        ("EV-A", Side.NO, Action.BUY, D("0.57"), 30),
        ("EV-B", Side.NO, Action.BUY, D("0.67"), 30),
        ("EV-C", Side.NO, Action.BUY, D("0.70"), 30),
    ]
    fees = sum((trading_fee(D(30), leg.price, TAKER_FEE_RATE) for leg in legs), D(0))
    # at most one of the three settles YES: the three NOs pay 2 at least
    edge = 2 - D("1.94") - fees / 30
    # 0.07 x 30 x (0.57 x 0.43 + 0.67 x 0.33 + 0.70 x 0.30), each rounded up: 1.4202, 0.04734 a set
    assert edge == D("0.01266")
    assert sum((leg.model_fair for leg in legs), D(0)) == 2
    assert all(leg.time_in_force is TimeInForce.IOC for leg in legs)
    assert [leg.reason.rsplit("(", 1)[1] for leg in legs] == [
        "leg 1 of 3: no EV-A)",
        "leg 2 of 3: no EV-B)",
        "leg 3 of 3: no EV-C)",
    ]


def test_a_no_set_pays_less_where_the_markets_yes_settles_at_a_floor() -> None:
    """With every YES settling at $0.05 at least, a NO on a market that settles NO pays $0.95:
    the three NOs pay $1.90 at least, not 2, so NO asks of $1.94 lose 4 cents a set and fees;
    at NO asks of $1.64 the set is bought for what it pays, $1.90."""
    snap = event_snap("EV-A", CANDIDATES, depth=30, floor="0.05")
    assert decide(snap, PositionView("EV-A"), ArbitrageParams()) == []
    cheaper = {"EV-A": "0.55", "EV-B": "0.45", "EV-C": "0.42"}  # NO asks 0.47, 0.57, 0.60
    snap = event_snap("EV-A", cheaper, depth=30, floor="0.05")
    legs = [leg for leg in decide(snap, PositionView("EV-A"), ArbitrageParams())]
    assert [leg.count for leg in legs if isinstance(leg, Intent)] == [30, 30, 30]
    assert sum((leg.model_fair for leg in legs if isinstance(leg, Intent)), D(0)) == D("1.90")
    assert all("pay 1.90" in leg.reason for leg in legs if isinstance(leg, Intent))


def test_a_no_set_that_the_fees_eat_is_left_alone() -> None:
    # YES asks summing to 1.07: NO asks 1.99, a cent under 2 before about 4.4 cents of fees
    asks = {"EV-A": "0.45", "EV-B": "0.35", "EV-C": "0.27"}
    assert decide(event_snap("EV-A", asks), PositionView("EV-A"), ArbitrageParams()) == []


def test_a_set_is_sized_by_the_shallowest_ask_and_the_dollars_it_may_spend() -> None:
    def counts(params: ArbitrageParams, depth: int = 30) -> list[D]:
        snap = event_snap("EV-A", CANDIDATES, depth=depth)
        return [
            leg.count
            for leg in decide(snap, PositionView("EV-A"), params)
            if isinstance(leg, Intent)
        ]

    assert counts(ArbitrageParams(), depth=12) == [12, 12, 12]
    assert counts(ArbitrageParams(max_count=D(7))) == [7, 7, 7]
    # 10 sets cost 19.40 plus 0.4734 of fees: 19.85 buys 9
    assert counts(ArbitrageParams(max_cost=D("19.85"))) == [9, 9, 9]
    assert counts(ArbitrageParams(max_cost=D("1.90"))) == []


def test_the_sets_already_held_count_toward_max_count() -> None:
    snap = event_snap("EV-A", CANDIDATES, depth=30)
    # 45 NO held here: 45 whole NO sets (the loop holds whole sets only), 5 more allowed
    holding = PositionView("EV-A", position=D(-45))
    legs = decide(snap, holding, ArbitrageParams())
    assert [leg.count for leg in legs if isinstance(leg, Intent)] == [5, 5, 5]
    full = PositionView("EV-A", position=D(-50))
    assert decide(snap, full, ArbitrageParams()) == []


# ten candidates, each YES asked at 0.13: NO asks of 0.89, 8.90 a set that pays 9 at least
TEN = {f"EV-{c}": "0.13" for c in "ABCDEFGHIJ"}


def _partial_worst(legs: list[Intent], count: D) -> D:
    """The worst case of the legs' first k filled alone at `count` (the loop sends them one after
    another, a leg for no more than the one before filled), the least over every k: what the
    event-loss limit counts as an IOC leg goes out."""
    from kalshi_cli.vocabulary.event_outcomes import MECNET, EventLeg, event_outcomes

    def fee(count: D, price: D) -> D:
        return trading_fee(count, price, TAKER_FEE_RATE)

    worst = D(0)
    for k in range(1, len(legs) + 1):
        held = [
            EventLeg(leg.ticker, no=count, cost=count * leg.price + fee(count, leg.price))
            for leg in legs[:k]
        ]
        worst = min(worst, event_outcomes(MECNET, held).worst.pnl)
    return worst


def test_a_set_is_sized_so_that_any_partial_fill_stays_inside_the_event_loss_limit() -> None:
    """Under an event-loss limit of $5 the first NO leg filled alone loses its $0.89 and fee a
    set if its market settles YES: 5 sets (-$4.4843) fit, 6 (-$5.3812) do not, though a whole
    set's worst case is a profit."""
    from msgspec.structs import replace

    snap = replace(event_snap("EV-A", TEN, depth=50), max_event_loss=D(5))
    wide = ArbitrageParams(max_cost=D(1000))
    decided = decide(snap, PositionView("EV-A"), wide)
    legs = [leg for leg in decided if isinstance(leg, Intent)]
    assert [leg.count for leg in legs] == [D(5)] * 10
    assert _partial_worst(legs, D(5)) >= -5 > _partial_worst(legs, D(6))
    # no limit: the depth and max_count size it, as before
    unlimited = decide(event_snap("EV-A", TEN, depth=50), PositionView("EV-A"), wide)
    assert {leg.count for leg in unlimited if isinstance(leg, Intent)} == {D(50)}


def test_no_set_fits_an_event_loss_limit_under_one_legs_loss_and_it_says_so() -> None:
    """Under $0.50 not one set fits (its first leg alone can lose $0.8969): no order, and a
    note for the log, keyed by the event (the loop logs it once)."""
    from msgspec.structs import replace

    from kalshi_cli.strategy_api import Note

    snap = replace(event_snap("EV-A", TEN, depth=50), max_event_loss=D("0.50"))
    (note,) = decide(snap, PositionView("EV-A"), ArbitrageParams())
    assert isinstance(note, Note)
    assert (note.ticker, note.key) == ("EV-A", "event_loss:EV")
    assert note.text == (
        "arbitrage: no set in EV fits the event-loss limit (-$0.50): one set filled in part "
        "can lose -$0.8969"
    )
