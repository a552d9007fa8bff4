"""The trade loop behind `kalshi trade`: see docs/trade-loop.md.

`lifecycle.session.trade()` is the command's one library call: preflight (`preflight`), assemble
(`assembly.build_loop`, for live, paper and backtest alike), run, summary. Its folders rank, each
importing only those below it: `lifecycle/` (the run) over `assembly` (and the `preflight` and
`paper` venue it uses) over `loop/` (the tick and what it holds every tick) over `execution/`
(from a decision to the exchange and back) over `config` and `ports` over `books/` (what the
loop knows). See docs/trade-loop.md "Where the code lives".
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kalshi_cli.runner.assembly import Parts, build_loop, start_loop
    from kalshi_cli.runner.config import (
        Selection,
        StrategyChoice,
        TradeConfig,
        TradeOptions,
        load_trade_config,
    )
    from kalshi_cli.runner.lifecycle.session import CLIENT_RETRY_BUDGET_S, trade
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.runner.loop.summary import Summary
    from kalshi_cli.runner.loop.trade_loop import TradeLoop
    from kalshi_cli.runner.ports import MarketFeed
    from kalshi_cli.runner.preflight import StartupRefused

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
    "Parts": "assembly",
    "StartupRefused": "preflight",
    "build_loop": "assembly",
    "start_loop": "assembly",
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
