"""The API error guard's backoff, arbitrage pairs and cancel/replace, on the fakes: each test
pins a path by which an order (or a burst of requests) could get past a guard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.runner.loop.alerting import TradeAlerts
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.errors import AnswerUnreadable, BadRequestError, ServerError
from kalshi_cli.vocabulary.models import Fill
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.fakes import FakeAlertStateStore, RecordingRouter
from tests.runner.fakes import (
    DECIDES_IN_STEP,
    START,
    another_trader_places,
    make_rig,
    new_exchange,
    place_on_desk,
)
from tests.waiting import wait_until


def _server_error() -> ServerError:
    return ServerError("request failed: HTTP 503", status=503)


def test_fill_reads_wait_out_the_backoff_instead_of_tripping_safe_mode(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db")
    rig.step(0.1)
    calls: list[int | None] = []

    def failing(*, min_ts: int | None = None, **_: Any) -> Iterator[Fill]:
        calls.append(min_ts)
        raise _server_error()

    rig.client.iter_fills = failing  # type: ignore[method-assign]
    rig.loop.executor.fills_due = True
    # a busy feed: many ticks within the first backoff second
    for _ in range(50):
        rig.clock.advance(0.01)
        rig.loop.tick([], full=True)
    assert len(calls) == 1, "one failed read, then nothing until the backoff has passed"
    assert rig.store.trading.trading_state().state == "ACTIVE"
    rig.clock.advance(1.0)
    rig.loop.tick([], full=True)
    assert len(calls) == 2, "the read is retried once the backoff is over"


def test_answers_that_cannot_be_read_back_off_and_trip_safe_mode(tmp_path: Path) -> None:
    """A proxy's page or a body cut short in place of every answer is an exchange failing every
    call: the loop backs off and enters SAFE_MODE on it as on 5xx, never reads on unguarded."""
    rig = make_rig(tmp_path / "s.db", risk={"max_consecutive_errors": 3})
    rig.step(0.1)
    calls: list[int | None] = []

    def unreadable(*, min_ts: int | None = None, **_: Any) -> Iterator[Fill]:
        calls.append(min_ts)
        raise AnswerUnreadable(
            "GET /trade-api/v2/portfolio/fills: the exchange answered HTTP 200 with a body "
            "that is not JSON"
        )

    rig.client.iter_fills = unreadable  # type: ignore[method-assign]
    rig.loop.executor.fills_due = True
    for _ in range(20):  # a busy feed within the first backoff second
        rig.clock.advance(0.01)
        rig.loop.tick([], full=True)
    assert len(calls) == 1, "one unreadable answer, then nothing until the backoff has passed"
    for _ in range(2):
        rig.clock.advance(5.0)  # past each backoff
        rig.loop.tick([], full=True)
    assert len(calls) == 3
    assert rig.store.trading.trading_state().state == "SAFE_MODE"
    trips = rig.store.trading.risk_trips(rule="api_error_guard")
    assert trips and "3 consecutive API errors" in trips[-1].detail


def test_no_order_goes_out_while_backing_off_even_in_the_same_pass(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", settings=DECIDES_IN_STEP)
    rig.client.create_errors.append(_server_error())
    rig.step(0.1)  # the first pass would quote both sides of every market
    assert len(rig.client.requests) == 1, "after a 503 the rest of the pass must wait"
    assert rig.loop.executor.guard.backing_off
    rig.step(1.5)
    assert len(rig.client.requests) > 1, "quoting resumes once the backoff is over"


LAL, GSW = "KXNBAGAME-SIM-LALGSW-LAL", "KXNBAGAME-SIM-LALGSW-GSW"


def _leg(ticker: str, count: str = "10") -> Intent:
    return Intent(
        ticker=ticker,
        side=Side.YES,
        action=Action.BUY,
        price=Decimal("0.51"),
        count=Decimal(count),
        model_fair=Decimal("0.99"),
        reason="arbitrage test pair",
        strategy="arbitrage",
        time_in_force=TimeInForce.FOK,
    )


def _pair_rig(
    tmp_path: Path,
    trade: dict[str, Any] | None = None,
    log_path: Path | None = None,
    **risk: Any,
) -> Any:
    rig = make_rig(
        tmp_path / "s.db", params={"spike_share": 5}, risk=risk, trade=trade, log_path=log_path
    )
    rig.step(0.1)
    return rig


def _group(rig: Any, legs: list[Intent]) -> bool:
    return bool(rig.loop.legs.execute(legs, last_data_at=rig.clock.wall()))


def _dropped(rig: Any, log_path: Path) -> list[tuple[str, str]]:
    """The sets dropped before anything went, as the log says them: (ticker, reason)."""
    rig.loop.log.close()
    lines = map(json.loads, log_path.read_text().splitlines())
    return [(e["ticker"], e["reason"]) for e in lines if e["event"] == "group_dropped"]


def test_a_pair_that_the_order_rate_cap_would_split_is_not_sent(tmp_path: Path) -> None:
    log = tmp_path / "trade.log"
    rig = _pair_rig(tmp_path, log_path=log, max_orders_per_minute=3)
    rig.loop.questions.risk.record_sent()
    rig.loop.questions.risk.record_sent()
    # one slot left: each leg alone passes, the two together do not
    assert not _group(rig, [_leg(LAL), _leg(GSW)])
    assert rig.client.requests == []
    assert _dropped(rig, log) == [(LAL, "the order-rate cap has no room for every leg")]


def test_a_pair_that_max_exposure_would_split_is_not_sent(tmp_path: Path) -> None:
    # each leg costs $5.10: one fits under $8, both do not
    log = tmp_path / "trade.log"
    rig = _pair_rig(tmp_path, log_path=log, max_total_exposure=8)
    assert not _group(rig, [_leg(LAL), _leg(GSW)])
    assert rig.client.requests == []
    # the leg the risk engine denied is named, the first let go with it
    assert _dropped(rig, log) == [(GSW, "a leg was denied by the risk engine")]


def test_the_second_leg_waits_for_the_first_to_fill(tmp_path: Path) -> None:
    rig = _pair_rig(
        tmp_path, max_order_count=1000, max_position_per_market=1000, max_total_exposure=10000
    )
    # the first leg asks for more than rests at the ask: fill-or-kill kills it
    assert not _group(rig, [_leg(LAL, "500"), _leg(GSW, "500")])
    assert [r.ticker for r in rig.client.requests] == [LAL]
    rig.client.create_errors.append(BadRequestError("request failed: HTTP 400", status=400))
    _group(rig, [_leg(LAL), _leg(GSW)])
    assert [r.ticker for r in rig.client.requests] == [LAL, LAL]
    assert rig.loop.portfolio.position(GSW) == 0
    assert _group(rig, [_leg(LAL), _leg(GSW)])
    assert [r.ticker for r in rig.client.requests[2:]] == [LAL, GSW]
    assert rig.loop.portfolio.position(LAL) == rig.loop.portfolio.position(GSW) == 10


def test_a_replaced_quote_that_filled_unseen_is_counted_before_the_new_one(
    tmp_path: Path,
) -> None:
    rig = _pair_rig(tmp_path, trade={"amend_requotes": False}, max_position_per_market=12)
    quote = Intent(
        ticker=LAL,
        side=Side.YES,
        action=Action.BUY,
        price=Decimal("0.50"),
        count=Decimal("10"),
        model_fair=Decimal("0.56"),
        reason="a quote",
        strategy="market-maker",
        post_only=True,
    )
    assert rig.loop.executor.execute(quote, last_data_at=rig.clock.wall())
    (resting,) = rig.loop.portfolio.resting(LAL)
    # another trader sells 6 into the quote (the best bid); the loop has not heard of it yet
    another_trader_places(rig.exchange, LAL, BookSide.ASK, Decimal("0.50"), Decimal("6"))
    rig.feed.drain_messages()
    requote = replace(quote, price=Decimal("0.49"), replaces=(resting.order_id,))
    # 6 held + 10 new > 12: the cancel's answer (4 cancelled, not 10) gives the fill away
    assert not rig.loop.executor.execute(requote, last_data_at=rig.clock.wall())
    assert len(rig.client.requests) == 1
    assert rig.loop.portfolio.position(LAL) == 6


def test_an_order_placed_and_amended_by_hand_counts_at_its_new_price(tmp_path: Path) -> None:
    rig = _pair_rig(tmp_path)
    me = rig.client.account_id
    placed = place_on_desk(rig.exchange, me, LAL, BookSide.BID, "0.10", "100")
    rig.step(0.1)
    assert rig.loop.portfolio.total_exposure() == Decimal("10")
    rig.exchange.desk.amend_order(
        me,
        placed.order.order_id,
        ticker=LAL,
        book_side=BookSide.BID,
        price=Decimal("0.45"),
        count=Decimal("100"),
    )
    rig.step(0.1)
    (order,) = rig.loop.portfolio.resting(LAL)
    assert order.price == Decimal("0.45")
    assert rig.loop.portfolio.total_exposure() == Decimal("45")


@pytest.mark.parametrize("state", ["REDUCING", "SAFE_MODE", "HALTED"])
def test_quotes_that_would_add_to_a_position_are_withdrawn_outside_active(
    tmp_path: Path, state: str
) -> None:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", settings=DECIDES_IN_STEP)
    rig.step(0.1)
    me = rig.client.account_id
    assert [o for o in rig.exchange.history.orders(me) if o.status == "resting"]
    rig.store.trading.set_trading_state(state, reason="test", source="test")
    rig.step(0.1)
    # flat everywhere: every resting quote would open a position if it filled
    assert [o for o in rig.exchange.history.orders(me) if o.status == "resting"] == []
    assert rig.loop.portfolio.orders == {}


def test_the_market_maker_never_cancels_an_order_placed_by_hand(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", settings=DECIDES_IN_STEP)
    rig.step(0.1)
    me = rig.client.account_id
    by_hand = place_on_desk(rig.exchange, me, LAL, BookSide.BID, "0.30", "5").order
    for _ in range(5):
        rig.step(0.5)
    assert rig.exchange.history.order(me, by_hand.order_id).status == "resting"
    # it still counts toward the limits
    assert by_hand.order_id in {o.order_id for o in rig.loop.portfolio.resting(LAL)}


def test_failed_book_polls_count_toward_the_api_error_guard(tmp_path: Path) -> None:
    """With the WebSocket down the loop's books come from REST polls: an exchange that fails
    every poll is an exchange failing every request, and SAFE_MODE trips on it as on failed
    orders and fill reads."""
    from kalshi_cli.feed.book import FeedMessage, MessageKind

    rig = make_rig(tmp_path / "s.db", risk={"max_consecutive_errors": 3})
    rig.step(0.1)
    for n in range(3):
        rig.clock.advance(2.0)  # past each backoff
        polls = [
            FeedMessage(
                MessageKind.ERROR, "KXM-1", reason="HTTP 503", source="rest", error=_server_error()
            )
        ]
        rig.loop.tick(polls, full=True)
        if n < 2:
            assert rig.store.trading.trading_state().state == "ACTIVE"
    assert rig.store.trading.trading_state().state == "SAFE_MODE"
    trips = rig.store.trading.risk_trips(rule="api_error_guard")
    assert trips and "3 consecutive API errors" in trips[-1].detail


def test_a_failed_poll_of_a_refused_market_is_no_outage(tmp_path: Path) -> None:
    from kalshi_cli.feed.book import FeedMessage, MessageKind
    from kalshi_cli.vocabulary.errors import NotFoundError

    rig = make_rig(tmp_path / "s.db", risk={"max_consecutive_errors": 2})
    rig.step(0.1)
    for _ in range(5):
        rig.clock.advance(2.0)
        gone = NotFoundError("not found", status=404)
        rig.loop.tick(
            [FeedMessage(MessageKind.ERROR, "KXM-1", source="rest", error=gone)], full=True
        )
    assert rig.store.trading.trading_state().state == "ACTIVE"


def test_a_feed_error_carrying_the_exchanges_body_is_logged_and_the_loop_goes_on(
    tmp_path: Path,
) -> None:
    """A refused subscription command comes as an error with the exchange's body: logged, and
    the loop's next tick is made as any other."""
    from kalshi_cli.feed.book import FeedMessage, MessageKind

    rig = make_rig(tmp_path / "s.db")
    rig.step(0.1)
    body = {"code": 6, "msg": "Already subscribed"}
    refused = FeedMessage(MessageKind.ERROR, data=body, reason="subscription refused")
    rig.loop.tick([refused], full=True)
    assert rig.loop.log.counts.get("feed_error") == 1
    rig.step(0.1)
    assert rig.store.trading.trading_state().state == "ACTIVE"


