"""A reconnect while a market's orders' read is on its way: the read was asked on the connection
that dropped, so an order placed by hand after it, while no connection followed the account's
orders, is in neither that read nor any message. The market waits on for a read made once the new
subscription carries it (runner/loop/orders_read_again.py), and that read books the order. A
loop on the fakes, its calls on a worker, its feed's subscription answered when the test says."""

from __future__ import annotations

from pathlib import Path

from kalshi_cli.feed.book import RECONNECTED, FeedMessage, MessageKind
from kalshi_cli.feed.session import CarriedMarkets
from kalshi_cli.vocabulary.units import BookSide
from tests.runner.fakes import make_rig, place_on_desk
from tests.waiting import wait_until


def test_an_order_placed_while_a_read_asked_before_a_reconnect_was_out_is_booked(
    tmp_path: Path,
) -> None:
    carried = CarriedMarkets()
    r = make_rig(tmp_path / "s.db", strategy="market-maker", carried=carried, send_workers=1)
    markets = sorted(r.loop.portfolio.markets)
    ticker = markets[0]
    try:
        carried.granted(markets)
        r.loop.watch.handle_messages(())  # the read made, on the worker
        wait_until(lambda: r.loop.dispatch.answered, "the read's answer back, not booked")
        # the connection drops: an order placed by hand now is told by no message
        carried.ended()
        r.feed.silent = True
        placed = place_on_desk(r.exchange, r.client.account_id, ticker, BookSide.BID, "0.05", 7)
        r.feed.silent = False
        r.loop.watch.handle_messages([FeedMessage(MessageKind.CONNECTED, reason=RECONNECTED)])
        r.loop.dispatch.drain()  # the older read's answer booked
        carried.granted(markets)  # the new subscription answered

        def booked() -> bool:
            r.loop.watch.handle_messages(())
            r.loop.dispatch.drain()
            return placed.order.order_id in {
                o.order_id for o in r.loop.portfolio.view(ticker).resting
            }

        wait_until(booked, "the hand order in the loop's books")
    finally:
        r.loop.dispatch.close()
