"""A fair-value model for `kalshi trade|backtest --strategy model --model python:anchor:fair`
(with this directory on PYTHONPATH, or `--model python:examples/models/anchor.py:fair`).

The model: the market overreacts, and half of any move of the YES mid away from its anchor
(0.50) comes back. It is called in the trading loop's process with the market's snapshot
(`kalshi_cli.strategy_api.MarketSnapshot`) and answers a probability of YES with a confidence;
None when the book has no mid. Its `__version__` goes into every order's reason.
"""

from decimal import Decimal

__version__ = "anchor-1"

ANCHOR = Decimal("0.50")


def fair(snapshot):  # type: ignore[no-untyped-def]
    mid = snapshot.book.mid
    if mid is None:
        return None
    return {"fair": ANCHOR + (mid - ANCHOR) / 2, "confidence": 0.8}
