"""What the risk layer *says*: each denial's code and exact detail, each logged event's fields,
each trip row and trading-state row it writes (a person reads them in the log, in alerts, in
`kalshi status` and the state history). Mutation testing of `kalshi_cli/risk/` found these
unpinned (docs/mutation.md, `risk/`): a message emptied, an event field
dropped, a guard's count not reset, went unnoticed by tests that checked only the codes."""

from __future__ import annotations

import json
import logging
from decimal import Decimal as D

import pytest

from kalshi_cli.risk.engine import OrderRateCap, RiskEngine, RiskLimits
from kalshi_cli.risk.rules import (
    CircuitBreakerRule,
    Code,
    MaxExposureRule,
    MaxOrderSizeRule,
    MinEdgeRule,
    OrderRateRule,
    PositionLimitRule,
    RiskContext,
    StaleFeedRule,
    TradingStateRule,
)
from kalshi_cli.risk.state import halt, resume
from kalshi_cli.vocabulary.clock import ManualClock, utc_day
from kalshi_cli.vocabulary.decisions import Intent, PositionView, RestingOrder
from kalshi_cli.vocabulary.errors import BadRequestError, ServerError
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.conftest import standard_rates
from tests.fakes import loop_context
from tests.risk.fakes import START, MemoryRecords, Row, make

TODAY = "2023-11-14"


def intent(side=Side.YES, action=Action.BUY, price="0.40", count="10", fair="0.50", **kw):
    if kw.get("reduce_only"):
        kw.setdefault("time_in_force", TimeInForce.IOC)
    return Intent("T", side, action, D(price), D(count), D(fair), "test", **kw)


STANDARD = standard_rates("T", START)  # Kalshi's standard (taker, maker) rates


def ctx(position: PositionView | None = None, **kw) -> RiskContext:
    kw.setdefault("state", TradingState.ACTIVE)
    kw.setdefault("last_data_at", START)
    return RiskContext(now=START, position=position or PositionView("T"), **kw)


def fresh(engine: RiskEngine, position: PositionView | None = None, **kw) -> RiskContext:
    kw.setdefault("last_data_at", engine.clock.wall())
    kw.setdefault("total_exposure", D(0))
    return loop_context(engine, position or PositionView("T"), **kw)


# --------------------------------------------------------------------------------------------
# evaluate: the risk_denied event, whole


def test_each_denial_is_logged_with_every_field_of_the_intent():
    engine, _, _, events = make(RiskLimits(max_order_count=D(5)))
    order = Intent("T", Side.NO, Action.SELL, D("0.45"), D(6), D("0.40"), "why", strategy="mm")
    (denial,) = engine.evaluate(order, fresh(engine))
    assert (denial.allowed, denial.code, denial.detail) == (
        False,
        Code.MAX_ORDER_SIZE,
        "count 6 > max 5",
    )
    assert events.seen == [
        (
            "risk_denied",
            {
                "code": "MAX_ORDER_SIZE",
                "detail": "count 6 > max 5",
                "ticker": "T",
                "side": "no",
                "action": "sell",
                "price": "0.45",
                "count": "6",
                "strategy": "mm",
            },
        )
    ]


def test_denials_come_in_rule_order_each_with_its_own_detail():
    engine, records, _, events = make(RiskLimits(max_order_count=D(5), min_edge=D("0.5")))
    halt(records, reason="person", source="halt")
    denials = engine.evaluate(intent(count="6"), fresh(engine))
    assert [(d.code, d.detail) for d in denials] == [
        (Code.HALTED, "trading state is HALTED"),
        (Code.MAX_ORDER_SIZE, "count 6 > max 5"),
        (Code.MIN_EDGE, "edge after fees 0.0832 < min 0.5"),
    ]
    assert [(k, d["code"], d["detail"]) for k, d in events.seen] == [
        ("risk_denied", str(d.code), d.detail) for d in denials
    ]


