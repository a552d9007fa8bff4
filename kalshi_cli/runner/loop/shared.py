"""What the trade loop's parts share that changes while the loop runs, built once by
runner/assembly.py and handed to the parts that read it: `Tuning`, the settings and the
strategies with their params (a reload replaces a strategy), in one place so no part keeps a
stale copy; and `Alert`, how a part posts an operator alert. Everything else a part is given
is a part, each built once; the loop itself takes its parts in four records (`Books`, `Acts`,
`TickParts`, `Hooks`), each opened at once and read whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kalshi_cli.risk import RiskEngine
    from kalshi_cli.runner.books.eventlog import EventLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.books.records import LoopTradingRecords
    from kalshi_cli.runner.execution.dispatch import Dispatch
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.execution.own_orders import OwnOrders
    from kalshi_cli.runner.loop.alerting import TradeAlerts
    from kalshi_cli.runner.loop.gate import MarketGate
    from kalshi_cli.runner.loop.heartbeat import Heartbeat
    from kalshi_cli.runner.loop.lineup import Lineup, Member
    from kalshi_cli.runner.loop.market_pass import MarketPass
    from kalshi_cli.runner.loop.params_reload import ParamsReload
    from kalshi_cli.runner.loop.queue_positions import QueuePositions
    from kalshi_cli.runner.loop.schedule import MarketSchedule
    from kalshi_cli.runner.loop.sending import TurnSender
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.runner.loop.strategy_stops import StrategyStops
    from kalshi_cli.runner.loop.watch import LoopWatch
    from kalshi_cli.runner.ports import LoopClient, MarketFeed
    from kalshi_cli.vocabulary.clock import Clock

# (kind, key, summary, details): post an operator alert, if the loop has a channel
Alert = Callable[[str, str, str, dict[str, str]], None]


def alert_through(alerts: TradeAlerts | None) -> Alert:
    """Post an operator alert through `alerts`, if the loop has a channel (else nowhere)."""
    return alerts.post if alerts is not None else lambda kind, key, summary, details: None


@dataclass
class Tuning:
    settings: LoopSettings
    lineup: Lineup

    def replace_member(self, member: Member) -> Member:
        """A strategy of the loop with new params (a reload) or a new implementation, read by
        every part from its next call; the member it replaced."""
        lineup = self.lineup
        self.lineup = lineup.replaced(member)
        return lineup.members[lineup.names.index(member.name)]


@dataclass(frozen=True)
class Books:
    """What the loop knows: the state file's records, the account, the feed, the clock."""

    records: LoopTradingRecords
    portfolio: Portfolio
    feed: MarketFeed
    clock: Clock
    log: EventLog


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
class TickParts:
    """The loop's own parts (runner/loop/)."""

    gate: MarketGate
    stops: StrategyStops
    market_pass: MarketPass
    queue: QueuePositions
    watch: LoopWatch
    schedule: MarketSchedule
    heartbeat: Heartbeat
    sender: TurnSender
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
