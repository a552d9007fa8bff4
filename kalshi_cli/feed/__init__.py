"""Market data for the trade loop: the WebSocket feed, local books, and the REST fallback.

`MarketData` is the entry point; see docs/feed.md for how books are kept exact and when a market
counts as stale.
"""

from kalshi_cli.feed.book import EventKind, FeedEvent, LocalBook
from kalshi_cli.feed.market_data import MarketData
from kalshi_cli.feed.poller import OrderbookSource, RestPoller
from kalshi_cli.feed.session import FeedSession
from kalshi_cli.feed.ws import WsFeed

__all__ = [
    "EventKind",
    "FeedEvent",
    "FeedSession",
    "LocalBook",
    "MarketData",
    "OrderbookSource",
    "RestPoller",
    "WsFeed",
]
