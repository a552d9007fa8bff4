"""What the trade loop is given, in three records each opened at once and read whole: what it
knows (`Books`), what it acts through (`Acts`) and its own components (`TickComponents`).
runner/assembly.py builds each component once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.dispatch import Dispatch
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.execution.leg_sets import LegSets
    from kalshi_cli.runner.loop.gate import MarketGate
    from kalshi_cli.runner.loop.heartbeat import Heartbeat
    from kalshi_cli.runner.loop.params_reload import ParamsReload
    from kalshi_cli.runner.loop.shutdown import LoopStop
    from kalshi_cli.runner.loop.tick_questions import TickQuestions
    from kalshi_cli.runner.loop.turns import MarketTurns
    from kalshi_cli.runner.loop.watch import LoopWatch
    from kalshi_cli.runner.ports import MarketFeed
    from kalshi_cli.vocabulary.clock import Clock


@dataclass(frozen=True)
class Books:
    """What the loop knows: the account, the feed, the clock, the event log."""

    portfolio: Portfolio
    feed: MarketFeed
    clock: Clock
    log: EntryLog


@dataclass(frozen=True)
class Acts:
    """What the loop acts through: the executor and its dispatch."""

    executor: LoopExecutor
    dispatch: Dispatch


@dataclass(frozen=True)
class TickComponents:
    """The loop's own components (runner/loop/), one for each step of a tick, and its stop."""

    gate: MarketGate
    watch: LoopWatch
    questions: TickQuestions
    turns: MarketTurns
    legs: LegSets  # sets of legs that only pay together (runner/execution/leg_sets.py)
    reloads: ParamsReload
    heartbeat: Heartbeat
    stop: LoopStop
