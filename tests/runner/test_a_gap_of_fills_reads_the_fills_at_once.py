"""A gap of the `fill` channel (the exchange ended the subscription, feed/session.py) makes the
loop read the fills at its next tick, as a gap of `user_orders` does, not at the timed read: a
fill told only by a message lost in the gap is booked at once. Unlike that gap, it lost no order's
message: no market waits for its resting orders' read, and none is made. A loop on the fakes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.feed.session import FILL, CarriedMarkets
from tests.runner.fakes import make_rig


def test_a_fill_lost_in_a_gap_of_the_fill_channel_is_read_at_once(tmp_path: Path) -> None:
    r = make_rig(tmp_path / "s.db", strategy="market-maker")
    ticker = sorted(r.loop.portfolio.markets)[0]
    r.step()  # the start's reads made and booked
    r.feed.silent = True  # the fill's messages are lost
    r.hand_buy_yes(ticker, Decimal("0.99"), Decimal(3))
    r.feed.silent = False
    r.step(0.1)
    assert r.loop.portfolio.position(ticker) == 0, "no read made without the gap"
    r.feed.messages.append(FeedMessage(MessageKind.GAP, reason=FILL))
    r.step(0.1)
    assert r.loop.portfolio.position(ticker) == 3


def test_a_gap_of_the_fill_channel_makes_no_market_wait_for_an_orders_read(tmp_path: Path) -> None:
    carried = CarriedMarkets()
    r = make_rig(tmp_path / "s.db", strategy="market-maker", carried=carried)
    carried.granted(sorted(r.loop.portfolio.markets))
    r.step()  # the start's orders read made and booked
    counts = r.loop.log.counts
    waits, reads = counts.get("orders_read_waiting", 0), counts.get("orders_read", 0)
    assert reads == 1
    r.feed.messages.append(FeedMessage(MessageKind.GAP, reason=FILL))
    r.step(0.1)
    assert (counts.get("orders_read_waiting", 0), counts.get("orders_read", 0)) == (waits, reads)
