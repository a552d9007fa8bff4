import dataclasses
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.risk.engine import RiskEngine, RiskLimits
from kalshi_cli.risk.rules import Code
from kalshi_cli.risk.state import halt, resume
from kalshi_cli.strategies import get_strategy
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.clock import ManualClock, utc_day
from kalshi_cli.vocabulary.decisions import Intent, PositionView, RestingOrder
from kalshi_cli.vocabulary.errors import (
    BadRequestError,
    ConfigError,
    OrderOutcomeUnknown,
    RateLimitedError,
    ServerError,
    TransportError,
)
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.fakes import loop_context
from tests.risk.fakes import START, MemoryRecords, make


def buy(count="10", price="0.40", fair="0.50", side=Side.YES, **kw) -> Intent:
    return Intent("T", side, Action.BUY, D(price), D(count), D(fair), "test", **kw)


def fresh(engine: RiskEngine, position: PositionView | None = None, **kw):
    kw.setdefault("last_data_at", engine.clock.wall())
    kw.setdefault("total_exposure", D(0))
    return loop_context(engine, position or PositionView("T"), **kw)


def test_a_risk_engine_is_never_built_without_its_markets_fee_rates():
    """Every path that builds a risk engine names where its markets' fee rates come from:
    one that could be built without them would judge the min-edge floor at whatever rate an
    intent carries."""
    with pytest.raises(TypeError, match="fee_rates"):
        RiskEngine(MemoryRecords(), clock=ManualClock(START))  # type: ignore[call-arg]


# --------------------------------------------------------------------------------------------
# evaluate


def test_evaluate_returns_every_denial_and_logs_each_with_its_code():
    engine, records, _, events = make(RiskLimits(max_order_count=D(5), min_edge=D("0.2")))
    halt(records, reason="kill switch", source="cancel-all")
    denials = engine.evaluate(buy(count="6"), fresh(engine))
    assert {d.code for d in denials} == {Code.HALTED, Code.MAX_ORDER_SIZE, Code.MIN_EDGE}
    logged = [data["code"] for kind, data in events.seen if kind == "risk_denied"]
    assert sorted(logged) == sorted(str(d.code) for d in denials)
    assert all(data["ticker"] == "T" for _, data in events.seen)


def test_a_clean_intent_passes_and_nothing_is_logged():
    engine, _, _, events = make()
    assert engine.evaluate(buy(), fresh(engine)) == []
    assert events.seen == []


def test_context_reads_the_state_fresh_from_the_trading_records():
    engine, records, _, _ = make()
    assert fresh(engine).state is TradingState.ACTIVE
    records.set_trading_state("SAFE_MODE", reason="x", source="y")
    assert fresh(engine).state is TradingState.SAFE_MODE


@pytest.mark.parametrize("state", ["HALTED", "SAFE_MODE"])
def test_nothing_passes_while_halted_or_in_safe_mode_until_resumed(state):
    engine, records, _, _ = make()
    records.set_trading_state(state, reason="test", source="test")
    long_yes = PositionView("T", D(10), D("0.50"), D("5.00"))
    closing = Intent(
        "T",
        Side.YES,
        Action.SELL,
        D("0.45"),
        D(10),
        D("0.45"),
        "x",
        reduce_only=True,
        time_in_force=TimeInForce.IOC,
    )
    assert [d.code for d in engine.evaluate(buy(), fresh(engine))] == [state]
    assert [d.code for d in engine.evaluate(closing, fresh(engine, long_yes))] == [state]
    assert resume(records) is TradingState(state)
    assert engine.evaluate(buy(), fresh(engine)) == []


def test_nothing_passes_on_a_stale_feed():
    engine, _, clock, _ = make(RiskLimits(stale_after_s=5.0))
    last = clock.wall()
    clock.advance(5.0)
    denials = engine.evaluate(buy(), fresh(engine, last_data_at=last))
    assert [d.code for d in denials] == [Code.STALE_FEED]


def test_record_sent_feeds_the_order_rate_cap():
    engine, _, clock, _ = make(RiskLimits(max_orders_per_minute=2))
    for _ in range(2):
        assert engine.evaluate(buy(), fresh(engine)) == []
        engine.record_sent()
    assert [d.code for d in engine.evaluate(buy(), fresh(engine))] == [Code.ORDER_RATE]
    clock.advance(60)
    assert engine.evaluate(buy(), fresh(engine)) == []