def test_the_default_sink_writes_each_event_to_the_risk_log_as_sorted_json(caplog):
    engine = RiskEngine(
        MemoryRecords(),
        RiskLimits(max_order_count=D(5)),
        clock=ManualClock(START),
        fee_rates=standard_rates,
    )
    with caplog.at_level(logging.WARNING, logger="kalshi_cli.risk"):
        engine.evaluate(intent(count="6"), fresh(engine))
    (record,) = [r for r in caplog.records if r.name == "kalshi_cli.risk"]
    assert record.levelno == logging.WARNING
    kind, _, body = record.getMessage().partition(" ")
    assert kind == "risk_denied"
    assert body == json.dumps(
        {
            "action": "buy",
            "code": "MAX_ORDER_SIZE",
            "count": "6",
            "detail": "count 6 > max 5",
            "price": "0.40",
            "side": "yes",
            "strategy": "",
            "ticker": "T",
        }
    )


def test_an_engine_without_limits_uses_the_documented_defaults():
    engine, _, _, _ = make()
    assert engine.limits == RiskLimits()
    assert engine.rate_cap.limit == 120
    assert [d.detail for d in engine.evaluate(intent(count="51"), fresh(engine))] == [
        "count 51 > max 50"
    ]


def test_the_start_up_lines_list_every_rule_the_engine_asks_with_the_limits_it_reads():
    """A rule carries its name, config keys and hint (`about`): the trade loop's start-up lines
    list every rule the engine asks, each with the values of the `risk:` limits it reads."""
    from kalshi_cli.runner.loop.summary import risk_lines

    limits = RiskLimits(max_order_count=D(7), max_order_cost=D(3), min_edge=D("0.02"))
    engine, _, _, _ = make(limits)
    lines = risk_lines(limits)
    for rule in engine.rules:
        (line,) = [x for x in lines if x.startswith(f"  {rule.about.name:<16} ")]
        assert rule.about.what in line
        for name in rule.about.limits:
            assert f"{name}={getattr(limits, name)}" in line
    assert [x for x in lines if "max_order_count=7" in x and "max_order_cost" not in x]
    assert [x for x in lines if "max_order_cost=3" in x]
    assert engine.rules[-1].about.keys == "risk.stop_loss_share"


def test_the_context_carries_the_clock_the_books_time_and_the_exposure():
    engine, _, clock, _ = make()
    clock.advance(7)
    view = PositionView("T", D(3))
    built = loop_context(engine, view, total_exposure=D("12.5"), last_data_at=START)
    rates = standard_rates("T", START + 7)  # the market's own, as the engine was told them
    assert built == RiskContext(
        START + 7, TradingState.ACTIVE, view, D("12.5"), START, fee_rates=rates
    )


# --------------------------------------------------------------------------------------------
# each rule's denial, word for word


@pytest.mark.parametrize(
    ("state", "detail"),
    [
        (TradingState.REDUCING, "trading state is REDUCING and this order is not reduce_only"),
        (TradingState.HALTED, "trading state is HALTED"),
        (TradingState.SAFE_MODE, "trading state is SAFE_MODE"),
    ],
)
def test_the_trading_state_denial_names_the_state(state, detail):
    verdict = TradingStateRule().check(intent(), ctx(state=state))
    assert (verdict.allowed, verdict.code, verdict.detail) == (False, Code(state.value), detail)


def test_the_circuit_breaker_denial_names_the_day():
    class Tripped:
        def tripped(self, day: str, state: TradingState | None = None) -> bool:
            return day == TODAY

    verdict = CircuitBreakerRule(Tripped()).check(intent(), ctx())
    assert (verdict.allowed, verdict.code, verdict.detail) == (
        False,
        Code.CIRCUIT_BREAKER,
        f"daily loss limit reached on {TODAY}; no new orders until tomorrow",
    )


def test_the_stale_feed_denials_say_why():
    rule = StaleFeedRule(stale_after_s=10.0)
    details = [
        rule.check(intent(), ctx(last_data_at=None)),
        rule.check(intent(), ctx(last_data_at=START - 12.34)),
    ]
    assert [(v.allowed, v.code, v.detail) for v in details] == [
        (
            False,
            Code.STALE_FEED,
            "T: no fresh book (no market data yet, or a sequence gap not yet resynced)",
        ),
        (False, Code.STALE_FEED, "T: no market data for 12.3s"),
    ]


def test_the_order_rate_denial_counts_the_orders_and_names_the_cap():
    clock = ManualClock(START)
    cap = OrderRateCap(2, clock=clock)
    for _ in range(2):
        cap.record()
    verdict = OrderRateRule(cap).check(intent(), ctx())
    assert (verdict.allowed, verdict.code, verdict.detail) == (
        False,
        Code.ORDER_RATE,
        "2 orders in the last minute (cap 2)",
    )


