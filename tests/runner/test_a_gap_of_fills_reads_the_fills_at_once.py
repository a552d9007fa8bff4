"""A gap of the `fill` channel (the exchange ended the subscription, feed/session.py) makes the
loop read the fills at its next tick, as a gap of `user_orders` does, not at the timed read: a
fill told only by a message lost in the gap is booked at once. A loop on the fakes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.feed.session import FILL
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
