"""With send workers, a fill read can list an order's fill before that order's answer is booked
(the order filled at once; the read ran on another worker while the answer was on its way).
The fill is its strategy's all the same: it waits, unbooked, for the answer that names its
order, so a strategy never sees a fill of its own as someone else's, and never trades away
contracts it did not buy believing its own are still there."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kalshi_cli.client.batch_orders import BatchItem, read_batch_answer
from kalshi_cli.client.requests import CreateOrder, CreateOrderResult
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.models import Fill
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.runner.fakes import Rig, make_rig, place_on_desk, swap_decide
from tests.waiting import poll_until

RISK = {"max_orders_per_minute": 1000}


def _buy_once(rig: Rig, ticker: str) -> None:
    """The loop's strategy buys 3 YES at the ask, once, IOC (it fills at once)."""
    done: list[bool] = []

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Intent]:
        if done or snap.ticker != ticker or snap.book.yes_ask is None:
            return []
        done.append(True)
        ask = snap.book.yes_ask[0]
        return [
            Intent(
                ticker,
                Side.YES,
                Action.BUY,
                ask,
                Decimal(3),
                Decimal("0.99"),
                "take",
                time_in_force=TimeInForce.IOC,
            )
        ]

    swap_decide(rig.loop, decide)


def _answer_held(rig: Rig) -> tuple[threading.Event, threading.Event]:
    """The next create reaches the exchange at once, but its answer waits for `release`;
    `placed` is set once the exchange has it."""
    placed, release = threading.Event(), threading.Event()
    create = rig.client.create_order

    def held(request: CreateOrder) -> CreateOrderResult:
        result = create(request)
        placed.set()
        release.wait(30)
        return result

    rig.client.create_order = held  # type: ignore[method-assign]
    return placed, release


def _bought_by_hand(rig: Rig, ticker: str, count: int) -> None:
    """The person buys `count` YES at the ask in the same account, outside the loop."""
    book = rig.client.get_orderbook(ticker)
    assert book.yes_ask is not None
    rig.hand_buy_yes(ticker, book.yes_ask[0], count)


@contextmanager
def _a_buy_listed_before_its_answer(
    tmp_path: Path, hand_bought: int = 0, *, with_ts: bool = True
) -> Iterator[tuple[Rig, str, threading.Event]]:
    """The loop's strategy buys 3 at once (IOC) with its answer held; the person buys
    `hand_bought` in the same market; a read on the other worker lists the fills and is
    booked. Yields the rig, the market and the event that lets the answer go. Not `with_ts`:
    the exchange lists each fill without its `ts` (the spec requires none of its times)."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK, send_workers=2)
    if not with_ts:
        listing = rig.client.iter_fills

        def without_ts(**kwargs: Any) -> Iterator[Fill]:
            return (msgspec.structs.replace(f, ts=None) for f in listing(**kwargs))

        rig.client.iter_fills = without_ts  # type: ignore[method-assign]
    ticker = next(iter(rig.exchange.reference.markets))
    _buy_once(rig, ticker)
    placed, release = _answer_held(rig)
    dispatch = rig.loop.dispatch
    try:
        rig.step(0.5)
        assert placed.wait(30), "the order reached the exchange"
        if hand_bought:
            _bought_by_hand(rig, ticker, hand_bought)
        rig.loop.executor.fills.read_for()
        assert poll_until(lambda: dispatch.answered)
        dispatch.drain()
        yield rig, ticker, release
    finally:
        release.set()
        dispatch.close()


def test_a_fill_listed_before_its_orders_answer_is_booked_as_its_strategys(
    tmp_path: Path,
) -> None:
    with _a_buy_listed_before_its_answer(tmp_path, hand_bought=2) as (rig, ticker, release):
        dispatch = rig.loop.dispatch
        release.set()
        assert dispatch.settle(SystemClock(), 30)
        dispatch.drain()
        assert dispatch.settle(SystemClock(), 30)  # a read the answer asked for
        dispatch.drain()
    booked = [f for f in rig.store.fills.read() if f.ticker == ticker]
    by_owner = {
        owner: sum((f.count for f in booked if f.strategy == owner), Decimal(0))
        for owner in ("market-maker", None)
    }
    assert by_owner == {"market-maker": 3, None: 2}, "the hand-bought fill is nobody's"
    assert rig.loop.portfolio.position(ticker) == 5
    own = rig.loop.portfolio.view_for(ticker, "market-maker")
    assert own.position == 3, "the strategy's own part counts its fill, not the person's"
    assert rig.loop.executor.fills.held == {}


def test_a_read_while_a_fill_without_its_ts_is_held_goes_out_and_the_fill_is_booked_later(
    tmp_path: Path,
) -> None:
    """A fill held for its order's answer, listed without `ts`: the reads made meanwhile
    still go out (the fill keeps waiting), and the answer books it as its strategy's."""
    with _a_buy_listed_before_its_answer(tmp_path, with_ts=False) as (rig, ticker, release):
        fills, dispatch = rig.loop.executor.fills, rig.loop.dispatch
        assert [f.ticker for f in fills.held.values()] == [ticker]
        fills.read_for()
        assert poll_until(lambda: dispatch.answered)
        dispatch.drain()
        assert [f.ticker for f in fills.held.values()] == [ticker]
        release.set()
        assert dispatch.settle(SystemClock(), 30)
        dispatch.drain()
        assert dispatch.settle(SystemClock(), 30)
        dispatch.drain()
    assert fills.held == {}
    booked = [f for f in rig.store.fills.read() if f.ticker == ticker]
    assert [(f.strategy, f.count) for f in booked] == [("market-maker", Decimal(3))]