def test_the_order_size_denial():
    verdict = MaxOrderSizeRule(D(10)).check(intent(count="10.01"), ctx())
    assert (verdict.allowed, verdict.code, verdict.detail) == (
        False,
        Code.MAX_ORDER_SIZE,
        "count 10.01 > max 10",
    )


def test_the_position_limit_denial_names_the_worst_case_and_the_limit():
    rule = PositionLimitRule(D(100))
    long_yes = PositionView(
        "T", D(85), resting=(RestingOrder("a", Side.YES, Action.BUY, D("0.40"), D(5)),)
    )
    yes = rule.check(intent(count="11"), ctx(long_yes))
    assert (yes.allowed, yes.code, yes.detail) == (
        False,
        Code.POSITION_LIMIT,
        "T: position plus resting orders would reach 101.00 contracts, over the limit of 100",
    )
    no = rule.check(intent(Side.NO, count="101"), ctx())
    assert (no.allowed, no.code, no.detail) == (
        False,
        Code.POSITION_LIMIT,
        "T: position plus resting orders would reach 101.00 contracts, over the limit of 100",
    )


def test_the_exposure_denial_names_the_total_after_the_order():
    rule = MaxExposureRule(D("100"))
    pos = PositionView("T", position=D(10), entry_cost=D("4.00"))
    verdict = rule.check(intent(price="0.41", count="10"), ctx(pos, total_exposure=D(96)))
    assert (verdict.allowed, verdict.code, verdict.detail) == (
        False,
        Code.MAX_EXPOSURE,
        "total exposure $100.10 > max $100.00",
    )


def test_the_exposure_rule_lets_through_what_adds_nothing_even_over_the_max():
    rule = MaxExposureRule(D("100"))
    pos = PositionView("T", position=D(10), entry_cost=D("4.00"))
    # selling held YES adds no exposure: the total stays 500, over the max, and it passes
    closing = intent(Side.YES, Action.SELL, price="0.30", count="10")
    assert rule.check(closing, ctx(pos, total_exposure=D(500))).allowed


def test_the_min_edge_denial_gives_the_edge_to_four_places():
    # fee 0.07 x 10 x 0.40 x 0.60 = 0.168, 0.0168 a contract; edge 0.4999 - 0.40 - 0.0168
    verdict = MinEdgeRule(D("0.0832")).check(intent(fair="0.4999"), ctx(fee_rates=STANDARD))
    assert (verdict.allowed, verdict.code, verdict.detail) == (
        False,
        Code.MIN_EDGE,
        "edge after fees 0.0831 < min 0.0832",
    )


# --------------------------------------------------------------------------------------------
# the circuit breaker: the trip row, the state row, the event, the day roll-over


def test_the_trip_reason_shows_a_sub_cent_loss_to_kalshis_fee_unit():
    engine, records, _, _ = make(RiskLimits(daily_loss_limit=D("2.5")))
    records.pnl[TODAY] = D("-2.789500")
    assert engine.check_circuit_breaker() is True
    assert records.trips[0]["detail"] == (
        f"realized P&L -$2.7895 on {TODAY} reached the daily loss limit of -$2.50"
    )


def test_a_trip_writes_one_row_sets_reducing_and_emits_the_event_with_its_fields():
    engine, records, _, events = make(RiskLimits(daily_loss_limit=D(50)))
    records.pnl[TODAY] = D("-50.000000")
    # money as a person reads it: the ledger's six places are not shown
    detail = f"realized P&L -$50.00 on {TODAY} reached the daily loss limit of -$50.00"
    assert engine.check_circuit_breaker() is True
    assert records.trips == [
        {
            "rule": "circuit_breaker",
            "code": "CIRCUIT_BREAKER",
            "detail": detail,
            "ticker": None,
            "day": TODAY,
        }
    ]
    assert records.history[1:] == [Row("REDUCING", detail, "circuit_breaker")]
    assert events.seen == [
        ("circuit_breaker", {"day": TODAY, "realized_pnl": "-50.0000", "detail": detail})
    ]
    # asked again every tick of the day: no second row, no second event
    for _ in range(3):
        assert engine.check_circuit_breaker() is True
    assert len(records.trips) == 1 and len(events.seen) == 1 and len(records.history) == 2