def test_limits_from_config_use_defaults_and_refuse_unknown_keys():
    limits = RiskLimits.from_config({"daily_loss_limit": 25, "stale_after_s": 3})
    assert limits == RiskLimits(daily_loss_limit=D(25), stale_after_s=3.0)
    with pytest.raises(ConfigError, match=r"unknown parameter `risk\.max_loss`"):
        RiskLimits.from_config({"max_loss": 5})
    with pytest.raises(ConfigError, match=r"risk: stop_loss_share must be in \[0, 1\)"):
        RiskLimits.from_config({"stop_loss_share": 1})


# --------------------------------------------------------------------------------------------
# stop-loss


def long_yes(entry="0.50", count="10") -> PositionView:
    return PositionView("T", D(count), D(entry), D(entry) * D(count), opened_at=START)


def book(yes_bid: str | None, no_bid: str = "0.40") -> Orderbook:
    yes = () if yes_bid is None else ((D(yes_bid), D(100)),)
    return Orderbook("T", yes, ((D(no_bid), D(100)),))


def test_stop_loss_fires_on_the_first_tick_below_the_floor_and_not_before():
    engine, _, _, _ = make(RiskLimits(stop_loss_share=D("0.5")))
    pos = long_yes()  # entry cost 5.00; floor 2.50 = 10 x 0.25
    ticks = ["0.40", "0.30", "0.26", "0.25", "0.24"]
    fired = [bool(engine.stop_loss(pos, book(bid))) for bid in ticks]
    assert fired == [False, False, False, False, True]
    (close,) = engine.stop_loss(pos, book("0.24"))
    assert (close.side, close.action, close.price, close.count) == (
        Side.YES,
        Action.SELL,
        D("0.24"),
        D(10),
    )
    assert close.reduce_only and close.time_in_force is TimeInForce.IOC
    assert close.strategy == "stop-loss" and "stop-loss" in close.reason


def test_stop_loss_marks_at_the_markets_bid_never_the_loops_own_resting_bid():
    """10 YES bought at 0.50 (floor 2.50). The book the loop sees holds its own bids: a close
    marked on them would sell into the loop's own order. Marked on the market's bids: none
    left (only its own 0.05), nothing to close at; the market's 0.20 under its own 0.40, a
    close at 0.20; its own 10 of 110 at 0.30, no close (3.00 is above the floor)."""
    engine, _, _, _ = make(RiskLimits(stop_loss_share=D("0.5")))

    def held_beside(*own: tuple[str, int]) -> PositionView:
        resting = tuple(
            RestingOrder(f"own-{n}", Side.YES, Action.BUY, D(p), D(c))
            for n, (p, c) in enumerate(own)
        )
        return PositionView("T", D(10), D("0.50"), D("5.00"), resting=resting)

    alone = Orderbook("T", ((D("0.05"), D(10)),), ())
    assert engine.stop_loss(held_beside(("0.05", 10)), alone) == []
    above = Orderbook("T", ((D("0.40"), D(10)), (D("0.20"), D(100))), ())
    (close,) = engine.stop_loss(held_beside(("0.40", 10)), above)
    assert close.price == D("0.20")
    shared = Orderbook("T", ((D("0.30"), D(110)),), ())
    assert engine.stop_loss(held_beside(("0.30", 10)), shared) == []
    # a NO position is marked at the NO bids, which the loop's YES asks are
    no = PositionView(
        "T",
        D(-10),
        D("0.50"),
        D("5.00"),
        resting=(RestingOrder("own-ask", Side.YES, Action.SELL, D("0.95"), D(10)),),
    )
    assert engine.stop_loss(no, Orderbook("T", (), ((D("0.05"), D(10)),))) == []


