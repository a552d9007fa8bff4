"""Market data for the trade loop: the WebSocket feed, local books, and the REST fallback.

`MarketData` is the entry point; see docs/feed.md for how books are kept exact and when a market
counts as stale.
"""

from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.feed.market_data import MarketData

__all__ = ["FeedMessage", "MarketData", "MessageKind"]