@pytest.mark.parametrize("state", ["HALTED", "SAFE_MODE"])
def test_a_trip_does_not_weaken_a_stricter_state(state):
    engine, records, _, events = make(RiskLimits(daily_loss_limit=D(50)))
    records.set_trading_state(state, reason="before", source="person")
    records.pnl[TODAY] = D("-60")
    assert engine.check_circuit_breaker() is True
    assert records.trading_state() == Row(state, "before", "person")
    assert [k for k, _ in events.seen] == ["circuit_breaker"] and len(records.trips) == 1


def test_the_next_day_lifts_the_breakers_own_reducing_once_and_says_why():
    engine, records, clock, _ = make(RiskLimits(daily_loss_limit=D(50)))
    records.pnl[TODAY] = D("-50")
    engine.check_circuit_breaker()
    clock.advance(2 * 3600)  # past midnight UTC
    for _ in range(3):  # every tick of the new day
        assert engine.check_circuit_breaker() is False
    assert records.history[2:] == [Row("ACTIVE", "new UTC day", "circuit_breaker")]
    assert engine.evaluate(intent(), fresh(engine)) == []


def test_the_next_day_leaves_a_reducing_state_it_did_not_set():
    engine, records, clock, _ = make(RiskLimits(daily_loss_limit=D(50)))
    records.set_trading_state("REDUCING", reason="by hand", source="operator")
    clock.advance(2 * 3600)
    assert engine.check_circuit_breaker() is False
    assert records.trading_state() == Row("REDUCING", "by hand", "operator")


def test_a_day_above_the_limit_is_not_tripped_and_writes_nothing():
    engine, records, _, events = make(RiskLimits(daily_loss_limit=D(50)))
    records.pnl[TODAY] = D("-49.99")
    assert engine.check_circuit_breaker() is False
    assert records.trips == [] and events.seen == [] and len(records.history) == 1


# --------------------------------------------------------------------------------------------
# the API error guard: SAFE_MODE's row, event and the fresh count after it


def test_safe_mode_entry_writes_the_trip_the_state_and_the_event_with_the_last_error():
    limits = RiskLimits(max_consecutive_errors=2, backoff_base_s=1.0, backoff_max_s=8.0)
    engine, records, _, events = make(limits)
    guard = engine.api_guard
    assert guard.record_error(ServerError("first", status=502)).delay_s == 1.0
    verdict = guard.record_error(ServerError("gateway down", status=503))
    assert (verdict.delay_s, verdict.safe_mode) == (8.0, True)
    detail = "2 consecutive API errors, last: gateway down"
    assert records.trips == [
        {"rule": "api_error_guard", "code": "SAFE_MODE", "detail": detail, "ticker": None,
         "day": None}
    ]  # fmt: skip
    assert records.history[1:] == [Row("SAFE_MODE", detail, "api_error_guard")]
    assert events.seen == [("safe_mode", {"detail": detail})]


def test_after_safe_mode_the_count_starts_again_and_the_first_reason_stays():
    limits = RiskLimits(max_consecutive_errors=2, backoff_base_s=1.0, backoff_max_s=8.0)
    engine, records, _, events = make(limits)
    guard = engine.api_guard
    for _ in range(2):
        guard.record_error(ServerError("boom", status=503))
    first = records.trading_state()
    # the next error is the first of a new count: the base backoff, not SAFE_MODE again
    again = guard.record_error(ServerError("boom", status=503))
    assert (again.delay_s, again.safe_mode) == (1.0, False)
    assert len(events.seen) == 1
    # a second trip while already in SAFE_MODE records itself but keeps the state row
    assert guard.record_error(ServerError("later", status=503)).safe_mode
    assert records.trading_state() == first and len(records.history) == 2
    assert [t["detail"] for t in records.trips] == [
        "2 consecutive API errors, last: boom",
        "2 consecutive API errors, last: later",
    ]