def test_no_order_opens_or_adds_to_a_position_the_stop_loss_would_close_at_once():
    """The stop-loss's own test on the position once the order filled, at the mark it would
    read (the market's bid, the loop's own bids taken out): 8 YES at 0.07 against a YES bid
    of 0.02 (0.16 < 0.5 x 0.56) is refused, as is 10 NO at 0.13 against a NO bid of 0.06, and
    adding 10 at 0.40 to 10 held at 0.50 against a bid of 0.20 (4.00 < 4.50). Refused the
    same with no bid at all; exits, an order the bid carries, or a stop-loss turned off pass."""
    books: dict[str, Orderbook] = {}
    engine, _, _, _ = make(RiskLimits(stop_loss_share=D("0.5"), min_edge=D(0)))
    engine.books = books.get

    def codes(intent: Intent, position: PositionView | None = None) -> list[Code]:
        return [v.code for v in engine.evaluate(intent, fresh(engine, position))]

    books["T"] = book("0.02", no_bid="0.06")
    assert codes(buy("8", "0.07", "0.50")) == [Code.STOP_LOSS_AT_ENTRY]
    assert codes(buy("10", "0.13", "0.50", side=Side.NO)) == [Code.STOP_LOSS_AT_ENTRY]
    books["T"] = book("0.20")
    assert codes(buy("10", "0.40", "0.60"), long_yes()) == [Code.STOP_LOSS_AT_ENTRY]
    assert codes(buy("10", "0.40", "0.60")) == []  # alone: 2.00 >= 0.5 x 4.00
    ioc = TimeInForce.IOC
    exit_ = Intent("T", Side.YES, Action.SELL, D("0.20"), D(10), D("0.20"), "exit",
                   reduce_only=True, time_in_force=ioc)  # fmt: skip
    assert codes(exit_, long_yes()) == []
    books["T"] = book(None)
    assert codes(buy("8", "0.07", "0.50")) == [Code.STOP_LOSS_AT_ENTRY]
    books["T"] = book("0.05", no_bid="0.94")
    assert codes(buy("8", "0.07", "0.50")) == []  # 0.40 >= 0.28
    # selling 8 NO at 0.93 is buying 8 YES at 0.07: it passes as that buy does
    assert codes(Intent("T", Side.NO, Action.SELL, D("0.93"), D(8), D("0.50"), "test")) == []
    # a NO position is marked at the NO bid: 8 NO at 0.07 against a NO bid of 0.94 passes
    books["T"] = book("0.02", no_bid="0.94")
    assert codes(buy("8", "0.07", "0.50", side=Side.NO)) == []
    books["T"] = book("0.02")
    off, _, _, _ = make(RiskLimits(stop_loss_share=D(0), min_edge=D(0)))
    off.books = books.get
    assert off.evaluate(buy("8", "0.07", "0.50"), fresh(off)) == []


def test_the_stop_loss_at_entry_reads_the_position_the_exchange_holds():
    """10 NO read, and a buy of 10 YES the exchange says filled whose fill is not read yet: the
    exchange holds nothing, so a buy of 8 YES at 0.07 against a YES bid of 0.02 opens a position
    the stop-loss would close at once (0.16 < 0.5 x 0.56). Read against the 10 NO still shown,
    it passed as a close. The other way round, 10 NO told filled and not read: a buy of 8 YES
    closes 8 of them and opens nothing, so it passes."""
    books = {"T": book("0.02", no_bid="0.06")}
    engine, _, _, _ = make(RiskLimits(stop_loss_share=D("0.5"), min_edge=D(0)))
    engine.books = books.get
    closed = PositionView(
        "T",
        D(-10),
        D("0.50"),
        D("5.00"),
        unbooked=(RestingOrder("b", Side.YES, Action.BUY, D("0.55"), D(10)),),
    )
    denied = engine.evaluate(buy("8", "0.07", "0.50"), fresh(engine, closed))
    assert [v.code for v in denied] == [Code.STOP_LOSS_AT_ENTRY]
    told = PositionView("T", unbooked=(RestingOrder("n", Side.NO, Action.BUY, D("0.93"), D(10)),))
    assert engine.evaluate(buy("8", "0.07", "0.50"), fresh(engine, told)) == []


