"""Which markets the `user_orders` subscription carries, as the exchange answered (feed/session.py
`CarriedMarkets`): what a trade loop waits on before it reads a market's orders again
(runner/loop/orders_read_again.py)."""

from __future__ import annotations

import json
from typing import Any

from kalshi_cli.feed.book import MessageKind
from tests.feed import wire
from tests.feed.test_ws import Harness, make


def _command(h: Harness, channel: str, action: str | None = None) -> dict[str, Any]:
    """The last command sent for `channel` (its `update_subscription` `action`, if given)."""
    command: dict[str, Any]
    for command in reversed(h.sent):
        params = command["params"]
        if action is None and params.get("channels") == [channel]:
            return command
        if action is not None and params.get("action") == action:
            return command
    raise AssertionError(f"no {action or 'subscribe'} of {channel} sent: {h.sent}")


def test_a_market_is_carried_once_the_exchange_answers() -> None:
    h = make(("A", "B"))
    carried = h.session.orders_carried
    assert carried.now() == set()  # asked, not answered
    subscribe = _command(h, "user_orders")
    h.feed(wire.subscribed(int(subscribe["id"]), "user_orders", 9))
    assert carried.now() == {"A", "B"}
    h.books.add(["C"])
    h.session.add_markets(["C"])
    assert "C" not in carried.now()  # the `add_markets` is not answered yet
    add = _command(h, "user_orders", "add_markets")
    assert add["params"]["sids"] == [9], add
    h.feed(wire.ok(int(add["id"]), 9, tickers=["A", "B", "C"]))
    assert carried.now() == {"A", "B", "C"}
    h.session.remove_markets(["B"])
    remove = _command(h, "user_orders", "delete_markets")
    h.feed(wire.ok(int(remove["id"]), 9, tickers=["A", "C"]))
    assert carried.now() == {"A", "C"}


def test_a_new_connection_carries_nothing_until_its_subscription_is_answered_anew() -> None:
    h = make(("A",))
    h.feed(wire.subscribed(int(_command(h, "user_orders")["id"]), "user_orders", 9))
    assert h.session.orders_carried.now() == {"A"}
    h.sent.clear()
    h.session.open(lambda text: h.sent.append(json.loads(text)))  # reconnected
    assert h.session.orders_carried.now() == set()
    h.feed(wire.subscribed(int(_command(h, "user_orders")["id"]), "user_orders", 3))
    assert h.session.orders_carried.now() == {"A"}


def test_a_closed_connection_carries_nothing() -> None:
    """From a connection's end to the next one's answer no market is carried: a read of a
    market's orders made then (a reconnect's) would be made before the exchange follows them."""
    h = make(("A",))
    h.feed(wire.subscribed(int(_command(h, "user_orders")["id"]), "user_orders", 9))
    assert h.session.orders_carried.now() == {"A"}
    h.session.close()
    assert h.session.orders_carried.now() == set()


def test_an_orders_subscription_the_exchange_ended_is_a_gap_of_it() -> None:
    """A terminal error ends the `user_orders` subscription with the connection up (code 25,
    its buffer overflowed): the feed subscribes it again, and what it said meanwhile is lost, so
    it says a gap of the channel, and carries no market until the new subscription is answered
    (the trade loop reads its markets' orders again then: runner/loop/watch.py)."""
    h = make(("A",))
    h.feed(wire.subscribed(int(_command(h, "user_orders")["id"]), "user_orders", 9))
    h.messages.clear()
    h.sent.clear()
    h.feed(wire.error(0, 25, "Subscription buffer overflow", sid=9))
    gaps = [m.reason for m in h.messages if m.kind is MessageKind.GAP]
    assert gaps == ["user_orders"], h.messages
    assert h.session.orders_carried.now() == set()
    h.feed(wire.subscribed(int(_command(h, "user_orders")["id"]), "user_orders", 4))
    assert h.session.orders_carried.now() == {"A"}


def test_a_feed_without_the_orders_channel_follows_no_orders() -> None:
    """A paper session's channel list (no `user_orders`) and a REST-only feed carry no orders:
    a loop on them has no market wait for a read of its orders."""
    from kalshi_cli.feed import MarketData
    from kalshi_cli.feed.session import DEFAULT_CHANNELS
    from kalshi_cli.runner.paper import PAPER_CHANNELS

    url = "ws://127.0.0.1:9/trade-api/ws/v2"  # never connected: the feed is not started
    live = MarketData(["A"], ws_url=url, channels=DEFAULT_CHANNELS)
    assert live.orders_carried is not None and live.orders_carried.now() == set()
    assert MarketData(["A"], ws_url=url, channels=PAPER_CHANNELS).orders_carried is None
    assert MarketData(["A"], ws_url=None, rest=object()).orders_carried is None  # type: ignore[arg-type]
