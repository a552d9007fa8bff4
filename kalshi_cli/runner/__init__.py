"""The trade loop behind `kalshi trade`: see docs/trade-loop.md.

`session.trade()` is the command's one library call; `TradeLoop` is the loop itself, built by
`session.build_loop()` from injected parts so tests drive it tick by tick.
"""

from kalshi_cli.runner.config import Selection, TradeConfig, TradeOptions, load_trade_config
from kalshi_cli.runner.loop import TradeLoop
from kalshi_cli.runner.loop_settings import LoopSettings
from kalshi_cli.runner.ports import MarketFeed
from kalshi_cli.runner.session import (
    CLIENT_RETRY_BUDGET_S,
    Parts,
    StartupRefused,
    build_loop,
    start_loop,
    trade,
)
from kalshi_cli.runner.summary import Summary

__all__ = [
    "CLIENT_RETRY_BUDGET_S",
    "LoopSettings",
    "MarketFeed",
    "Parts",
    "Selection",
    "StartupRefused",
    "Summary",
    "TradeConfig",
    "TradeLoop",
    "TradeOptions",
    "build_loop",
    "load_trade_config",
    "start_loop",
    "trade",
]