def test_the_stop_loss_tests_and_sells_the_position_the_exchange_holds():
    """The fills the exchange has told of and the loop has not read yet are held: 10 YES read
    at 0.50 and 10 bought at 0.30 are 20 for $8.00, which a bid of 0.22 keeps above the floor
    (4.40 >= 4.00), where the 10 read alone were below it (2.20 < 2.50) and were sold at 0.22.
    A sale of the 10 told filled leaves nothing to close; a buy of 10 told filled with nothing
    read yet is closed, all 10 of it."""
    engine, _, _, _ = make(RiskLimits(stop_loss_share=D("0.5")))

    def told(side: Side, action: Action, price: str) -> tuple[RestingOrder, ...]:
        return (RestingOrder("t", side, action, D(price), D(10)),)

    bought = dataclasses.replace(long_yes(), unbooked=told(Side.YES, Action.BUY, "0.30"))
    assert engine.stop_loss(bought, book("0.22")) == []
    sold = dataclasses.replace(long_yes(), unbooked=told(Side.YES, Action.SELL, "0.60"))
    assert engine.stop_loss(sold, book("0.20")) == []
    only_told = PositionView("T", unbooked=told(Side.YES, Action.BUY, "0.50"))
    (close,) = engine.stop_loss(only_told, book("0.20"))
    assert (close.side, close.action, close.price, close.count) == (
        Side.YES,
        Action.SELL,
        D("0.20"),
        D(10),
    )


def test_an_order_that_closes_a_position_and_opens_the_other_side_meets_the_stop_loss_at_entry():
    """5 YES held; a buy of 10 NO at 0.60 closes them and opens 5 NO, which a NO bid of 0.10
    marks below the floor (0.50 < 0.5 x 3.00): the stop-loss would sell them at once, so it is
    refused. Passed over as a close, it lost $2.50 on the 5 the moment they filled. A buy of 5
    NO only closes, and goes out."""
    books = {"T": book("0.85", no_bid="0.10")}
    engine, _, _, _ = make(RiskLimits(stop_loss_share=D("0.5"), min_edge=D(0)))
    engine.books = books.get
    held = long_yes(count="5")
    flip = buy("10", "0.60", "0.70", side=Side.NO)
    denied = engine.evaluate(flip, fresh(engine, held))
    assert [v.code for v in denied] == [Code.STOP_LOSS_AT_ENTRY]
    assert "0.10 x 5 < 0.5 x 3.00" in denied[0].detail
    assert engine.evaluate(buy("5", "0.60", "0.70", side=Side.NO), fresh(engine, held)) == []


def test_the_stop_loss_at_entry_reads_the_bid_without_our_own_and_judges_one_contract():
    """Our own YES bid at 0.48 is the market's best: the mark of 10 YES bought at 0.50 is the
    bid behind it, 0.20 (2.00 < 0.5 x 5.00), so the buy is refused. An order that closes 5 YES
    and opens 1 NO the NO bid would close at once is refused too."""
    engine, _, _, _ = make(RiskLimits(stop_loss_share=D("0.5"), min_edge=D(0)))
    engine.books = {"T": Orderbook("T", ((D("0.48"), D(10)), (D("0.20"), D(100))), ())}.get
    own = RestingOrder("own", Side.YES, Action.BUY, D("0.48"), D(10))
    mine = PositionView("T", resting=(own,))
    refused = engine.evaluate(buy("10", "0.50", "0.60"), fresh(engine, mine))
    assert [v.code for v in refused] == [Code.STOP_LOSS_AT_ENTRY]
    engine.books = {"T": book("0.85", no_bid="0.10")}.get
    flip = buy("6", "0.60", "0.70", side=Side.NO)
    assert [v.code for v in engine.evaluate(flip, fresh(engine, long_yes(count="5")))] == [
        Code.STOP_LOSS_AT_ENTRY
    ]


def test_stop_loss_closes_a_single_yes_contract_by_selling_yes():
    engine, _, _, _ = make(RiskLimits(stop_loss_share=D("0.5")))
    (close,) = engine.stop_loss(long_yes(count="1"), book("0.20"))
    assert (close.side, close.action, close.count) == (Side.YES, Action.SELL, D(1))


def test_stop_loss_closes_a_no_position_at_the_no_bid_and_passes_the_rules():
    engine, records, _, _ = make(RiskLimits(stop_loss_share=D("0.5"), min_edge=D("0.05")))
    short = PositionView("T", D(-10), D("0.60"), D("6.00"))
    (close,) = engine.stop_loss(short, book("0.60", no_bid="0.29"))
    assert (close.side, close.action, close.price) == (Side.NO, Action.SELL, D("0.29"))
    # the daily breaker puts trading into REDUCING; a stop-loss close still goes out
    records.set_trading_state("REDUCING", reason="breaker", source="circuit_breaker")
    assert engine.evaluate(close, fresh(engine, short, total_exposure=D(10_000))) == []


