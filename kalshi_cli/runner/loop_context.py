"""What the trade loop's parts share: one record, built once by `TradeLoop` and handed to each.

The market pass, the watch and the heartbeat read the same collaborators (the client, the feed,
the clock, the risk engine, the trading records, the portfolio, the executor, the log). Three
of them change while the loop runs: its `settings` (a backtest's heartbeat), its `lineup` (a
strategy's new parameters) and its `alerts`. They live only here, so the loop's setters
change one place and no part can keep a stale copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kalshi_cli.risk import RiskEngine
    from kalshi_cli.runner.books.eventlog import EventLog
    from kalshi_cli.runner.books.own_orders import OwnOrders
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.books.records import LoopTradingRecords
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.lifecycle.alerting import TradeAlerts
    from kalshi_cli.runner.loop_settings import LoopSettings
    from kalshi_cli.runner.ports import LoopClient, MarketFeed
    from kalshi_cli.runner.schedule.lineup import Lineup
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock

# (kind, key, summary, details): post an operator alert, if the loop has a channel
Alert = Callable[[str, str, str, dict[str, str]], None]


@dataclass
class LoopContext:
    client: LoopClient
    store: Store
    feed: MarketFeed
    clock: Clock
    risk: RiskEngine
    records: LoopTradingRecords
    portfolio: Portfolio
    executor: LoopExecutor
    own: OwnOrders
    log: EventLog
    alert: Alert
    settings: LoopSettings
    lineup: Lineup
    alerts: TradeAlerts | None
