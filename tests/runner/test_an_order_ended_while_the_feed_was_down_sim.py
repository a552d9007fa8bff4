"""An order of the loop's that ended elsewhere while the loop's WebSocket was down (cancelled by
hand from another client, or filled by another account crossing it) leaves the loop's books once
the feed is back: its `user_orders` message was said on no connection the loop read, so the new
connection is a gap, and the read of the markets' resting orders that follows it
(runner/loop/orders_read_again.py) books an order the state file holds resting there and the
read does not list as gone, the fills read saying what it became. The loop then neither counts
it in its limits nor amends or cancels it as if it rested. Against the real simulator, the
loop's calls on workers, as a service's are."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import httpx

from kalshi_cli.client import KalshiClient
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.sim_rig import Rig, rig
from tests.runner.simproc import Book, client_for
from tests.runner.test_lifecycle_after_a_reconnect_sim import _feed, _ticking
from tests.waiting import poll_until, wait_until

TICKER = "KXENDEDWHILEDOWN-26JAN01-A"
ORDERS = "/trade-api/v2/portfolio/events/orders/"
# the simulator's reads lag none of its writes: a read after the reconnect is trusted to list
# every order answered before it, however soon after
NO_LAG = 0.0


class Writes(httpx.HTTPTransport):
    """The real transport, keeping the path of every write (a cancel, an amend) the loop sends."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            with self._lock:
                self.paths.append(request.url.path)
        return super().handle_request(request)

    def naming(self, order_id: str) -> list[str]:
        with self._lock:
            return [p for p in self.paths if p.startswith(ORDERS + order_id)]


def _market(sim: SimHarness) -> KalshiClient:
    """The market, its book made by another account (whose client is returned)."""
    maker = client_for(sim.new_account(balance_cents=10_000_000))
    sim.create_market(TICKER)
    Book(maker, TICKER).quote("0.40", "0.60")
    return maker


def _loops_bid(r: Rig) -> str:
    """The order id of the market maker's YES bid resting in the loop's books."""
    (bid,) = [
        o for o in r.loop.portfolio.view(TICKER).resting
        if o.side == "yes" and o.action == "buy"
    ]  # fmt: skip
    return bid.order_id


def _ended_while_down(sim: SimHarness, r: Rig, end: Callable[[], object]) -> None:
    """`end` the loop's order while its connection is dropped: the order's own message is the one
    the simulator drops the connection on; then the feed connects again, and the loop reads its
    markets' resting orders again. The loop takes no tick until its feed is back: a tick that saw
    the feed stale would withdraw its quotes there, and that cancel's answer, not the read, would
    tell it the order ended."""
    ws = _feed(r)
    before, reads = ws.connections, len(r.events("orders_read"))
    sim.set_faults(ws_drop_rate=1.0)
    end()
    assert poll_until(lambda: not ws.connected), "dropped"
    sim.clear_faults()
    assert poll_until(lambda: ws.connected and r.feed.is_fresh(TICKER)), "the feed is back"
    assert ws.connections > before
    wait_until(
        lambda: len(r.events("orders_read")) > reads,
        "the orders read after the reconnect booked",
        between=lambda: _ticking(r),
    )
    assert not r.events("order_cancelled"), "no quote withdrawn meanwhile"


def _wait_quoting(r: Rig) -> str:
    def quoting() -> bool:
        _ticking(r)
        return any(o.side == "yes" for o in r.loop.portfolio.view(TICKER).resting)

    wait_until(quoting, "the loop's bid resting")
    return _loops_bid(r)


def _at_risk(client: KalshiClient) -> Decimal:
    """What the account's resting orders in the market cost if they all filled."""
    return sum(
        (
            (o.yes_price if o.book_side is BookSide.BID else 1 - o.yes_price) * o.remaining_count
            for o in client.orders.iter_orders(ticker=TICKER, status="resting")
        ),
        Decimal(0),
    )


def _resting_ids(client: KalshiClient) -> set[str]:
    return {o.order_id for o in client.orders.iter_orders(ticker=TICKER, status="resting")}


