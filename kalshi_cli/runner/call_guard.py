"""The trade loop's side of the API error guard (`risk.api_guard`), for its `Executor`
(runner/execution.py), and the run's counters.

Every exchange call the executor's parts make reports here how it went (`ok`, `failed`); the
guard answers with a delay, while which nothing is sent (`backing_off`), and sometimes with
SAFE_MODE, flagged for the loop (`safe_mode_tripped`), which withdraws its quotes at the end of
the pass. `kalshi resume` lifts the backoff (`lift`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kalshi_cli.risk import RiskEngine
    from kalshi_cli.runner.eventlog import EventLog
    from kalshi_cli.vocabulary.clock import Clock


@dataclass
class Counters:
    orders: int = 0
    fills: int = 0
    denied: int = 0
    cancels: int = 0
    errors: int = 0


class CallGuard:
    def __init__(self, *, risk: RiskEngine, clock: Clock, log: EventLog, counters: Counters):
        self._risk = risk
        self._clock = clock
        self._log = log
        self._counters = counters
        self.backoff_until = 0.0  # monotonic
        self.safe_mode_tripped = False  # set when an error puts trading into SAFE_MODE

    @property
    def backing_off(self) -> bool:
        return self._clock.monotonic() < self.backoff_until

    def ok(self) -> None:
        self._risk.api_guard.record_success()

    def failed(self, error: BaseException) -> None:
        self._counters.errors += 1
        verdict = self._risk.api_guard.record_error(error)
        if verdict.delay_s > 0:
            self.backoff_until = self._clock.monotonic() + verdict.delay_s
        if verdict.safe_mode:
            self.safe_mode_tripped = True

    def lift(self) -> None:
        """`kalshi resume`: new orders and fill reads may go out again at once."""
        if self.backing_off:
            self._log.emit("backoff_lifted", {"reason": "trading resumed"})
        self.backoff_until = 0.0