def test_after_a_stop_loss_nothing_adds_in_its_market_for_the_cooldown_but_an_exit_goes():
    """10 YES stopped out at a bid of 0.20: for `stop_loss_cooldown_s` (300 s) no order adds in
    that market, to the second, while an exit still goes; at 300 s a buy goes again."""
    limits = RiskLimits(stop_loss_share=D("0.5"), min_edge=D(0), stop_loss_cooldown_s=300)
    engine, _, clock, _ = make(limits)
    assert engine.stop_loss(long_yes(), book("0.20"))
    clock.advance(299)
    (paused,) = engine.evaluate(buy(), fresh(engine))
    assert paused.code is Code.STOP_LOSS_COOLDOWN and "stopped out 299s ago" in paused.detail
    exit_ = Intent("T", Side.YES, Action.SELL, D("0.20"), D(10), D("0.20"), "exit",
                   reduce_only=True, time_in_force=TimeInForce.IOC)  # fmt: skip
    assert engine.evaluate(exit_, fresh(engine, long_yes())) == []
    clock.advance(1)
    assert engine.evaluate(buy(), fresh(engine)) == []


def test_the_stop_loss_pause_lets_an_order_through_that_can_only_close():
    """A stop-loss that sold part of 10 YES leaves 4; a strategy's plain sale of those 4 (not
    marked reduce-only) can only close, so the pause lets it through: refused, the trader kept
    a position the stop-loss had judged worth closing. A sale of 6, which would open 2 NO, and
    a sale of 4 beside a resting sale of 2 are still paused."""
    limits = RiskLimits(stop_loss_share=D("0.5"), min_edge=D(0), stop_loss_cooldown_s=300)
    engine, _, clock, _ = make(limits)
    assert engine.stop_loss(long_yes(), book("0.20"))
    clock.advance(10)
    left = long_yes(count="4")
    sale = Intent("T", Side.YES, Action.SELL, D("0.20"), D(4), D("0.10"), "exit")
    assert engine.evaluate(sale, fresh(engine, left)) == []
    too_many = dataclasses.replace(sale, count=D(6))
    assert [v.code for v in engine.evaluate(too_many, fresh(engine, left))] == [
        Code.STOP_LOSS_COOLDOWN
    ]
    other_sale = RestingOrder("o", Side.YES, Action.SELL, D("0.30"), D(2))
    resting = dataclasses.replace(left, resting=(other_sale,))
    assert [v.code for v in engine.evaluate(sale, fresh(engine, resting))] == [
        Code.STOP_LOSS_COOLDOWN
    ]


def test_stop_loss_splits_by_max_order_size_and_cancels_orders_that_add():
    engine, _, _, _ = make(RiskLimits(max_order_count=D(4)))
    pos = PositionView(
        "T",
        D(10),
        D("0.50"),
        D("5.00"),
        resting=(
            RestingOrder("adds", Side.YES, Action.BUY, D("0.20"), D(5)),
            RestingOrder("closes", Side.YES, Action.SELL, D("0.60"), D(5)),
        ),
    )
    closes = engine.stop_loss(pos, book("0.10"))
    assert [c.count for c in closes] == [D(4), D(4), D(2)]
    assert closes[0].replaces == ("adds",) and closes[1].replaces == ()
    assert all(c.book_side is BookSide.ASK for c in closes)


