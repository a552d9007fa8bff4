"""What the trade loop's parts share, one small record per purpose, built once by runner/assembly.py
and handed only to the parts that use it:

- `Sight`: each market's book (the feed), the account (the portfolio) and the time (the clock);
- `Acting`: the risk engine, the executor, the dispatch and the loop's own orders;
- `Tuning`: what an operator changes while the loop runs (settings, strategies and params);
- `Voice`: the event log and the alert channels (set after the start).

`Tuning` and `Voice` change while the loop runs and live only here, so no part keeps a stale copy;
the others are frozen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kalshi_cli.risk import RiskEngine
    from kalshi_cli.runner.books.eventlog import EventLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.dispatch import Dispatch
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.execution.own_orders import OwnOrders
    from kalshi_cli.runner.loop.alerting import TradeAlerts
    from kalshi_cli.runner.loop.lineup import Lineup
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.runner.ports import MarketFeed
    from kalshi_cli.vocabulary.clock import Clock

# (kind, key, summary, details): post an operator alert, if the loop has a channel
Alert = Callable[[str, str, str, dict[str, str]], None]


@dataclass(frozen=True)
class Sight:
    feed: MarketFeed
    portfolio: Portfolio
    clock: Clock


@dataclass(frozen=True)
class Acting:
    risk: RiskEngine
    executor: LoopExecutor
    dispatch: Dispatch
    own: OwnOrders


@dataclass
class Tuning:
    settings: LoopSettings
    lineup: Lineup


@dataclass
class Voice:
    log: EventLog
    alerts: TradeAlerts | None = None

    def alert(self, kind: str, key: str, summary: str, details: dict[str, str]) -> None:
        """Post an operator alert, if the loop has a channel."""
        if self.alerts is not None:
            self.alerts.post(kind, key, summary, details)
