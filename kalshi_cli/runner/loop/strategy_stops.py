"""A strategy stopped alone, the others trading on: past its daily loss limit until the UTC day
ends (its budget, services/pretrade/budgets.py), or, on a fault that persists or repeats, until
`kalshi resume --strategy`: its call still running at a turn one more deadline after it was late
(stuck), `LATE_ANSWERS_STOP` late answers within `strategy_errors_window_s`, or
`strategy_errors_stop` failed decisions within it in one market (runner/loop/market_pass.py
asks). A stopped strategy's quotes that would add are withdrawn at once and on each full pass
(a cancel that failed is tried again); only its exits go.

`StrategyStops` keeps each strategy's failed decisions and late answers, and the strategies
stopped until resumed (`stopped`, a record the heartbeat reads too).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from kalshi_cli.strategies.deadline import MissedDeadline
from kalshi_cli.strategy_api.strategy import raised_at

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.execution.own_orders import OwnOrders
    from kalshi_cli.runner.loop.gate import MarketGate
    from kalshi_cli.runner.loop.lineup import Member
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.runner.loop.shared import Alert, Tuning
    from kalshi_cli.services.pretrade.budgets import Budgets
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.decisions import Intent

LATE_ANSWERS_STOP = 3
"""A strategy's late answers (any market) within `strategy_errors_window_s` that stop it: one is
a pause of the machine, three within a minute a strategy too slow for its deadline, each of whose
calls holds the whole loop one deadline."""


class StrategyStops:
    def __init__(
        self,
        *,
        own: OwnOrders,
        budgets: Budgets | None,
        store: Store,
        clock: Clock,
        tuning: Tuning,
        log: EntryLog,
        alert: Alert,
        stopped: dict[str, str],
    ) -> None:
        self._own = own
        self._budgets = budgets
        self._store = store
        self._clock = clock
        self._tuning = tuning
        self._log = log
        self._alert = alert
        self.stopped = stopped  # strategy -> why it was stopped, until resumed
        # (strategy, ticker) -> the strategy's failed decisions there in a row
        self.in_a_row: dict[tuple[str, str], int] = {}
        # (strategy, ticker) -> when its failed decisions there within the window were
        self._failed_at: dict[tuple[str, str], deque[float]] = {}
        # strategy -> when its late answers within the window were (monotonic), the last one
        # that of the call still out, if one is
        self._late: dict[str, deque[float]] = {}
        self.strategy_error_count = 0  # failed decisions of this run, every market
        # strategy -> the resume request in the state file when it was stopped (`watch_resumes`)
        self._resumes_seen: dict[str, str | None] = {}

    @property
    def settings(self) -> LoopSettings:
        return self._tuning.settings

    def failed(self, member: Member, ticker: str, error: Exception) -> None:
        """Containment of a strategy that raised, answered late or answered garbage, per market:
        the decision is skipped and counted, and the loop's adding quotes there are withdrawn.
        The `strategy_errors_alert`-th failure in a row alerts; the `LATE_ANSWERS_STOP`-th late
        answer, or the `strategy_errors_stop`-th failure in one market, within
        `strategy_errors_window_s`, stops the strategy alone."""
        name, settings = member.name, self.settings
        key = (name, ticker)
        count = self.in_a_row.get(key, 0) + 1
        self.in_a_row[key] = count
        now = self._clock.monotonic()
        recent = self._failed_at.setdefault(key, deque())
        recent.append(now)
        window_s = settings.strategy_errors_window_s
        while recent[0] <= now - window_s:
            recent.popleft()
        self.strategy_error_count += 1
        text = str(error) or repr(error)
        self._log.emit(
            "strategy_error",
            {
                "ticker": ticker,
                "strategy": name,
                "error": text,
                "kind": type(error).__name__,
                "at": raised_at(error),
                "in_a_row": count,
            },
        )
        if not settings.dry_run:
            self._own.cancel_adding("strategy error", lambda o: o.ticker == ticker, owner=name)
        if count == settings.strategy_errors_alert:
            summary = f"{ticker}: {count} failed decisions in a row, last: {text}"
            self._alert(
                "strategy_error", f"{name}:{ticker}", summary, {"ticker": ticker, "strategy": name}
            )
        if name in self.stopped:
            return
        if isinstance(error, MissedDeadline):
            late = self._late.setdefault(name, deque())
            late.append(now)
            while late[0] <= now - window_s:
                late.popleft()
            if len(late) < LATE_ANSWERS_STOP:
                return
            why = f"{len(late)} late answers within {window_s:g} s, the last in {ticker}: {text}"
        elif len(recent) >= settings.strategy_errors_stop:
            why = f"{len(recent)} failed decisions in {ticker} within {window_s:g} s, last: {text}"
        else:
            return
        self._stop(name, why)

    def still_running(self, member: Member, ticker: str) -> None:
        """A turn while the strategy's late call is still out: skipped, no fault, until the call
        has been out one more deadline since it was late (or since it was resumed with the call
        out); then it is stuck, and stopped."""
        name = member.name
        if name in self.stopped:
            return
        now = self._clock.monotonic()
        late = self._late.setdefault(name, deque((now,)))
        out_s = now - late[-1]
        if out_s >= member.bounded.timeout_s:
            why = f"its decide is still running {out_s:.1f} s past its deadline ({ticker})"
            self._stop(name, why)

    def _stop(self, name: str, why: str) -> None:
        self.stopped[name] = why
        self._stopped_alone(name, why)

    def _stopped_alone(self, name: str, why: str) -> None:
        """Told, alerted, and its quotes that would add withdrawn now (a stop for the run or,
        by its budget, for the day)."""
        from kalshi_cli.services.loop_strategies import resume_key

        self._log.emit("strategy_stopped", {"strategy": name, "reason": why})
        summary = f"strategy {name} stopped: {why}"
        self._alert("strategy_stopped", name, summary, {"strategy": name})
        self._withdraw((name,))
        self._resumes_seen[name] = self._store.entries.get_kv(resume_key(name))

    def resume(self, name: str) -> str | None:
        """The strategy asked again, its late answers and failures forgotten (`kalshi resume
        --strategy`); why it was stopped (None: it was not)."""
        self._late.pop(name, None)
        for key in [k for k in self._failed_at if k[0] == name]:
            del self._failed_at[key]
            self.in_a_row.pop(key, None)
        return self.stopped.pop(name, None)

    def watch_resumes(self) -> None:
        """`kalshi resume --strategy NAME` since the strategy was stopped: it is asked again."""
        from kalshi_cli.services.loop_strategies import resume_key

        for name in list(self.stopped):
            if self._store.entries.get_kv(resume_key(name)) == self._resumes_seen.get(name):
                continue
            why = self.resume(name)
            self._log.emit("strategy_resumed", {"strategy": name, "stopped_for": why})

    def check_day(self, full: bool) -> None:
        """On a full pass, the quotes of those stopped before withdrawn again (a withdrawal that
        failed is tried again); then the budgets' day: a strategy past its daily loss limit is
        stopped until the UTC day ends."""
        if full:
            self._withdraw(n for n in self._tuning.lineup.names if self.is_stopped(n))
        if self._budgets is not None:
            for name, why in self._budgets.check_day(self._clock.wall()):
                self._stopped_alone(name, why)

    def is_stopped(self, name: str) -> bool:
        """The strategy is stopped: for the run, or for the day by its budget."""
        return name in self.stopped or (self._budgets is not None and name in self._budgets.stopped)

    def _withdraw(self, names: Iterable[str]) -> None:
        if self.settings.dry_run:
            return
        for name in names:
            self._own.cancel_adding(f"strategy {name} stopped", lambda _: True, owner=name)

    def withheld_by(self, gate: MarketGate) -> Callable[[Intent], str | None]:
        """Why the loop would withdraw an order were it resting now (None: it would not): the
        gate's rule (its market closed or stale; a blocking state, for one that is not
        reduce-only) or, for one that is not reduce-only either, its strategy stopped. What the
        executor asks of an order decided earlier before it goes (runner/execution/execution.py
        `_since_decided`)."""

        def withheld(intent: Intent) -> str | None:
            why = gate.withheld(intent)
            if why is not None or intent.reduce_only:
                return why
            name, budgets = intent.strategy, self._budgets
            # its budget asked afresh: a fill read since the tick's look at the day counts
            past = budgets is not None and budgets.why_stopped(name) is not None
            return f"strategy {name} stopped" if name in self.stopped or past else None

        return withheld