def test_a_stop_loss_is_judged_without_the_bid_it_replaces_and_beside_the_ask_it_leaves():
    """10 YES bought at 0.62 ($6.20), the account's own bid resting below the book and its ask
    of 10 at 0.35 above it. The bids fall to 0.30: the stop-loss sells 10 and replaces the bid.
    Filled, it leaves the ask alone to open 10 NO ($6.50). Beside a bid of 10 at 0.25 that is
    less at risk than now ($8.70), so it goes; beside a bid of 1 it is more than now ($6.45),
    so it goes only within the limit. The bid it replaces is not left to count (10 more at
    0.25 would have taken it past $8.90), nor is it the only order left to count."""
    for bids, limit, allowed in (("10", "8.90", True), ("1", "6.49", False), ("1", "6.50", True)):
        engine, _, _, _ = make(RiskLimits(max_total_exposure=D(limit)))
        pos = PositionView(
            "T",
            D(10),
            D("0.62"),
            D("6.20"),
            resting=(
                RestingOrder("adds", Side.YES, Action.BUY, D("0.25"), D(bids)),
                RestingOrder("closes", Side.YES, Action.SELL, D("0.35"), D(10)),
            ),
        )
        (close,) = engine.stop_loss(pos, book("0.30"))
        assert close.replaces == ("adds",) and close.count == 10
        at = fresh(engine, pos, total_exposure=pos.exposure())
        codes = [v.code for v in engine.evaluate(close, at)]
        assert codes == ([] if allowed else [Code.MAX_EXPOSURE]), (bids, limit)


def test_stop_loss_needs_a_bid_and_can_be_switched_off():
    engine, _, _, events = make()
    assert engine.stop_loss(long_yes(), book(None)) == []
    assert events.kinds() == ["stop_loss_no_bid"]
    off, _, _, _ = make(RiskLimits(stop_loss_share=D(0)))
    assert off.stop_loss(long_yes(), book("0.01")) == []
    assert engine.stop_loss(PositionView("T"), book("0.01")) == []


def test_no_bid_is_reported_once_per_episode_not_every_tick():
    engine, _, _, events = make()
    for _ in range(100):
        assert engine.stop_loss(long_yes(), book(None)) == []
    assert events.kinds() == ["stop_loss_no_bid"]
    assert engine.stop_loss(long_yes(), book("0.10"))  # a bid came back: the close goes out
    engine.stop_loss(long_yes(), book(None))  # and vanished again: a new episode
    assert events.kinds().count("stop_loss_no_bid") == 2


# --------------------------------------------------------------------------------------------
# daily circuit breaker


def test_breaker_trips_exactly_at_the_threshold_and_persists_the_trip():
    engine, records, clock, events = make(RiskLimits(daily_loss_limit=D(50)))
    today = utc_day(clock.wall())
    records.pnl[today] = D("-49.99")
    assert engine.check_circuit_breaker() is False
    assert engine.evaluate(buy(), fresh(engine)) == []
    records.pnl[today] = D("-50.00")
    assert engine.check_circuit_breaker() is True
    assert records.risk_trips(rule="circuit_breaker", day=today)
    assert records.state.state == "REDUCING" and records.state.source == "circuit_breaker"
    assert "circuit_breaker" in events.kinds()
    assert [d.code for d in engine.evaluate(buy(), fresh(engine))] == [
        Code.REDUCING,
        Code.CIRCUIT_BREAKER,
    ]


def test_breaker_holds_after_a_restart_and_after_resume_until_the_next_utc_day():
    records = MemoryRecords()
    clock = ManualClock(START)
    first, _, _, _ = make(RiskLimits(daily_loss_limit=D(50)), records, clock)
    records.pnl[utc_day(START)] = D("-80")
    assert first.check_circuit_breaker()

    # a restart: a new engine over the same records; a later win does not lift the day
    records.pnl[utc_day(START)] = D("10")
    restarted, _, _, _ = make(RiskLimits(daily_loss_limit=D(50)), records, clock)
    assert restarted.check_circuit_breaker()
    resume(records)  # a person lifts the state; the day's trip still holds new orders
    codes = [d.code for d in restarted.evaluate(buy(), fresh(restarted))]
    assert codes == [Code.CIRCUIT_BREAKER]
    assert len(records.risk_trips(rule="circuit_breaker")) == 1

    clock.advance(2 * 3600)  # past midnight UTC
    assert utc_day(clock.wall()) != utc_day(START)
    assert restarted.evaluate(buy(), fresh(restarted)) == []


def test_breaker_lifts_its_own_reducing_state_on_the_next_day_but_not_a_halt():
    records = MemoryRecords()
    clock = ManualClock(START)
    engine, _, _, _ = make(RiskLimits(daily_loss_limit=D(50)), records, clock)
    records.pnl[utc_day(START)] = D("-50")
    engine.check_circuit_breaker()
    clock.advance(2 * 3600)
    assert engine.check_circuit_breaker() is False
    assert records.state.state == "ACTIVE"

    records.pnl[utc_day(clock.wall())] = D("-60")
    halt(records, reason="person", source="halt")
    assert engine.check_circuit_breaker() is True
    assert records.state.state == "HALTED"  # not weakened to REDUCING


