"""What the trade loop is given, in four records each opened at once and read whole: what it
knows (`Books`), what it acts through (`Acts`), its own components (`TickComponents`) and what it is
told from outside (`Hooks`). runner/assembly.py builds each component once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kalshi_cli.risk.engine import RiskEngine
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.books.records import LoopTradingRecords
    from kalshi_cli.runner.execution.dispatch import Dispatch
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.execution.leg_sets import LegSets
    from kalshi_cli.runner.execution.own_orders import OwnOrders
    from kalshi_cli.runner.loop.gate import MarketGate
    from kalshi_cli.runner.loop.heartbeat import Heartbeat
    from kalshi_cli.runner.loop.market_pass import MarketPass
    from kalshi_cli.runner.loop.params_reload import ParamsReload
    from kalshi_cli.runner.loop.queue_positions import QueuePositions
    from kalshi_cli.runner.loop.schedule import MarketSchedule
    from kalshi_cli.runner.loop.sending import TurnSender
    from kalshi_cli.runner.loop.strategy_stops import StrategyStops
    from kalshi_cli.runner.loop.watch import LoopWatch
    from kalshi_cli.runner.ports import LoopClient, MarketFeed
    from kalshi_cli.vocabulary.clock import Clock


@dataclass(frozen=True)
class Books:
    """What the loop knows: the state file's records, the account, the feed, the clock."""

    records: LoopTradingRecords
    portfolio: Portfolio
    feed: MarketFeed
    clock: Clock
    log: EntryLog


@dataclass(frozen=True)
class Acts:
    """What the loop acts through: the client, the risk engine, the executor, its dispatch and
    the loop's own orders."""

    client: LoopClient
    risk: RiskEngine
    executor: LoopExecutor
    dispatch: Dispatch
    own: OwnOrders


@dataclass(frozen=True)
class TickComponents:
    """The loop's own components (runner/loop/)."""

    gate: MarketGate
    stops: StrategyStops
    market_pass: MarketPass
    queue: QueuePositions
    watch: LoopWatch
    schedule: MarketSchedule
    heartbeat: Heartbeat
    sender: TurnSender
    legs: LegSets  # sets of legs that only pay together (runner/execution/leg_sets.py)
    reloads: ParamsReload


@dataclass(frozen=True)
class Hooks:
    """What the loop is told from outside, and tells: the session's order group's trigger
    (called with the group's id by a stop: runner/loop/stop.py), a paper loop's kill switch
    (answered on each full pass while HALTED: runner/paper.py `answer_kill`), and what to let go
    of once (the
    client's fill quarantine: after the stop's last read of the fills, or when a loop built at
    start is discarded)."""

    trigger_group: Callable[[str], None] | None = None
    on_halted: Callable[[], None] | None = None
    on_let_go: Callable[[], None] | None = None