def test_a_read_failing_while_a_fill_waits_for_its_answer_leaves_it_waiting(
    tmp_path: Path,
) -> None:
    """A fill held for its order's answer, then a read that fails (a 503): the fill keeps
    waiting, booked as nobody's nor counted, and the answer books it as its strategy's. Only
    the stop's last read books what is held when it fails (below)."""
    with _a_buy_listed_before_its_answer(tmp_path) as (rig, ticker, release):
        fills, dispatch = rig.loop.executor.fills, rig.loop.dispatch
        rig.client.fills_error = ServerError("request failed: HTTP 503", status=503)
        fills.read_for()
        assert poll_until(lambda: dispatch.answered)
        dispatch.drain()
        assert fills.due.is_set(), "the failed read is made again"
        assert [f.ticker for f in fills.held.values()] == [ticker]
        assert [f for f in rig.store.fills.read() if f.ticker == ticker] == []
        rig.client.fills_error = None
        release.set()
        assert dispatch.settle(SystemClock(), 30)
        dispatch.drain()
        assert dispatch.settle(SystemClock(), 30)
        dispatch.drain()
    (booked,) = [f for f in rig.store.fills.read() if f.ticker == ticker]
    assert (booked.count, booked.strategy) == (3, "market-maker")
    assert fills.held == {}


@pytest.mark.parametrize("last_read_fails", [False, True])
def test_the_stops_last_read_books_a_fill_whose_order_was_never_answered(
    tmp_path: Path, last_read_fails: bool
) -> None:
    """A fill held for an answer that never came back (the stop gave up waiting for the call):
    the stop's last read books it, through the lookup of that order of unknown outcome; also
    when that read fails, as the fill was listed by an earlier one."""
    with _a_buy_listed_before_its_answer(tmp_path) as (rig, ticker, _):
        fills = rig.loop.executor.fills
        assert [f.ticker for f in fills.held.values()] == [ticker]
        in_flight = rig.loop.executor.answers.in_flight.intents
        rig.loop.executor.unknown_orders.unanswered(in_flight, "not back at the stop")
        if last_read_fails:
            rig.client.fills_error = ServerError("request failed: HTTP 503", status=503)
        assert fills.sync() == 1
    (booked,) = [f for f in rig.store.fills.read() if f.ticker == ticker]
    assert (booked.count, booked.strategy) == (3, "market-maker")
    assert fills.held == {}


def _two_markets_with_an_ask(rig: Rig) -> tuple[str, str]:
    rig.exchange.tick()  # the simulated makers quote
    a, b, *_ = [t for t in rig.exchange.reference.markets if rig.client.get_orderbook(t).yes_ask]
    return a, b


def _taken_at_the_ask(rig: Rig, ticker: str) -> Intent:
    """The loop's strategy buys 3 YES at the ask, IOC: it fills at once."""
    ask = rig.client.get_orderbook(ticker).yes_ask
    assert ask is not None
    return Intent(
        ticker, Side.YES, Action.BUY, ask[0], Decimal(3), Decimal("0.99"), "take",
        strategy="market-maker", time_in_force=TimeInForce.IOC,
    )  # fmt: skip


def _batch_answer_held(rig: Rig) -> tuple[threading.Event, threading.Event]:
    """The client sends batches; the next batch reaches the exchange at once, but its answer
    waits for `release`; `placed` is set once the exchange has it."""
    placed, release = threading.Event(), threading.Event()
    client = rig.client

    def batch_create_orders(
        creates: list[CreateOrder], *, subaccount: int | None = None
    ) -> list[BatchItem]:
        raws = []
        for create in creates:
            result = client._place(create)
            raws.append(
                {
                    "order_id": result.order_id,
                    "client_order_id": create.client_order_id,
                    "fill_count": str(result.fill_count),
                    "remaining_count": str(result.remaining_count),
                    "ts_ms": 1,
                }
            )
        placed.set()
        release.wait(30)
        return read_batch_answer(raws)

    client.batch_size = lambda: 20  # type: ignore[attr-defined]
    client.batch_create_orders = batch_create_orders  # type: ignore[attr-defined]
    return placed, release