def test_an_order_under_the_breaker_reads_the_trading_state_once_for_its_context():
    class Counted(MemoryRecords):
        reads = 0

        def trading_state(self):
            self.reads += 1
            return super().trading_state()

    records = Counted()
    engine, _, _, _ = make(RiskLimits(daily_loss_limit=D(50)), records)
    context = fresh(engine)
    read = records.reads
    assert engine.evaluate(buy(), context) == []
    assert records.reads == read  # the breaker took the context's state, not a read of its own


def test_an_order_of_the_next_day_lifts_the_breakers_own_reducing_state():
    records = MemoryRecords()
    clock = ManualClock(START)
    engine, _, _, _ = make(RiskLimits(daily_loss_limit=D(50)), records, clock)
    records.pnl[utc_day(START)] = D("-50")
    assert engine.check_circuit_breaker()
    clock.advance(2 * 3600)  # past midnight UTC
    codes = [d.code for d in engine.evaluate(buy(), fresh(engine))]
    assert codes == [Code.REDUCING]  # its context read the state before the breaker lifted it
    assert records.state.state == "ACTIVE" and records.state.reason == "new UTC day"
    assert records.state.source == "circuit_breaker"  # `kalshi trading`'s "set by"
    assert engine.evaluate(buy(), fresh(engine)) == []


def test_a_reducing_state_a_person_set_outlasts_the_breakers_new_day():
    """The breaker lifts only the REDUCING it set: one a person set goes on refusing new
    orders, on the day and on the next, until a person lifts it."""
    records = MemoryRecords()
    clock = ManualClock(START)
    engine, _, _, _ = make(RiskLimits(daily_loss_limit=D(50)), records, clock)
    records.set_trading_state("REDUCING", reason="winding down", source="kalshi reduce")
    for _ in range(2):
        assert [d.code for d in engine.evaluate(buy(), fresh(engine))] == [Code.REDUCING]
        clock.advance(24 * 3600)
    assert (records.state.state, records.state.source) == ("REDUCING", "kalshi reduce")


# --------------------------------------------------------------------------------------------
# API error guard


def server_error() -> ServerError:
    return ServerError("boom", status=503)


def test_guard_backs_off_exponentially_then_enters_safe_mode_at_the_max():
    limits = RiskLimits(max_consecutive_errors=5, backoff_base_s=1.0, backoff_max_s=6.0)
    engine, records, _, events = make(limits)
    guard = engine.api_guard
    errors = [
        server_error(),
        RateLimitedError("slow down", status=429),
        TransportError("timeout"),
        OrderOutcomeUnknown("dropped", client_order_id="c"),
    ]
    delays = [guard.record_error(e) for e in errors]
    assert [v.delay_s for v in delays] == [1.0, 2.0, 4.0, 6.0]
    assert not any(v.safe_mode for v in delays)
    assert records.state.state == "ACTIVE"
    last = guard.record_error(server_error())
    assert last.safe_mode and last.delay_s == 6.0
    assert records.state.state == "SAFE_MODE" and records.state.source == "api_error_guard"
    assert records.risk_trips(rule="api_error_guard")[0]["code"] == "SAFE_MODE"
    assert "safe_mode" in events.kinds()


def test_a_run_of_errors_in_the_thousands_still_backs_off_at_the_cap():
    # a count that high needs a long outage allowance; 2.0 ** 1025 does not fit in a float
    limits = RiskLimits(max_consecutive_errors=5_000, api_outage_s=1e9, backoff_max_s=60.0)
    engine, records, _, _ = make(limits)
    verdicts = [engine.api_guard.record_error(server_error()) for _ in range(1_100)]
    assert verdicts[-1].delay_s == 60.0 and not verdicts[-1].safe_mode
    assert records.state.state == "ACTIVE"


