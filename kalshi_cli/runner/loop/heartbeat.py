"""What the trade loop says of itself: the heartbeat row (with the lag figures and the feed's age)
and the dead-man ping, each when due; the status line every `status_interval_s`; the day's
realized P&L when the UTC day turns; and the summary `kalshi trade` prints at the end.
`Heartbeat` reads the run's figures from the components that keep them (`RunFigures`) and settings
from `Tuning`. It is given more than six collaborators because it reports on the whole run: the
state file, the account, the feed's age, the schedule's lag, the gate's state and pause, the
calls out, the counters and the strategies stopped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kalshi_cli.runner.loop.shared import alert_through
from kalshi_cli.runner.loop.summary import Summary
from kalshi_cli.store.entries import FEED_HEARD_KEY, LOOP_SOURCE
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.units import fmt_money

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.books.records import LoopTradingRecords
    from kalshi_cli.runner.execution.balance_hold import BalanceHold
    from kalshi_cli.runner.execution.call_guard import Counters
    from kalshi_cli.runner.execution.dispatch import Dispatch
    from kalshi_cli.runner.loop.alerting import TradeAlerts
    from kalshi_cli.runner.loop.gate import MarketGate
    from kalshi_cli.runner.loop.orders_read_again import OrdersReadAgain
    from kalshi_cli.runner.loop.schedule import LagReport, MarketSchedule
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.runner.loop.shared import Tuning
    from kalshi_cli.runner.ports import MarketFeed
    from kalshi_cli.services.pretrade.budgets import Budgets
    from kalshi_cli.vocabulary.clock import Clock


@dataclass(frozen=True)
class RunFigures:
    """What the run has counted, each read where it is kept: the counters (the loop's ticks
    too) and the calls out, the gate's trading state and pause, the schedule's lag, the
    strategies stopped (each with why: for the day by their budget, until resumed), the
    shards held short or paused (`shards`: the executor's hold; None: none kept), and the
    markets waiting for their orders' read (`orders_read`; None: no feed follows orders)."""

    counters: Counters
    dispatch: Dispatch
    gate: MarketGate
    schedule: MarketSchedule
    budgets: Budgets | None
    stopped: Mapping[str, str]
    shards: BalanceHold | None = None
    orders_read: OrdersReadAgain | None = None

    def shards_held(self) -> dict[str, list[int]]:
        """The shards the loop holds now: short of money (refused or denied for it) and paused."""
        hold = self.shards
        if hold is None:
            return {"short": [], "paused": []}
        return {"short": sorted(hold.short_now()), "paused": sorted(hold.paused)}

    def orders_read_waiting(self) -> dict[str, int | float | None]:
        """How many markets wait for their orders' read (runner/loop/orders_read_again.py),
        trading nothing meanwhile, and the longest wait in seconds (None: none waits)."""
        markets, longest = (0, None) if self.orders_read is None else self.orders_read.waits()
        return {
            "orders_read_waiting": markets,
            "orders_read_wait_s": None if longest is None else round(longest, 3),
        }

    def stopped_now(self) -> dict[str, str]:
        return (dict(self.budgets.stopped) if self.budgets is not None else {}) | dict(self.stopped)


class Heartbeat:
    def __init__(
        self,
        *,
        records: LoopTradingRecords,
        feed: MarketFeed,
        portfolio: Portfolio,
        clock: Clock,
        tuning: Tuning,
        log: EntryLog,
        alerts: TradeAlerts | None,
        figures: RunFigures,
        subaccount: int,
        started: float,  # monotonic
    ) -> None:
        self._store = records.store
        self._records = records
        self._feed, self._portfolio, self._clock = feed, portfolio, clock
        self._tuning = tuning
        self.alerts = alerts
        self._log, self._alert = log, alert_through(alerts)
        self._figures = figures
        self._subaccount = subaccount
        self._started = started
        self._realized_at_start = portfolio.pnl.realized
        self._day = utc_day(clock.wall())
        self._next_heartbeat = started
        self._next_deadman = started
        self._next_status = started + tuning.settings.status_interval_s
        self.lag: LagReport | None = None  # the last heartbeat's figures
        self._behind = False

    @property
    def settings(self) -> LoopSettings:
        return self._tuning.settings

    def end_of_tick(self, now_m: float) -> None:  # monotonic seconds
        """The heartbeat when due, the status line when due, and the day's P&L alerted when
        the UTC day has turned."""
        self.beat_if_due(now_m)
        if now_m >= self._next_status:
            self._next_status = now_m + self.settings.status_interval_s
            self._log.emit("status", self.summary().to_json())
        day = utc_day(self._clock.wall())
        if day != self._day:
            pnl = self._store.trading.daily_realized_pnl(self._day)
            text = f"{self._day}: realized P&L {fmt_money(pnl)}"
            self._alert("daily_summary", self._day, text, {"day": self._day})
            self._day = day

    def beat_if_due(self, now_m: float) -> None:  # monotonic seconds
        """The heartbeat row (and the dead-man ping) when due: at the end of a tick, and
        between the exchange calls of a long withdrawal (runner/execution/own_orders.py), so
        liveness never waits on an exchange that answers slowly or not at all."""
        if now_m >= self._next_heartbeat:
            self._next_heartbeat = now_m + self.settings.heartbeat_interval_s
            self.beat()
            if self.alerts is not None and now_m >= self._next_deadman:
                self._next_deadman = now_m + self.settings.deadman_interval_s
                self.alerts.beat("", self.text("alive"))

    def beat(self) -> None:
        """The heartbeat row, now."""
        now = self._clock.wall()
        age = self._feed.last_message_age()
        lag = self._lag_report()
        counters = self._figures.counters
        detail = {
            "ticks": self._figures.counters.ticks,
            "orders": counters.orders,
            "amends": counters.amends,  # requotes amended in place
            "fills": counters.fills,
            "state": self._figures.gate.state,
            "paused": self._figures.gate.last_paused,
            # SIGUSR1's pause, which lives in the loop alone (the pause file's is the file's)
            "paused_by_signal": self._figures.gate.paused_by_signal,
            "feed_age_s": round(age, 3) if age != math.inf else None,
            "subaccount": self._subaccount,
            **lag.to_json(),
            "max_revisit_s": self.settings.max_revisit_s,
            "behind": self._behind,
            # exchange calls sent whose answers are not booked yet (runner/execution/dispatch.py)
            "calls_out": self._figures.dispatch.in_flight,
            # how long an order sent now would wait for the write budget (0: none; None: no
            # rate limiter, a local venue): more than a second, and no market takes a turn
            "writes_behind_s": _writes_behind(self._figures.dispatch.writes_behind_s()),
            # what runs, and which strategies are stopped and why: `kalshi status`, `check
            # heartbeat`, the metrics and the dashboard show it
            "strategy": self._tuning.lineup.describe(),
            "strategies": self._tuning.lineup.to_json(self._figures.stopped_now()),
            # the shards where it enters nothing now (docs/shards.md "The trade loop"): `kalshi
            # status` names them
            "shards_held": self._figures.shards_held(),
            # the markets that trade nothing until their resting orders are read (at the start,
            # after a reconnect): `kalshi check heartbeat` warns when one waits too long
            **self._figures.orders_read_waiting(),
        }
        # one transaction, so one fsync of the state file per heartbeat rather than two; rows
        # the trading records do not answer from, so they leave its answers in place
        with self._records.writing_heartbeat(), self._store.transaction():
            self._store.entries.heartbeat(source=LOOP_SOURCE, detail=detail)
            if age != math.inf:
                self._store.entries.set_kv(FEED_HEARD_KEY, f"{now - age:.3f}")
        self._log.emit("heartbeat", detail)

    def _lag_report(self) -> LagReport:
        """The lag figures since the last heartbeat; says so when the loop falls behind its
        fairness bound (a market unvisited, or news undecided, for `max_revisit_s`) and when
        it catches up again."""
        lag = self.lag = self._figures.schedule.report(self._clock.monotonic())
        bound = self.settings.max_revisit_s
        behind = lag.revisit_max_s > bound or (lag.lag_max_s or 0.0) > bound
        if behind != self._behind:
            self._behind = behind
            self._log.emit("loop_behind" if behind else "loop_caught_up", lag.to_json())
        return lag

    def text(self, what: str) -> str:
        """The body of a dead-man ping (healthchecks.io shows it in the check's log)."""
        c = self._figures.counters
        return (
            f"kalshi trade {', '.join(self._tuning.lineup.names)}: {what}; "
            f"ticks {self._figures.counters.ticks}, "
            f"orders {c.orders}, amends {c.amends}, fills {c.fills}"
        )

    def summary(self) -> Summary:
        portfolio = self._portfolio
        books = {m.ticker: self._feed.book(m.ticker) for m in portfolio.open_positions()}
        c = self._figures.counters
        lag = self.lag
        return Summary(
            uptime_s=self._clock.monotonic() - self._started,
            ticks=self._figures.counters.ticks,
            orders=c.orders,
            fills=c.fills,
            denied=c.denied,
            open_positions={m.ticker: m.position for m in portfolio.open_positions()},
            resting_orders=len(portfolio.orders),
            realized_pnl=portfolio.pnl.realized - self._realized_at_start,
            daily_pnl=self._store.trading.daily_realized_pnl(utc_day(self._clock.wall())),
            unrealized_pnl=portfolio.unrealized(books),
            trading_state=self._store.trading.trading_state().state,
            subaccount=self._subaccount,
            lag_p99_s=None if lag is None else lag.lag_p99_s,
            revisit_max_s=None if lag is None else lag.revisit_max_s,
            behind=self._behind,
        )


def _writes_behind(behind: float) -> float | None:
    """`Dispatch.writes_behind_s` as the heartbeat reports it: 0 while writes are in hand."""
    return None if behind == -math.inf else round(max(behind, 0.0), 3)
