"""The tick's own questions, asked before any market takes a turn: the trading state other
processes write, a paper loop's kill switch while HALTED, the daily circuit breaker and the
strategies resumed by hand, with one look at the state file; then each strategy's day, the
withdrawal of what the answers block, and the positions over the limit. docs/trade-loop.md
"Each tick".

`TickQuestions` asks them again only on a full pass or when their answers may have moved (the
state file changed: another connection's commit, this loop's write or rollback; or the UTC day
turned), and keeps the circuit breaker's last answer for the withdrawal that follows an order
which tripped SAFE_MODE (`after_safe_mode`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kalshi_cli.vocabulary.clock import utc_day

if TYPE_CHECKING:
    from kalshi_cli.risk.engine import RiskEngine
    from kalshi_cli.runner.books.records import LoopTradingRecords
    from kalshi_cli.runner.loop.gate import MarketGate
    from kalshi_cli.runner.loop.strategy_stops import StrategyStops
    from kalshi_cli.runner.loop.watch import LoopWatch
    from kalshi_cli.vocabulary.clock import Clock


class TickQuestions:
    def __init__(
        self,
        *,
        records: LoopTradingRecords,
        watch: LoopWatch,
        gate: MarketGate,
        risk: RiskEngine,
        stops: StrategyStops,
        clock: Clock,
        on_halted: Callable[[], None] | None = None,
    ) -> None:
        self.records, self.risk, self.stops = records, risk, stops
        self._watch, self._gate, self._clock = watch, gate, clock
        # a paper loop's kill switch, answered on each full pass while HALTED
        # (runner/paper.py `answer_kill`)
        self._on_halted = on_halted
        # the state file's generation and the UTC day when the questions were last asked, and
        # the circuit breaker's answer then
        self._asked: tuple[int, str] | None = None
        self._tripped = False

    def ask(self, *, full: bool, went_stale: set[str]) -> None:
        """The questions, with one look at the state file, then what their answers withdraw;
        `went_stale`: the markets the feed has just called stale, whose quotes go."""
        records = self.records
        with records.tick(full=full):
            asking = (records.generation, utc_day(self._clock.wall()))
            if full or asking != self._asked:
                self._asked = asking
                self._watch.watch_state()
                if full and self._on_halted is not None and self._gate.state == "HALTED":
                    self._on_halted()
                self._tripped = self.risk.check_circuit_breaker()
                if self.stops.stopped:
                    self.stops.watch_resumes()
        self.stops.check_day(full)
        self._watch.withdraw(self._tripped, full=full, went_stale=went_stale)
        self._watch.check_breaches()

    def after_safe_mode(self) -> None:
        """An order or a fill read of this pass tripped SAFE_MODE: its quotes go now, not on the
        next pass."""
        self._watch.watch_state()
        self._watch.withdraw(self._tripped, full=False, went_stale=set())