def _requoted(r: Rig, client: KalshiClient, gone: str) -> None:
    """The loop quotes its bid again with a new order, never the one that ended, and the orders
    its books hold resting, which its limits count, are those resting on the exchange."""

    def settled() -> bool:
        books = r.loop.portfolio.view(TICKER).resting
        bid_again = any(o.side == "yes" and o.action == "buy" for o in books)
        held = {o.order_id for o in books}
        return bid_again and gone not in held and held == _resting_ids(client)

    wait_until(
        settled,
        lambda: (
            f"the loop's new bid in its books, which hold "
            f"{sorted(o.order_id for o in r.loop.portfolio.view(TICKER).resting)}, the exchange "
            f"{sorted(_resting_ids(client))}"
        ),
        between=lambda: _ticking(r),
    )


@contextlib.contextmanager
def _quoting(
    sim: SimHarness, tmp_path: Path
) -> Iterator[tuple[Rig, KalshiClient, KalshiClient, Writes, str]]:
    """A market-maker loop quoting the market, its calls on workers through `Writes`; the
    other account quoting the market (`maker`), the trader's own client beside it (`hand`), and
    the loop's resting bid."""
    maker = _market(sim)
    trader = sim.new_account(balance_cents=10_000_000)
    hand = client_for(trader)
    writes = Writes()
    try:
        with rig(sim, tmp_path, [TICKER], strategy="market-maker", params={}, trader=trader,
                 send_workers=2, transport=writes, read_lag_s=NO_LAG) as r:  # fmt: skip
            yield r, maker, hand, writes, _wait_quoting(r)
    finally:
        maker.close()
        hand.close()


def test_a_loop_order_cancelled_by_hand_while_the_feed_was_down_leaves_its_books(
    sim: SimHarness, tmp_path: Path
) -> None:
    with _quoting(sim, tmp_path) as (r, _, hand, writes, bid):
        _ended_while_down(sim, r, lambda: hand.orders.cancel_order(bid, ticker=TICKER))
        assert bid not in r.loop.portfolio.orders, "the cancelled order left the books"
        assert bid not in {o.order_id for o in r.loop.portfolio.view(TICKER).resting}
        # until a fill read says it filled nothing, the limits count what rested as filled
        wait_until(
            lambda: not r.loop.portfolio.unbooked_orders(TICKER),
            "the fill read after the order ended",
            between=lambda: _ticking(r),
        )
        assert r.loop.portfolio.position(TICKER) == 0
        row = r.store.orders.intent_by_order_id(bid)
        assert row is not None and row.status == "canceled", row
        _requoted(r, hand, bid)
        # flat: what the limits count at risk is what rests, the new bid and not the old too;
        # waited for, as a requote the loop's workers still have on its way moves both figures
        wait_until(
            lambda: r.loop.portfolio.total_exposure() == _at_risk(hand),
            lambda: (
                f"the books count {r.loop.portfolio.total_exposure()}, the exchange "
                f"{_at_risk(hand)}"
            ),
            between=lambda: _ticking(r),
        )
        assert writes.naming(bid) == [], "nothing sent for the order that ended"


def test_a_loop_order_filled_while_the_feed_was_down_leaves_its_books(
    sim: SimHarness, tmp_path: Path
) -> None:
    with _quoting(sim, tmp_path) as (r, maker, hand, writes, bid):
        (order,) = [o for o in r.loop.portfolio.view(TICKER).resting if o.order_id == bid]
        size, price = order.remaining, order.price

        def cross() -> None:
            # another account sells YES into the loop's bid, all of it
            Book(maker, TICKER).order(BookSide.ASK, str(price), str(size), TimeInForce.IOC)

        _ended_while_down(sim, r, cross)
        wait_until(
            lambda: r.loop.portfolio.position(TICKER) == size,
            "the fill read after the reconnect booked",
            between=lambda: _ticking(r),
        )
        assert bid not in r.loop.portfolio.orders, "the filled order left the books"
        row = r.store.orders.intent_by_order_id(bid)
        assert row is not None and row.status == "executed", row
        _requoted(r, hand, bid)
        assert writes.naming(bid) == [], "nothing sent for the order that ended"