def _ioc(ticker: str, price: str, count: str) -> Intent:
    return replace(_leg(ticker, count), price=Decimal(price), time_in_force=TimeInForce.IOC)


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[Any]:
    """A pair rig whose event log is written to `trade.log`."""
    rig = make_rig(
        tmp_path / "s.db",
        params={"spike_share": 5},
        log_path=tmp_path / "trade.log",
        risk={"max_order_count": 1000, "max_position_per_market": 1000},
    )
    rig.step(0.1)
    yield rig
    rig.loop.log.close()


def _leg_events(tmp_path: Path) -> list[tuple[str, str, str, str]]:
    import json

    lines = (tmp_path / "trade.log").read_text().splitlines()
    return [
        (e["ticker"], e["action"], e["count"], e["filled"])
        for e in map(json.loads, lines)
        if e["event"] == "group_leg"
    ]


def test_a_leg_that_fills_nothing_has_the_legs_before_it_sold_back(
    logged: Any, tmp_path: Path
) -> None:
    rig = logged
    # GSW's YES ask is above 0.05: its IOC leg fills nothing, and the 10 LAL bought is sold
    _group(rig, [_ioc(LAL, "0.60", "10"), _ioc(GSW, "0.05", "10")])
    # selling YES is the ask side of the book
    sells = [r for r in rig.client.requests if r.book_side is BookSide.ASK]
    assert [(r.ticker, r.count, r.reduce_only) for r in sells] == [(LAL, 10, True)]
    assert rig.loop.portfolio.position(LAL) == rig.loop.portfolio.position(GSW) == 0
    assert _leg_events(tmp_path) == [
        (LAL, "buy", "10", "10"),
        (GSW, "buy", "10", "0"),
        (LAL, "sell", "10", "10"),
    ]


