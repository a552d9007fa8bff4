"""A terminal error ends the `fill` subscription with the connection up (code 25, its buffer
overflowed): the feed subscribes it again, and a fill told meanwhile is lost (the channel has
no numbers and no snapshot), so it says a gap of the channel, as it does of `user_orders` (the
trade loop reads the fills at once: runner/loop/watch.py)."""

from __future__ import annotations

from kalshi_cli.feed.book import MessageKind
from tests.feed import wire
from tests.feed.test_orders_carried import _command
from tests.feed.test_ws import make


def test_a_fill_subscription_the_exchange_ended_is_a_gap_of_fills() -> None:
    h = make(("A",))
    h.feed(wire.subscribed(int(_command(h, "fill")["id"]), "fill", 5))
    h.messages.clear()
    h.sent.clear()
    h.feed(wire.error(0, 25, "Subscription buffer overflow", sid=5))
    gaps = [m.reason for m in h.messages if m.kind is MessageKind.GAP]
    assert gaps == ["fill"], h.messages
    assert [c["cmd"] for c in h.sent] == ["unsubscribe", "subscribe"]
    assert h.sent[-1]["params"]["channels"] == ["fill"]
