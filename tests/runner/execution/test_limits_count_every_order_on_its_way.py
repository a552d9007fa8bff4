"""The position and exposure limits, and each strategy's budget, hold before submission with the
loop's calls on send workers: every order on its way counts as resting, also one the decisions
after it cannot see on the exchange or in the view yet (a replacement waiting for its cancels to
be answered, an order of unknown outcome), and until its cancel is answered the order replaced
counts beside its replacement (the cancel may fail, and both then rest)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.client.requests import CancelResult, CreateOrder, CreateOrderResult
from kalshi_cli.store import IntentRecord
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.runner.fakes import Held, Rig, make_rig, swap_decide
from tests.waiting import poll_until

RISK = {"max_orders_per_minute": 1000, "min_edge": "0"}


def _bid(ticker: str, price: str, count: str, replaces: tuple[str, ...] = ()) -> Intent:
    return Intent(
        ticker,
        Side.YES,
        Action.BUY,
        Decimal(price),
        Decimal(count),
        Decimal("0.90"),
        "test",
        replaces=replaces,
    )


def _ask(ticker: str, price: str) -> Intent:
    return Intent(
        ticker, Side.YES, Action.SELL, Decimal(price), Decimal(10), Decimal("0.10"), "test"
    )


def _resting_yes_bids(rig: Rig, ticker: str) -> Decimal:
    orders = rig.exchange.history.orders(rig.client.account_id)
    return sum(
        (
            o.remaining_count
            for o in orders
            if o.ticker == ticker and o.status == "resting" and o.book_side is BookSide.BID
        ),
        Decimal(0),
    )


def _cancels_held(rig: Rig) -> tuple[threading.Event, threading.Event]:
    """Every cancel waits for `release` in the network; `held` is set once one does."""
    held, release = threading.Event(), threading.Event()
    cancel = rig.client.cancel_order

    def waiting(order_id: str, **kw: Any) -> CancelResult:
        held.set()
        release.wait(30)
        return cancel(order_id, **kw)

    rig.client.cancel_order = waiting  # type: ignore[method-assign]
    return held, release


def _settle(rig: Rig) -> None:
    dispatch = rig.loop.dispatch
    while dispatch.in_flight:
        assert dispatch.settle(SystemClock(), 30)


def test_an_order_decided_while_a_replacements_cancel_is_out_counts_the_replacement(
    tmp_path: Path,
) -> None:
    """A strategy replaces its bid of 5 by one of 15 and, in the same visit, bids 10 more; the
    position limit is 20. The 10 was judged beside the old bid of 5 alone: the replacement,
    waiting for its cancel, was nowhere the risk engine looked, so once the cancel was
    answered 25 YES rested against a limit of 20."""
    rig = make_rig(
        tmp_path / "s.db",
        strategy="market-maker",
        risk={**RISK, "max_position_per_market": "20"},
        send_workers=2,
        trade={"amend_requotes": False},  # the replacement waits for its cancel
    )
    ticker = next(iter(rig.exchange.reference.markets))
    decided: list[str] = []
    # the bid is replaced once its cancel is held, not before: an order answered within the
    # tick that sent it gives its market another visit in that tick (`MarketTurns.serve`)
    replacing: list[str] = []

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Intent]:
        if snap.ticker != ticker:
            return []
        if not decided:
            decided.append("first")
            return [_bid(ticker, "0.05", "5")]
        if pos.resting and replacing and len(decided) == 1:
            decided.append("replaced")
            (old,) = pos.resting
            return [_bid(ticker, "0.06", "15", (old.order_id,)), _bid(ticker, "0.04", "10")]
        return []

    swap_decide(rig.loop, decide)
    try:
        rig.step(0.5)
        _settle(rig)
        assert _resting_yes_bids(rig, ticker) == 5
        held, release = _cancels_held(rig)
        replacing.append(ticker)
        swap_decide(rig.loop, decide)  # asked afresh, not skipped as a quiet market
        rig.step(0.5)
        assert decided == ["first", "replaced"]
        assert held.wait(30), "the replacement's cancel is out"
        release.set()
        _settle(rig)
        assert poll_until(lambda: not rig.loop.dispatch.in_flight)
    finally:
        release.set()
        rig.loop.dispatch.close()
    # the replacement went; the 10 beside it would have carried the market past the limit
    assert _resting_yes_bids(rig, ticker) == 15
    assert rig.loop.log.counts.get("risk_denied") == 1


def test_a_strategys_order_of_unknown_outcome_counts_toward_its_own_budget(
    tmp_path: Path,
) -> None:
    """A strategy with $5 of its own to risk bids $4 in one market, and the answer is lost: the
    order may rest. Its $4 counted toward the account's exposure, but not toward the
    strategy's budget, which let a second $4 bid go out in another market: $8 of the strategy's
    own at risk once the lost order was found resting."""
    first, second = "KXNBAGAME-SIM-LALGSW-LAL", "KXNBAGAME-SIM-BOSNYK-BOS"
    rig = make_rig(
        tmp_path / "s.db",
        strategy="market-maker",
        risk=RISK,
        trade={"budgets": {"market-maker": {"max_exposure": "5"}}},
    )
    turn = [first]

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Intent]:
        if snap.ticker not in turn:
            return []
        turn.remove(snap.ticker)
        return [_bid(snap.ticker, "0.40", "10")]

    swap_decide(rig.loop, decide)
    # the first order's answer is lost, and the order reaches the exchange late
    rig.client.create_errors.append(Held(3.0))
    rig.step(0.5)
    (lost,) = rig.loop.executor.unknown_orders.unknown.values()
    assert lost.ticker == first
    turn.append(second)
    swap_decide(rig.loop, decide)  # asked afresh, not skipped as a quiet market
    rig.step(2.0)  # past the API error guard's backoff after the lost answer
    assert not turn, "the strategy was asked"
    for _ in range(3):
        rig.step(1.0)
    assert not rig.loop.executor.unknown_orders.unknown
    # the lost order landed and rests; the second was refused for the strategy's budget
    assert (_resting_yes_bids(rig, first), _resting_yes_bids(rig, second)) == (10, 0)
    assert [r.ticker for r in rig.client.requests] == [first]


def test_orders_on_their_way_in_one_market_count_together_toward_the_exposure(
    tmp_path: Path,
) -> None:
    """The account holds 10 YES ($5.10); two asks of 10 go out in one visit and their answers
    are held. The first only closes what is held; the second, beside it, would open 10 NO
    ($4.50). The risk engine judged the second beside the first, but the orders in flight were
    each counted against the view alone, where each only closed: $0 on their way, so a $4 bid
    in another market went out against a limit of $10 ($13.60 at risk once all rested)."""
    first, second = "KXNBAGAME-SIM-LALGSW-LAL", "KXNBAGAME-SIM-BOSNYK-BOS"
    rig = make_rig(
        tmp_path / "s.db",
        strategy="market-maker",
        risk={**RISK, "max_total_exposure": "10"},
        send_workers=4,
    )
    turn: list[str] = []

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Intent]:
        if snap.ticker not in turn:
            return []
        turn.remove(snap.ticker)
        if snap.ticker == first:
            return [_ask(first, "0.60"), _ask(first, "0.55")]
        return [_bid(second, "0.40", "10")]

    swap_decide(rig.loop, decide)
    rig.step(0.5)
    rig.hand_buy_yes(first, "0.51", 10)
    rig.step(0.5)
    _settle(rig)
    assert rig.loop.portfolio.position(first) == 10
    # bought by hand, given to the market maker (`--assign`): its asks may sell them all and
    # turn the position, where they would be cut to its own part (nothing) otherwise
    assert rig.loop.portfolio.assign("market-maker", first, rig.clock.wall()) == 10
    held, release = threading.Semaphore(0), threading.Event()
    create = rig.client.create_order

    def holding(request: CreateOrder) -> CreateOrderResult:
        if request.ticker == first:
            held.release()
            release.wait(30)
        return create(request)

    rig.client.create_order = holding  # type: ignore[method-assign]
    try:
        turn.append(first)
        swap_decide(rig.loop, decide)
        rig.step(0.5)
        assert held.acquire(timeout=30) and held.acquire(timeout=30), "both asks are out"
        turn.append(second)
        swap_decide(rig.loop, decide)  # asked afresh, not skipped as a quiet market
        rig.step(0.5)
        assert not turn, "the strategy was asked"
        release.set()
        _settle(rig)
    finally:
        release.set()
        rig.loop.dispatch.close()
    assert [r.ticker for r in rig.client.requests] == [first, first]
    assert rig.loop.executor.outbox.total_exposure() <= 10


def test_the_exposure_of_the_orders_on_their_way_follows_the_position_they_join(
    tmp_path: Path,
) -> None:
    """What the orders on their way add is kept between decisions, and worked out again when
    the market's position or its orders on their way change: two asks out beside 10 YES held
    add nothing (they close what is held) only while it is held."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    ticker = next(iter(rig.exchange.reference.markets))
    portfolio, outbox = rig.loop.portfolio, rig.loop.executor.outbox
    in_flight = rig.loop.executor.answers.in_flight
    portfolio.apply_fill(
        ticker, BookSide.BID, Decimal("0.40"), Decimal(20), Decimal(0), ts=1.0, strategy=None
    )
    in_flight.add("ask-1", _ask(ticker, "0.60"))
    in_flight.add("ask-2", _ask(ticker, "0.60"))
    assert outbox.pending_exposure == 0, "the asks only close what is held"
    assert outbox.pending_exposure == 0, "asked again, the same"
    portfolio.apply_fill(
        ticker, BookSide.ASK, Decimal("0.50"), Decimal(20), Decimal(0), ts=2.0, strategy=None
    )
    # flat now: each ask opens 10 NO at 0.40
    assert outbox.pending_exposure == Decimal("8.00")
    in_flight.remove("ask-2")
    assert outbox.pending_exposure == Decimal("4.00")