def _reads_held(rig: Rig) -> tuple[threading.Event, threading.Event]:
    """Once `hold` is set, each fill read waits for `go` before it lists anything."""
    hold, go = threading.Event(), threading.Event()
    listed = rig.client.iter_fills

    def iter_fills(*, min_ts: int | None = None, **rest: Any) -> Iterator[Fill]:
        if hold.is_set():
            go.wait(30)
        yield from listed(min_ts=min_ts, **rest)

    rig.client.iter_fills = iter_fills  # type: ignore[method-assign]
    return hold, go


def test_the_fills_held_for_a_batchs_answer_are_booked_with_it(tmp_path: Path) -> None:
    """A batch's orders fill at once and a read lists their fills, and a fill of the person's
    beside them, before the batch's answer is back: booking that answer books them all, each
    as its own (the strategy's, the person's), without waiting for the read it asks for."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK, send_workers=2)
    a, b = _two_markets_with_an_ask(rig)
    placed, release = _batch_answer_held(rig)
    hold, go = _reads_held(rig)
    executor = rig.loop.executor
    dispatch, fills = rig.loop.dispatch, executor.fills
    try:
        for ticker in (a, b):
            executor.outbox.queue(_taken_at_the_ask(rig, ticker))
        executor.flush()
        assert placed.wait(30), "the batch reached the exchange"
        _bought_by_hand(rig, a, 2)
        fills.read_for()
        assert poll_until(lambda: dispatch.answered)
        dispatch.drain()
        assert sorted(f.ticker for f in fills.held.values()) == sorted([a, a, b])
        hold.set()  # the read the batch's answer asks for lists nothing until the end
        release.set()
        assert poll_until(lambda: dispatch.answered)
        dispatch.drain()
        assert fills.held == {}
        portfolio = rig.loop.portfolio
        assert (portfolio.position(a), portfolio.position(b)) == (5, 3)
        own = [portfolio.view_for(t, "market-maker").position for t in (a, b)]
        assert own == [3, 3], "the strategy's own parts count its fills, not the person's"
        go.set()
        assert dispatch.settle(SystemClock(), 30)
    finally:
        release.set()
        go.set()
        dispatch.close()
    booked = sorted((f.ticker, f.count, f.strategy or "") for f in rig.store.fills.read())
    assert booked == sorted([(a, 3, "market-maker"), (a, 2, ""), (b, 3, "market-maker")]), (
        "each fill booked once, as its own"
    )


def _sent_and_booked(rig: Rig, intent: Intent) -> None:
    """One order of the loop's strategy sent, its answer booked."""
    rig.loop.executor.outbox.queue(intent)
    rig.loop.executor.flush()
    assert rig.loop.dispatch.settle(SystemClock(), 30)


def test_a_markets_fills_wait_behind_one_held_so_they_apply_in_the_exchanges_order(
    tmp_path: Path,
) -> None:
    """The strategy's buy fills at once; then its resting ask, an order the loop knows, is
    hit; one read lists both before the buy's answer is back. Applied ask first, the account
    would dip below what the strategy held and the cut would never come back: its own part
    would keep the person's 2 contracts, which it would then sell. Held behind the buy, the
    ask's fill is applied after it, in the exchange's order."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK, send_workers=2)
    ticker, _ = _two_markets_with_an_ask(rig)
    dispatch, fills = rig.loop.dispatch, rig.loop.executor.fills
    portfolio = rig.loop.portfolio
    try:
        _bought_by_hand(rig, ticker, 2)
        fills.read_for()
        assert dispatch.settle(SystemClock(), 30)
        assert portfolio.position(ticker) == 2
        above = Decimal("0.55")  # above every ask the simulated makers show
        ask = Intent(
            ticker, Side.YES, Action.SELL, above, Decimal(3), Decimal("0.40"), "quote",
            strategy="market-maker",
        )  # fmt: skip
        _sent_and_booked(rig, ask)
        placed, release = _answer_held(rig)
        rig.loop.executor.outbox.queue(_taken_at_the_ask(rig, ticker))
        rig.loop.executor.flush()
        assert placed.wait(30), "the buy reached the exchange and filled"
        rig.clock.advance(1)
        book = rig.client.get_orderbook(ticker)
        # a YES ask is a NO bid's complement: every one up to the strategy's, its own last
        sweep = sum((level.size for level in book.no_bids if 1 - level.price <= above), Decimal(0))
        someone = rig.exchange.accounts.create_account(
            key_id="someone", public_key_pem="", cash_cents=10**7
        )
        place_on_desk(
            rig.exchange,
            someone.account_id,
            ticker,
            BookSide.BID,
            above,
            sweep,
            time_in_force=TimeInForce.IOC,
        )
        fills.read_for()
        assert poll_until(lambda: dispatch.answered)
        dispatch.drain()
        release.set()
        assert dispatch.settle(SystemClock(), 30)
    finally:
        release.set()
        dispatch.close()
    assert fills.held == {}
    assert portfolio.position(ticker) == 2
    own = portfolio.view_for(ticker, "market-maker")
    assert own.position == 0, "the strategy bought 3 and sold 3: none of the 2 left is its"
