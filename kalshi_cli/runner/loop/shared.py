"""What the trade loop's parts share, one small record per purpose, built once by
runner/assembly.py and handed only to the parts that use it:

- `Sight`: what the loop sees: each market's book (the feed), the account (the portfolio) and
  the time (the clock);
- `Acting`: what a decision goes through: the risk engine, the executor, the dispatch its
  exchange calls go out by (off the deciding path) and the loop's own orders (what it may
  withdraw);
- `Tuning`: what an operator changes while the loop runs: its settings (a backtest's
  heartbeat) and its strategies with their params (a reload);
- `Voice`: what the loop says: the event log and the alert channels (set after the start).

`Tuning` and `Voice` change while the loop runs; they live only here, so the loop's setters
change one place and no part keeps a stale copy. The others are frozen; a part keeps the
members it uses. (runner/execution/shared.py holds the executor's own records.)
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