def test_an_order_of_unknown_outcome_counts_beside_the_orders_on_their_way_in_its_market(
    tmp_path: Path,
) -> None:
    """An order whose answer was lost may rest: it counts toward the exposure together with
    the market's other orders that may rest, as they are now. Of two asks beside 10 YES held,
    one on its way and one lost, the second opens 10 NO, whichever is lost."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    ticker = next(iter(rig.exchange.reference.markets))
    portfolio, outbox = rig.loop.portfolio, rig.loop.executor.outbox
    unknown = rig.loop.executor.unknown_orders
    portfolio.apply_fill(
        ticker, BookSide.BID, Decimal("0.40"), Decimal(10), Decimal(0), ts=1.0, strategy=None
    )
    rig.loop.executor.answers.in_flight.add("ask-1", _ask(ticker, "0.60"))
    assert outbox.total_exposure() == portfolio.total_exposure(), "one ask only closes"
    unknown.lost("ask-2", ticker, intent=_ask(ticker, "0.60"))
    assert outbox.total_exposure() - portfolio.total_exposure() == Decimal("4.00")


def test_an_order_of_unknown_outcome_counts_in_its_own_market_only_and_until_settled(
    tmp_path: Path,
) -> None:
    """Two asks lost in two flat markets: each opens 10 NO at 0.40 in its own market, and no
    more; once a lookup past its window proves one never placed, it counts no more."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    first, second = list(rig.exchange.reference.markets)[:2]
    portfolio, outbox = rig.loop.portfolio, rig.loop.executor.outbox
    unknown = rig.loop.executor.unknown_orders
    for coid, ticker in (("ask-1", first), ("ask-2", second)):
        rig.store.orders.record_intent(
            IntentRecord(
                coid, ticker, BookSide.ASK, Decimal("0.60"), Decimal(10), Side.YES, Action.SELL
            )
        )
        unknown.lost(coid, ticker, intent=_ask(ticker, "0.60"))
    assert outbox.total_exposure() - portfolio.total_exposure() == Decimal("8.00")
    rig.clock.advance(unknown.landing_s)
    unknown.resolve(markets={first})  # not listed, and it could no longer land
    assert "ask-1" not in unknown.unknown
    assert rig.store.orders.get_intent("ask-1").status == "rejected"
    assert outbox.total_exposure() - portfolio.total_exposure() == Decimal("4.00")


