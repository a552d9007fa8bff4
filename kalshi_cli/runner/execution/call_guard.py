"""The trade loop's side of the API error guard (`risk.api_guard`), and the run's counters. Every
exchange call reports here how it went (`ok`, `failed`); the guard answers with a delay
(`backing_off`) and sometimes SAFE_MODE (`safe_mode_tripped`). `kalshi resume` lifts the backoff.
A read whose failure means only "what was last read stays in force" is told in one step (`read`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from kalshi_cli.vocabulary.errors import KalshiError

if TYPE_CHECKING:
    from kalshi_cli.risk.engine import RiskEngine
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.execution.dispatch import CallAnswer
    from kalshi_cli.vocabulary.clock import Clock

T = TypeVar("T")


@dataclass
class Counters:
    orders: int = 0
    fills: int = 0
    denied: int = 0
    cancels: int = 0
    amends: int = 0  # requotes amended in place (runner/execution/amends.py)
    errors: int = 0
    ticks: int = 0  # the loop's


class CallGuard:
    def __init__(self, *, risk: RiskEngine, clock: Clock, log: EntryLog, counters: Counters):
        self._risk = risk
        self._clock = clock
        self._log = log
        self._counters = counters
        self.backoff_until = 0.0  # monotonic
        self.safe_mode_tripped = False  # set when an error puts trading into SAFE_MODE
        # when the latest call that was answered had been sent (monotonic)
        self._answered_sent_at = -math.inf
        # when the latest call whose failure counted had been sent (monotonic)
        self._failed_sent_at = -math.inf

    @property
    def backing_off(self) -> bool:
        return self._clock.monotonic() < self.backoff_until

    def stamp(self) -> float:
        """The time a call is sent, for `ok` and `failed` to be told."""
        return self._clock.monotonic()

    def ok(self, sent_at: float | None = None) -> None:
        """A call answered; `sent_at` when it was sent (None: just now). It resets the guard's
        count only if it was sent after every failure counted: an answer to a call sent before
        them (held in the network, answered late) says nothing of the calls sent since."""
        sent = self._clock.monotonic() if sent_at is None else sent_at
        self._answered_sent_at = max(self._answered_sent_at, sent)
        if sent >= self._failed_sent_at:
            self._risk.api_guard.record_success()

    def failed(self, error: BaseException, sent_at: float | None = None) -> None:
        """A call failed; `sent_at` when it was sent (None: just now). With calls made side by
        side (runner/execution/dispatch.py), a call sent after this one may already have been
        answered: the exchange was answering after this call left, so its failure (a call held in
        the network, timed out) is counted, but it is no evidence of an outage and neither backs
        off nor counts toward SAFE_MODE; a failure of a call sent after every answer does."""
        self._counters.errors += 1
        if sent_at is not None and sent_at < self._answered_sent_at:
            self._log.emit(
                "api_error_isolated",
                {"error": str(error), "reason": "a call sent after it was answered"},
            )
            return
        if self._risk.api_guard.counts(error):
            sent = self._clock.monotonic() if sent_at is None else sent_at
            self._failed_sent_at = max(self._failed_sent_at, sent)
        verdict = self._risk.api_guard.record_error(error)
        if verdict.delay_s > 0:
            self.backoff_until = self._clock.monotonic() + verdict.delay_s
        if verdict.safe_mode:
            self.safe_mode_tripped = True

    def heard(self, answer: CallAnswer[T], *, guarded: bool = True) -> T:
        """A call's answer told to the guard as of when the call was sent (`ok`, or `failed`
        and its `KalshiError` raised again): its value. `guarded=False` (a lookup made during
        the backoff): the guard is told nothing."""
        try:
            value = answer.get()
        except KalshiError as exc:
            if guarded:
                self.failed(exc, answer.sent_at)
            raise
        if guarded:
            self.ok(answer.sent_at)
        return value

    def read(self, answer: CallAnswer[T], failed: str) -> T | None:
        """A read's answer `heard`: its value; or None when the exchange refused it or did not
        answer (a `KalshiError`), which counts as every failed call does and is logged as
        `failed` with the error's one line. For a read whose value is never None, whose failure
        keeps what was last read in force."""
        try:
            return self.heard(answer)
        except KalshiError as exc:
            self._log.emit(failed, {"error": exc.one_line()})
            return None

    def lift(self) -> None:
        """`kalshi resume`: new orders and fill reads may go out again at once."""
        if self.backing_off:
            self._log.emit("backoff_lifted", {"reason": "trading resumed"})
        self.backoff_until = 0.0