def test_safe_mode_stays_through_successes_and_restarts_until_resumed():
    records = MemoryRecords()
    engine, _, _, _ = make(RiskLimits(max_consecutive_errors=2), records)
    engine.api_guard.record_error(server_error())
    engine.api_guard.record_error(server_error())
    engine.api_guard.record_success()
    assert [d.code for d in engine.evaluate(buy(), fresh(engine))] == [Code.SAFE_MODE]
    restarted, _, _, _ = make(RiskLimits(max_consecutive_errors=2), records)
    assert [d.code for d in restarted.evaluate(buy(), fresh(restarted))] == [Code.SAFE_MODE]
    resume(records)
    assert restarted.evaluate(buy(), fresh(restarted)) == []


def test_a_success_resets_the_count_and_rejections_do_not_count():
    engine, records, _, _ = make(RiskLimits(max_consecutive_errors=3))
    guard = engine.api_guard
    for _ in range(2):
        guard.record_error(server_error())
    guard.record_success()
    assert guard.record_error(BadRequestError("no", status=400)).delay_s == 0.0
    for _ in range(2):
        assert not guard.record_error(server_error()).safe_mode
    assert records.state.state == "ACTIVE"


def test_guard_does_not_replace_a_halt():
    engine, records, _, _ = make(RiskLimits(max_consecutive_errors=1))
    halt(records, reason="person", source="halt")
    assert engine.api_guard.record_error(server_error()).safe_mode
    assert records.state.state == "HALTED"


# --------------------------------------------------------------------------------------------
# property: accepted intents never take position + resting past the limit


LIMIT = D(20)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("intent"), st.sampled_from(list(Side)), st.sampled_from(list(Action)),
                  st.integers(1, 15), st.booleans()),
        st.tuples(st.just("fill"), st.integers(0, 10), st.integers(1, 15)),
        st.tuples(st.just("cancel"), st.integers(0, 10)),
    ),
    max_size=40,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(ops)
def test_accepted_intents_never_take_position_plus_resting_over_the_limit(sequence):
    limits = RiskLimits(
        max_position_per_market=LIMIT,
        max_total_exposure=D(10**6),
        max_order_count=D(100),
        min_edge=D(-1),
        max_orders_per_minute=10**6,
    )
    engine, _, _, _ = make(limits)
    position = D(0)
    resting: list[RestingOrder] = []
    for n, op in enumerate(sequence):
        if op[0] == "intent":
            _, side, action, count, replace_first = op
            replaces = (resting[0].order_id,) if replace_first and resting else ()
            intent = Intent(
                "T", side, action, D("0.50"), D(count), D("0.50"), "p", replaces=replaces
            )
            view = PositionView("T", position, resting=tuple(resting))
            if not engine.evaluate(intent, fresh(engine, view)):
                resting = [o for o in resting if o.order_id not in replaces]
                resting.append(RestingOrder(str(n), side, action, D("0.50"), D(count)))
        elif op[0] == "fill" and resting:
            order = resting[op[1] % len(resting)]
            qty = min(D(op[2]), order.remaining)
            position += qty if order.book_side is BookSide.BID else -qty
            resting.remove(order)
            if qty < order.remaining:
                resting.append(
                    RestingOrder(order.order_id, order.side, order.action, order.price,
                                 order.remaining - qty)
                )  # fmt: skip
        elif op[0] == "cancel" and resting:
            resting.pop(op[1] % len(resting))
        view = PositionView("T", position, resting=tuple(resting))
        assert view.worst_case(BookSide.BID) <= LIMIT
        assert view.worst_case(BookSide.ASK) <= LIMIT


# --------------------------------------------------------------------------------------------
# the strategies' default thresholds sit at or above the engine's default floor


def test_default_strategy_intents_pass_the_default_engine():
    engine, _, _, _ = make()
    crossed = Orderbook("T", ((D("0.55"), D(20)),), ((D("0.50"), D(30)),))
    arbitrage = get_strategy("arbitrage")
    legs = arbitrage.decide(
        MarketSnapshot("T", START, crossed), PositionView("T"), arbitrage.params()
    )
    maker = get_strategy("market-maker")
    normal = Orderbook("T", ((D("0.45"), D(100)),), ((D("0.45"), D(100)),))
    quotes = maker.decide(MarketSnapshot("T", START, normal), PositionView("T"), maker.params())
    intents = [i for i in (*legs, *quotes) if isinstance(i, Intent)]
    assert len(intents) == 4
    for intent in intents:
        assert engine.evaluate(intent, fresh(engine)) == []