def test_a_replacement_waiting_for_its_cancels_counts_in_the_exposure_until_they_are_answered(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, risk=RISK)
    ticker = next(iter(rig.exchange.reference.markets))
    outbox = rig.loop.executor.outbox
    before = outbox.total_exposure()
    answered = outbox.replacing_until(_bid(ticker, "0.40", "10", ("an-order",)))
    assert outbox.total_exposure() == before + Decimal("4.00")
    answered()
    assert outbox.total_exposure() == before


def test_the_orders_waiting_for_the_batch_stop_counting_once_dropped(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, risk=RISK)
    ticker = next(iter(rig.exchange.reference.markets))
    outbox = rig.loop.executor.outbox
    before = outbox.total_exposure()
    outbox.queue(_bid(ticker, "0.40", "10"))
    assert outbox.total_exposure() == before + Decimal("4.00")
    outbox.drop("the loop is stopping")
    assert outbox.total_exposure() == before
    assert outbox.pending() == []


def test_a_strategys_pending_orders_are_its_replacements_waiting_and_its_orders_in_flight(
    tmp_path: Path,
) -> None:
    """What a strategy's budget counts as resting beside what the view holds: a replacement
    waiting for its cancels with nothing in flight, and an order in flight with no
    replacement waiting."""
    from tests.runner.execution.test_amend_answers import _worker_busy

    rig = make_rig(
        tmp_path / "s.db",
        params={"spike_share": 5},
        risk={**RISK, "stop_loss_share": "0"},
        send_workers=1,
    )
    ticker = next(iter(rig.exchange.reference.markets))
    executor, outbox = rig.loop.executor, rig.loop.executor.outbox
    answered = outbox.replacing_until(_bid(ticker, "0.40", "10", ("an-order",)))
    assert [(i.ticker, i.price) for i in outbox.pending()] == [(ticker, Decimal("0.40"))]
    answered()
    release = _worker_busy(rig)
    try:
        bid = _bid(ticker, "0.05", "5")
        assert executor.execute(bid, last_data_at=rig.clock.wall())
        assert [(i.ticker, i.price) for i in outbox.pending()] == [(ticker, Decimal("0.05"))]
    finally:
        release.set()
        rig.loop.dispatch.close()
