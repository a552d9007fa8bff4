"""The trade loop behind `kalshi trade`: see docs/trade-loop.md.

`lifecycle.session.trade()` is the command's one library call; `TradeLoop` is the loop itself, built
by `lifecycle.session.build_loop()` from injected parts so tests drive it tick by tick. The loop
sits here (`loop`, `loop_shared`, `loop_settings`, `config`, `ports`, `budgets`, and `assembly`,
which puts it together); its parts are sorted by its story into `schedule/` (where a tick goes),
`execution/` (from a decision to the exchange and back), `books/` (what it keeps and writes
down) and `lifecycle/` (a run from start to stop). See docs/trade-loop.md "Where the code lives".
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kalshi_cli.runner.config import (
        Selection,
        StrategyChoice,
        TradeConfig,
        TradeOptions,
        load_trade_config,
    )
    from kalshi_cli.runner.lifecycle.session import (
        CLIENT_RETRY_BUDGET_S,
        Parts,
        StartupRefused,
        build_loop,
        start_loop,
        trade,
    )
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.runner.loop.summary import Summary
    from kalshi_cli.runner.loop.trade_loop import TradeLoop
    from kalshi_cli.runner.ports import MarketFeed

# names resolve on first use: `kalshi config show` validates with runner.config alone, and the
# loop's modules (client, feed, strategies) load only for the commands that run it
_HOMES = {
    "Selection": "config",
    "StrategyChoice": "config",
    "TradeConfig": "config",
    "TradeOptions": "config",
    "load_trade_config": "config",
    "TradeLoop": "loop.trade_loop",
    "LoopSettings": "loop.settings",
    "MarketFeed": "ports",
    "CLIENT_RETRY_BUDGET_S": "lifecycle.session",
    "Parts": "lifecycle.session",
    "StartupRefused": "lifecycle.session",
    "build_loop": "lifecycle.session",
    "start_loop": "lifecycle.session",
    "trade": "lifecycle.session",
    "Summary": "loop.summary",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "CLIENT_RETRY_BUDGET_S",
    "LoopSettings",
    "MarketFeed",
    "Parts",
    "Selection",
    "StartupRefused",
    "StrategyChoice",
    "Summary",
    "TradeConfig",
    "TradeLoop",
    "TradeOptions",
    "build_loop",
    "load_trade_config",
    "start_loop",
    "trade",
]
