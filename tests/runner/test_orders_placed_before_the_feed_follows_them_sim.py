"""An order placed elsewhere (by hand, on the website) before the feed's `user_orders`
subscription carries its market is in the loop's books, and the market takes no turn before it
is: at the start (placed after the start's reads, before the feed subscribed) and at a join
(placed after the join's reads, before the exchange answered the feed's `add_markets`; the
join's read of its orders failing once). runner/loop/orders_read_again.py. The loop's calls go
on workers, as a service's do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from kalshi_cli.feed.session import USER_ORDERS, FeedSession
from kalshi_cli.runner.config import Selection
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.sim_rig import Rig, rig
from tests.runner.simproc import Book, client_for
from tests.runner.test_orders_placed_while_a_market_joins_sim import (
    FIRST,
    HAND,
    LATER,
    SERIES,
    _open_later,
    _placed,
    _ticks_until,
)
from tests.waiting import wait_until

TICKER = "KXHAND-26JAN01-A"


def _booked_before_any_order(r: Rig, ticker: str, order_id: str) -> None:
    """The hand order is in the loop's view at its count, said as the start's reconcile says
    what it records, and the loop placed nothing there before that."""
    _ticks_until(
        r,
        lambda: order_id in {o.order_id for o in r.loop.portfolio.view(ticker).resting},
        f"the hand order in {ticker} in the loop's books",
    )
    (order,) = [o for o in r.loop.portfolio.view(ticker).resting if o.order_id == order_id]
    assert order.remaining == Decimal(HAND[1]), order
    said = [e for e in r.events("reconciled") if e.get("ticker") == ticker]
    assert [e["orders_imported"] for e in said] == [[order_id]], said
    first = _placed(r, ticker)
    assert not first or str(said[0]["ts"]) <= str(first[0]["ts"]), (said, first)


def test_an_order_rested_by_hand_after_the_starts_reads_and_before_the_feed_subscribed_is_booked(
    sim: SimHarness, tmp_path: Path
) -> None:
    maker = client_for(sim.new_account(balance_cents=10_000_000))
    trader = sim.new_account(balance_cents=10_000_000)
    hand = client_for(trader)
    sim.create_market(TICKER)
    Book(maker, TICKER).quote("0.40", "0.60")
    placed: list[str] = []

    def rest_one() -> None:  # the loop is built on its reads; the feed has not started
        placed.append(Book(hand, TICKER).order(BookSide.BID, *HAND, TimeInForce.GTC))

    try:
        with rig(sim, tmp_path, [TICKER], strategy="market-maker", params={}, trader=trader,
                 send_workers=2, before_feed=rest_one) as r:  # fmt: skip
            assert len(placed) == 1
            _booked_before_any_order(r, TICKER, placed[0])
            _ticks_until(r, lambda: _placed(r, TICKER), "the loop quoting")
    finally:
        maker.close()
        hand.close()


@pytest.fixture
def held_add(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[], None]]]:
    """The feed's `add_markets` of LATER on its `user_orders` subscription held back, not
    sent: the exchange has not applied it. Each held one is a call that sends it."""
    real = FeedSession.update_subscription
    held: list[Callable[[], None]] = []

    def update(self: FeedSession, sid: int, action: str, tickers: list[str]) -> int:
        if self.sids.get(USER_ORDERS) == sid and action == "add_markets" and LATER in tickers:

            def send() -> None:
                real(self, sid, action, tickers)

            held.append(send)
            return 0
        return real(self, sid, action, tickers)

    monkeypatch.setattr(FeedSession, "update_subscription", update)
    yield held


def test_an_order_rested_by_hand_before_a_joined_markets_orders_are_followed_is_booked(
    sim: SimHarness, tmp_path: Path, held_add: list[Callable[[], None]]
) -> None:
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES), send_workers=2,
             settings={"new_markets_poll_s": 3600.0}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        _open_later(sim)
        _ticks_until(r, lambda: r.events("market_added"), f"{LATER} taken on")

        # whatever the join sent is answered and booked (a read of its orders made now
        # would find none placed by hand). By ticks without the timer work: a full tick reads
        # the quotes' queue positions again as soon as the last read is booked, so a run of
        # them always had a call out, the loop's own, and this wait took 0 to 17 s
        def answered() -> bool:
            r.loop.tick(r.feed.drain_messages(), full=False)
            dispatch = r.loop.dispatch
            return bool(held_add) and not dispatch.in_flight and not dispatch.answered

        wait_until(answered, "the join's calls answered")
        assert r.account is not None
        hand = client_for(r.account)
        try:
            order_id = Book(hand, LATER).order(BookSide.BID, *HAND, TimeInForce.GTC)
        finally:
            hand.close()
        for send in held_add:
            send()  # the exchange applies it now
        _booked_before_any_order(r, LATER, order_id)


class _FailsLatersRead(httpx.HTTPTransport):
    """The exchange failing (503) every read of LATER's resting orders while `failing`."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False
        self.failed = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if (
            self.failing
            and request.method == "GET"
            and request.url.path.endswith("/portfolio/orders")
            and params.get("ticker") == LATER
        ):
            self.failed += 1
            return httpx.Response(503, json={"error": {"code": "unavailable", "message": "down"}})
        return super().handle_request(request)


def test_a_joined_market_whose_orders_read_failed_waits_for_it(
    sim: SimHarness, tmp_path: Path, held_add: list[Callable[[], None]]
) -> None:
    transport = _FailsLatersRead()
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES), send_workers=2, transport=transport,
             settings={"new_markets_poll_s": 3600.0}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        _open_later(sim)
        _ticks_until(r, lambda: r.events("market_added"), f"{LATER} taken on")
        assert r.account is not None
        hand = client_for(r.account)
        try:
            order_id = Book(hand, LATER).order(BookSide.BID, *HAND, TimeInForce.GTC)
        finally:
            hand.close()
        transport.failing = True
        errors = r.loop.executor.counters.errors
        for send in held_add:
            send()
        # the read of its orders failed, and the failure is booked: the market still waits
        _ticks_until(r, lambda: r.loop.executor.counters.errors > errors, "the read failing")
        assert transport.failed and r.loop.dispatch.busy(LATER), transport.failed
        assert r.loop.log.counts.get("orders_read_failed"), "said under its kind"
        assert not _placed(r, LATER)
        transport.failing = False
        _booked_before_any_order(r, LATER, order_id)