def test_a_leg_that_fills_short_shrinks_the_set_and_sells_back_the_rest(
    logged: Any, tmp_path: Path
) -> None:
    rig = logged
    book = rig.feed.book(GSW)
    assert book is not None and book.yes_ask is not None
    price, depth = book.yes_ask
    # the second leg asks for more than rests at GSW's ask: it fills `depth`, and LAL's extra
    # contracts are sold back, leaving `depth` whole pairs
    asked = depth + 20
    _group(rig, [_ioc(LAL, "0.60", str(asked)), _ioc(GSW, str(price), str(asked))])
    assert rig.loop.portfolio.position(LAL) == rig.loop.portfolio.position(GSW) == depth
    assert _leg_events(tmp_path)[-1] == (LAL, "sell", "20", "20")


def _told(router: RecordingRouter, count: int) -> None:
    """The alert thread has taken the first `count` changes. A change still waiting when the
    next one of its fingerprint comes is replaced by it (the newest is sent), so a test that
    pins each change waits for it before making the next: a thread behind on a busy machine is
    then no different from one that kept up."""
    wait_until(lambda: len(router.asked) >= count, lambda: f"{count}: {router.asked}")


def test_a_position_breach_is_alerted_again_after_the_market_went_flat(tmp_path: Path) -> None:
    """A breach alerts once while it lasts and is resolved when the market is back within its
    limit, so a market that went flat and breaches again pages again at once (the router's
    repeat interval holds back only a breach that never cleared)."""
    log = tmp_path / "trade.log"
    clock = ManualClock(START)
    router = RecordingRouter()
    rig = make_rig(
        tmp_path / "s.db",
        exchange=new_exchange("quiet", clock),
        clock=clock,
        risk={"max_position_per_market": 2},
        log_path=log,
        alerts=TradeAlerts(router, lambda: nullcontext(FakeAlertStateStore(clock))),
    )
    ticker = "KXFEDDECISION-SIM-DEC-H0"

    def trade(book_side: BookSide, price: str, count: int = 3) -> None:
        place_on_desk(
            rig.exchange,
            rig.client.account_id,
            ticker,
            book_side,
            price,
            count,
            time_in_force=TimeInForce.IOC,
        )
        rig.step(0.1)
        rig.step(0.1)

    trade(BookSide.BID, "0.99", 2)  # at the limit of 2: no breach
    trade(BookSide.BID, "0.99", 1)  # 3: over it
    _told(router, 1)
    trade(BookSide.ASK, "0.01")  # sells them back: flat
    assert rig.loop.portfolio.position(ticker) == 0
    _told(router, 2)
    trade(BookSide.BID, "0.99")  # over the limit again
    _told(router, 3)
    rig.loop.log.close()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    breaches = [e for e in lines if e["event"] == "position_breach"]
    assert [(e["ticker"], e["position"]) for e in breaches] == [(ticker, "3.00"), (ticker, "3.00")]
    rig.loop.stop.alerts.close()
    fingerprint = f"trade.position_breach.{ticker}"
    assert router.asked == [("fire", fingerprint), ("resolve", fingerprint), ("fire", fingerprint)]
    rig.store.close()


def test_a_stale_feed_alert_is_resolved_when_the_market_is_fresh_again(tmp_path: Path) -> None:
    router = RecordingRouter()
    clock = ManualClock(START)
    rig = make_rig(
        tmp_path / "s.db",
        clock=clock,
        alerts=TradeAlerts(router, lambda: nullcontext(FakeAlertStateStore(clock))),
    )
    ticker = next(iter(rig.loop.portfolio.markets))
    rig.loop.tick([FeedMessage(MessageKind.STALE, ticker, reason="no_data")], full=False)
    _told(router, 1)
    rig.loop.tick([FeedMessage(MessageKind.FRESH, ticker)], full=False)
    rig.loop.stop.alerts.close()
    fingerprint = f"trade.feed_stale.{ticker}"
    assert router.asked == [("fire", fingerprint), ("resolve", fingerprint)]
    rig.store.close()