def test_a_rejection_neither_counts_nor_resets_the_count():
    engine, records, _, _ = make(RiskLimits(max_consecutive_errors=3))
    guard = engine.api_guard
    for _ in range(2):
        guard.record_error(ServerError("boom", status=503))
    rejected = guard.record_error(BadRequestError("no", status=400))
    assert (rejected.delay_s, rejected.safe_mode) == (0.0, False)
    assert guard.record_error(ServerError("boom", status=503)).safe_mode
    assert records.trading_state().state == "SAFE_MODE"


# --------------------------------------------------------------------------------------------
# the stop-loss: what the close says, which orders it replaces on the NO side, the no-bid event


def yes_book(yes_bid: str | None, no_bid: str | None = "0.40") -> Orderbook:
    yes = () if yes_bid is None else ((D(yes_bid), D(100)),)
    no = () if no_bid is None else ((D(no_bid), D(100)),)
    return Orderbook("T", yes, no)


def test_the_close_explains_itself_and_is_priced_and_valued_at_the_bid():
    engine, _, _, _ = make(RiskLimits(stop_loss_share=D("0.5")))
    pos = PositionView("T", D(10), D("0.50"), D("5.00"))
    (close,) = engine.stop_loss(pos, yes_book("0.24"))
    assert close == Intent(
        ticker="T",
        side=Side.YES,
        action=Action.SELL,
        price=D("0.24"),
        count=D(10),
        model_fair=D("0.24"),
        reason="stop-loss: mark 0.24 x 10 < 0.5 x entry cost 5.00",
        strategy="stop-loss",
        reduce_only=True,
        time_in_force=TimeInForce.IOC,
    )


@pytest.mark.parametrize(("contracts", "chunks"), [("1", ["1"]), ("9", ["4", "4", "1"])])
def test_the_close_covers_the_last_single_contract(contracts, chunks):
    engine, _, _, _ = make(RiskLimits(max_order_count=D(4)))
    pos = PositionView("T", D(contracts), D("0.50"), D("0.50") * D(contracts))
    closes = engine.stop_loss(pos, yes_book("0.10"))
    assert [c.count for c in closes] == [D(c) for c in chunks]


def test_a_no_close_replaces_the_resting_orders_that_would_add_no():
    engine, _, _, _ = make()
    short = PositionView(
        "T",
        D(-10),
        D("0.60"),
        D("6.00"),
        resting=(
            RestingOrder("adds-no", Side.NO, Action.BUY, D("0.50"), D(5)),
            RestingOrder("adds-no-too", Side.YES, Action.SELL, D("0.50"), D(5)),
            RestingOrder("closes", Side.YES, Action.BUY, D("0.30"), D(5)),
        ),
    )
    (close,) = engine.stop_loss(short, yes_book("0.60", no_bid="0.29"))
    assert close.book_side is BookSide.BID
    assert close.replaces == ("adds-no", "adds-no-too")


def test_the_no_bid_event_names_the_market_and_the_held_side():
    engine, _, _, events = make()
    short = PositionView("T", D(-10), D("0.60"), D("6.00"))
    assert engine.stop_loss(short, yes_book("0.60", no_bid=None)) == []
    assert events.seen == [("stop_loss_no_bid", {"ticker": "T", "side": "no"})]


def test_a_position_back_above_the_floor_ends_the_no_bid_episode():
    engine, _, _, events = make()
    pos = PositionView("T", D(10), D("0.50"), D("5.00"))
    engine.stop_loss(pos, yes_book(None))
    # the bid came back above the floor: no close, and the episode is over
    assert engine.stop_loss(pos, yes_book("0.45")) == []
    engine.stop_loss(pos, yes_book(None))
    assert [k for k, _ in events.seen] == ["stop_loss_no_bid", "stop_loss_no_bid"]


# --------------------------------------------------------------------------------------------
# halt and resume: the state rows a person reads in the history


def test_halt_and_resume_write_the_rows_a_person_reads():
    records = MemoryRecords()
    halt(records, reason="kill switch", source="cancel-all")
    assert resume(records) is TradingState.HALTED
    assert records.history[1:] == [
        Row("HALTED", "kill switch", "cancel-all"),
        Row("ACTIVE", "resumed from HALTED", "kalshi resume"),
    ]


def test_utc_day_names_the_calendar_day():
    assert utc_day(START) == TODAY
    assert utc_day(START + 2 * 3600) == "2023-11-15"
