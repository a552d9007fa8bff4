"""`kalshi watch` says each reconnect on stderr and counts it, as the feed tells it: a connection
after an earlier one (feed/ws.py, `RECONNECTED`); the first connection is no reconnect."""

from __future__ import annotations

import io

from kalshi_cli.data.watch import Watcher
from kalshi_cli.feed.book import RECONNECTED, FeedMessage, MessageKind


def test_watch_counts_the_reconnects_the_feed_says() -> None:
    err = io.StringIO()
    url = "ws://127.0.0.1:9/trade-api/ws/v2"  # never connected: the feed is not started
    watcher = Watcher("trades", [], ws_url=url, auth=None, out=io.StringIO(), err=err)
    told = watcher.feed._sink  # what the feed tells the watcher, on its thread
    told(FeedMessage(MessageKind.CONNECTED))
    assert (watcher.reconnects, err.getvalue()) == (0, "")
    told(FeedMessage(MessageKind.DISCONNECTED, reason="closed by server"))
    told(FeedMessage(MessageKind.CONNECTED, reason=RECONNECTED))
    assert watcher.reconnects == 1
    assert err.getvalue().splitlines() == [
        "watch: disconnected: closed by server; reconnecting",
        "watch: reconnected: resubscribed",
    ]
