"""An order placed elsewhere (by hand, on the website) while the loop's WebSocket is down is
in the loop's books once the feed is back: its `user_orders` message was said on no connection
the loop read, so the feed's new connection is a gap (feed/session.py `open`), and the loop's
markets wait for their orders' read as at the start (runner/loop/orders_read_again.py), whatever
channels the feed subscribes: a feed without the lifecycle channel, whose new subscription was the
only gap said before, too. The loop's calls go on workers, as a service's do."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.feed.channels import LIFECYCLE
from kalshi_cli.feed.session import DEFAULT_CHANNELS
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.sim_rig import rig
from tests.runner.simproc import Book, client_for
from tests.runner.test_lifecycle_after_a_reconnect_sim import _feed, _ticking
from tests.waiting import poll_until, wait_until

TICKER = "KXRECONNECTHAND-26JAN01-A"
HAND = ("0.30", "80")  # a buy of YES at $0.30 for 80, rested by hand
WITHOUT_LIFECYCLE = tuple(c for c in DEFAULT_CHANNELS if c != LIFECYCLE)


@pytest.mark.parametrize(
    "channels", [DEFAULT_CHANNELS, WITHOUT_LIFECYCLE], ids=["loop_channels", "no_lifecycle"]
)
def test_an_order_rested_by_hand_while_the_feed_reconnected_is_booked(
    sim: SimHarness, tmp_path: Path, channels: tuple[str, ...]
) -> None:
    maker = client_for(sim.new_account(balance_cents=10_000_000))
    trader = sim.new_account(balance_cents=10_000_000)
    hand = client_for(trader)
    sim.create_market(TICKER)
    Book(maker, TICKER).quote("0.40", "0.60")
    try:
        with rig(sim, tmp_path, [TICKER], strategy="market-maker", params={}, trader=trader,
                 send_workers=2, channels=channels) as r:  # fmt: skip

            def quoting() -> bool:
                _ticking(r)
                return bool(r.events("order_placed"))

            wait_until(quoting, "the loop quoting")
            ws = _feed(r)
            before = ws.connections
            # the start's markets waited for their orders' read, and said so
            assert [e["markets"] for e in r.events("orders_read_waiting")] == [1]
            assert [e["markets"] for e in r.events("orders_read")] == [1]
            # the order's own message is the one the simulator drops the connection on
            sim.set_faults(ws_drop_rate=1.0)
            order_id = Book(hand, TICKER).order(BookSide.BID, *HAND, TimeInForce.GTC)
            assert poll_until(lambda: not ws.connected, between=lambda: _ticking(r)), "dropped"
            sim.clear_faults()
            assert poll_until(
                lambda: ws.connected and r.feed.is_fresh(TICKER), between=lambda: _ticking(r)
            ), "the feed is back"
            assert ws.connections > before

            def booked() -> bool:
                _ticking(r)
                return order_id in {o.order_id for o in r.loop.portfolio.view(TICKER).resting}

            wait_until(booked, "the hand order in the loop's books")
            (order,) = [o for o in r.loop.portfolio.view(TICKER).resting if o.order_id == order_id]
            assert order.remaining == Decimal(HAND[1]), order
            said = [e for e in r.events("reconciled") if e.get("ticker") == TICKER]
            assert [e["orders_imported"] for e in said] == [[order_id]], said
            # the reconnect's wait said, and its read
            assert [e["markets"] for e in r.events("orders_read_waiting")] == [1, 1]
            assert [e["markets"] for e in r.events("orders_read")] == [1, 1]
    finally:
        maker.close()
        hand.close()
