"""Every gap of the feed that may have lost a `user_orders` message makes the loop's markets wait
for a read of their resting orders once the subscription carries them (runner/loop/watch.py,
runner/loop/orders_read_again.py): a reconnect (the feed says a connection after an earlier
one), the exchange ending the orders subscription with the connection up (the feed says a gap of
the channel), and messages the loop's full queue dropped. An order placed by hand meanwhile, told
by no message, is booked. A loop on the fakes, its feed's subscription answered when the test
says."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.feed.book import MESSAGES_DROPPED, RECONNECTED, FeedMessage, MessageKind
from kalshi_cli.feed.session import USER_ORDERS, CarriedMarkets
from kalshi_cli.vocabulary.units import BookSide
from tests.runner.fakes import make_rig, place_on_desk

GAPS = {
    "reconnect": (FeedMessage(MessageKind.CONNECTED, reason=RECONNECTED), True),
    "orders_subscription_ended": (FeedMessage(MessageKind.GAP, reason=USER_ORDERS), True),
    "messages_dropped": (
        FeedMessage(MessageKind.GAP, data={"n": 3}, reason=MESSAGES_DROPPED, source="feed"),
        False,  # the subscription stayed: it carries the markets still
    ),
}


@pytest.mark.parametrize("gap", list(GAPS))
def test_an_order_placed_by_hand_in_a_gap_that_lost_its_message_is_booked(
    tmp_path: Path, gap: str
) -> None:
    message, subscribed_anew = GAPS[gap]
    carried = CarriedMarkets()
    r = make_rig(tmp_path / "s.db", strategy="market-maker", carried=carried)
    markets = sorted(r.loop.portfolio.markets)
    ticker = markets[0]
    carried.granted(markets)
    r.step()  # the start's read made and booked
    if subscribed_anew:
        carried.ended()
    r.feed.silent = True  # the order's message is lost
    placed = place_on_desk(r.exchange, r.client.account_id, ticker, BookSide.BID, "0.01", 7)
    assert placed.order.status == "resting", placed
    r.feed.silent = False
    r.feed.messages.append(message)
    r.step()
    carried.granted(markets)  # the new subscription answered
    r.step()
    resting = {o.order_id for o in r.loop.portfolio.view(ticker).resting}
    assert placed.order.order_id in resting
