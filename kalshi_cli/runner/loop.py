"""The trade loop: one `tick` at a time, with the clock, the feed and the client injected.

A tick: take the feed's events (book changes, fills, order updates, freshness), look up orders
whose answer was lost (once a second while there are any), read new fills when one is due (not
while the API error guard asks for a backoff), note trading-state changes made by other
processes (`kalshi halt`, `cancel-all`, `resume`, which also lifts the API backoff), check the
daily circuit breaker, withdraw this loop's resting orders that would add to a position while
trading is blocked (outside ACTIVE, the breaker tripped, paused, or the market stale: at once
when the block begins, backoff or not, then on each full pass), then visit markets: each held
position whose book or position changed first (its stop-loss, then the strategy, whose
take-profit is an exit), outside any budget, then markets from the schedule
(runner/schedule.py: those whose book changed, oldest change first, then the sweep over every
market that a full tick starts, a market unvisited for `max_revisit_s` ahead of the news) until
the tick's budget is spent; each visit runs the stop-loss and the strategy and sends what the
risk engine allows. It ends with the heartbeat row (with the lag figures) and the feed age in
the state file, and every `status_interval_s` a status line.

`run` repeats ticks: one as soon as the feed has something or the schedule has work left, and a
full tick at least every `tick_interval_s` (the timer work, heartbeats, fill polls, lookups of
unknown orders, rides on it), each with `tick_budget_s` of market visits, so news never waits
for a pass over every market. A feed that offers `wait_for_events` (MarketData) wakes the loop
the moment it queues an event; the wait never outlasts the next full pass, the run's deadline or
`idle_wait_s` (how soon a stop is seen), so it neither spins nor delays the timer work. A feed
without it (a recorded one on a simulated clock) is polled every `poll_s` of its clock. Nothing
in a tick sleeps or reads the wall clock directly, so tests drive it with a `ManualClock`, a
fake feed and a fake client, thousands of ticks a second.

The loop's other parts each have their module: its settings and the state it keeps
(runner/loop_base.py), one market's turn (runner/market_pass.py), and what it watches besides
the books: the feed's events, the trading state, the pause, withdrawals and breaches
(runner/loop_watch.py).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable

from kalshi_cli.feed.book import FeedEvent
from kalshi_cli.risk import utc_day
from kalshi_cli.runner.loop_watch import LoopWatch
from kalshi_cli.runner.market_pass import MarketPass
from kalshi_cli.runner.portfolio import OpenOrder
from kalshi_cli.runner.schedule import LagReport
from kalshi_cli.runner.summary import Summary


class TradeLoop(MarketPass, LoopWatch):
    # ---------------------------------------------------------------- running

    def run(
        self,
        *,
        stop: threading.Event,
        duration_s: float | None = None,
        max_ticks: int | None = None,
    ) -> None:
        deadline = None if duration_s is None else self._started + duration_s
        next_full = self.clock.monotonic()
        while not stop.is_set():
            now = self.clock.monotonic()
            if deadline is not None and now >= deadline:
                break
            if max_ticks is not None and self.ticks >= max_ticks:
                break
            events = self.feed.drain_events()
            full = now >= next_full
            if events or full or self.schedule.pending:
                self.tick(events, full=full, budget_s=self.settings.tick_budget_s)
                if full:
                    next_full = now + self.settings.tick_interval_s
            elif self._wait_for_events is None:
                self.clock.sleep(self.settings.poll_s)
            else:
                wait_s = min(next_full - now, self.settings.idle_wait_s)
                if deadline is not None:
                    wait_s = min(wait_s, deadline - now)
                self._wait_for_events(max(wait_s, 0.0))

    def tick(
        self,
        events: Iterable[FeedEvent] = (),
        *,
        full: bool = True,
        budget_s: float = math.inf,
    ) -> None:
        """One tick: the feed's events, the timer work when `full`, risk exits of held
        positions, then markets from the schedule (news first, then the sweep a `full` tick
        starts) until `budget_s` of the loop's clock is spent or none is left. A tick called
        on its own (`--once`, a backtest, a test) has no budget: it visits every market."""
        self.ticks += 1
        if self.reload_requested.is_set():
            self.reload_params()
        changed, went_stale = self._handle_events(events)
        now_m = self.clock.monotonic()
        for ticker, at in changed.items():
            self.schedule.changed(ticker, now_m if at is None else at)
        if self.portfolio.fee_changes:
            for change in self.portfolio.apply_fee_changes(self.clock.wall()):
                self.log.emit("fee_change", change.to_json())
        # while trading is blocked an order of unknown outcome may rest: it is looked up through
        # the backoff, as the withdrawing cancels go, so it is withdrawn once found
        may_look = self._blocked_by is not None or not self.executor.backing_off
        if self.executor.unknown and now_m >= self._next_resolve and may_look:
            self.executor.resolve_unknown(guarded=not self.executor.backing_off)
            self._next_resolve = now_m + self.settings.resolve_s
        due = self.executor.fills_due or now_m >= self._next_fill_poll
        # a failed read leaves fills_due set; retrying it every tick would ignore the backoff
        # and turn a short 429 burst into SAFE_MODE within milliseconds
        if due and not self.executor.backing_off:
            self.executor.sync_fills()
            self._next_fill_poll = now_m + self.settings.fill_poll_s
        # one look at the state file for the tick's own questions (docs/trade-loop.md)
        with self.ledger.tick(full=full):
            self._watch_state()
            if full and self.on_halted is not None and self._state == "HALTED":
                self.on_halted()
            tripped = self.risk.check_circuit_breaker()
        self._withdraw(tripped, full=full, went_stale=went_stale)
        self._check_breaches()
        if full:
            self._read_queue_positions()
            self.schedule.start_sweep()
        # the pause file is read once a tick, not once per market
        self._pass_paused = self.paused
        self._serve(now_m + budget_s)
        # the orders the visits decided go out together, before anything else of the tick
        self.executor.flush()
        if self.executor.safe_mode_tripped:
            # an order or a fill read of this pass tripped SAFE_MODE: its quotes go now, not
            # on the next pass
            self.executor.safe_mode_tripped = False
            self._watch_state()
            self._withdraw(tripped, full=False, went_stale=set())
        self._housekeeping(now_m)

    # ---------------------------------------------------------------- which markets

    def _serve(self, until: float) -> None:
        """Held positions first, whatever the budget: each whose book changed or that is due in
        the sweep gets its whole turn (stop-loss, then the strategy: a take-profit is its
        exit); each whose position view changed since (a fill read, an order's update) or whose
        stop-loss waits for its retry gets its stop-loss; the others' stop-loss would answer as
        it did (it reads only the book and the view). Then markets from the schedule, at least
        one, until the loop's clock reaches `until`; the orders they decide go out as a batch
        once the first has waited `batch_wait_s` (the rest at the end of the tick)."""
        schedule = self.schedule
        for m in self.portfolio.open_positions():
            ticker = m.ticker
            if ticker not in schedule.visited:
                continue
            if ticker in schedule.news or schedule.in_sweep(ticker):
                self._visit(ticker)
            elif self.portfolio.view(ticker) is not self._seen_views.get(ticker) or (
                ticker in self._stops  # a close that did not fill: its retry is due by time
            ):
                self._exit(ticker)
                self._seen_views[ticker] = self.portfolio.view(ticker)
        while True:
            turn = schedule.next_market(self.clock.monotonic())
            if turn is None:
                return
            self._visit(turn)
            now = self.clock.monotonic()
            executor = self.executor
            if executor.queued and now - executor.queued_since >= self.settings.batch_wait_s:
                executor.flush()  # the first order of the batch has waited long enough
            if self.clock.monotonic() >= until:
                return

    def _visit(self, ticker: str) -> None:
        self._trade(ticker)
        self.schedule.visit(ticker, self.clock.monotonic())
        if self.portfolio.position(ticker) != 0:
            self._seen_views[ticker] = self.portfolio.view(ticker)
        else:
            self._seen_views.pop(ticker, None)

    # ---------------------------------------------------------------- params reload

    def reload_params(self) -> bool:
        """Read the params file again (`kill -HUP`, between two ticks): the fields the strategy
        marks `Updatable` change together, and only if the whole file validates and no other
        field changed; otherwise the running params stay and the refusal is logged and
        alerted. True when the params changed."""
        from dataclasses import replace

        from kalshi_cli.config import read_params_file
        from kalshi_cli.errors import KalshiError
        from kalshi_cli.strategy_api import params_dict, reload_params

        self.reload_requested.clear()
        name = self.settings.strategy_name
        if self.params_file is None:
            why = "no --params file to read: the loop was started without one"
            self._refuse_reload(why)
            return False
        try:
            raw = read_params_file(self.params_file)
            fresh, changed = reload_params(self.settings.params, raw, where=f"strategies.{name}")
        except KalshiError as exc:
            self._refuse_reload(exc.message)
            return False
        if not changed:
            self.log.emit("params_reloaded", {"file": str(self.params_file), "changed": {}})
            return False
        self.settings = replace(self.settings, params=fresh)
        # a market skipped as quiet was judged with the old params
        self._quiet.clear()
        now = params_dict(fresh)
        self.log.emit(
            "params_reloaded",
            {"file": str(self.params_file), "changed": {k: now[k] for k in changed}},
        )
        return True

    def _refuse_reload(self, why: str) -> None:
        detail = {"file": str(self.params_file), "error": why}
        self.log.emit("params_reload_refused", detail)
        self._alert(
            "params_reload_refused",
            str(self.params_file),
            f"{self.settings.strategy_name}: params reload refused, the running params stay: {why}",
            detail,
        )

    # ---------------------------------------------------------------- heartbeat and status

    def _housekeeping(self, now_m: float) -> None:
        self._beat_if_due(now_m)
        if now_m >= self._next_status:
            self._next_status = now_m + self.settings.status_interval_s
            self.log.emit("status", self.summary().to_json())
        day = utc_day(self.clock.wall())
        if day != self._day:
            text = f"{self._day}: realized P&L {self.store.trading.daily_realized_pnl(self._day)}"
            self._alert("daily_summary", self._day, text, {"day": self._day})
            self._day = day

    def _beat_if_due(self, now_m: float) -> None:
        """The heartbeat row (and the dead-man ping) when due: at the end of a tick, and
        between the exchange calls of a long withdrawal (LoopWatch), so liveness never waits
        on an exchange that answers slowly or not at all."""
        if now_m >= self._next_heartbeat:
            self._next_heartbeat = now_m + self.settings.heartbeat_interval_s
            self._heartbeat()
            if self.alerts is not None and now_m >= self._next_deadman:
                self._next_deadman = now_m + self.settings.deadman_interval_s
                self.alerts.beat("", self.beat_text("alive"))

    def _heartbeat(self) -> None:
        now = self.clock.wall()
        age = self.feed.last_message_age()
        lag = self._lag_report()
        detail = {
            "ticks": self.ticks,
            "orders": self.executor.counters.orders,
            "fills": self.executor.counters.fills,
            "state": self._state,
            "paused": self._paused,
            "feed_age_s": round(age, 3) if age != math.inf else None,
            "subaccount": self.client.subaccount or 0,
            **lag.to_json(),
            "max_revisit_s": self.settings.max_revisit_s,
            "behind": self._behind,
            # what runs: `kalshi status` and the dashboard show it
            "strategy": self.settings.strategy_name,
            "strategy_spec": self.strategy.spec or self.strategy.name,
        }
        # one transaction, so one fsync of the state file per heartbeat rather than two; rows
        # the ledger does not answer from, so they leave its answers in place
        with self.ledger.writing_heartbeat(), self.store.transaction():
            self.store.events.heartbeat(source="trade", detail=detail)
            if age != math.inf:
                self.store.events.set_kv("feed.last_message_at", f"{now - age:.3f}")
        self.log.emit("heartbeat", detail)

    def _lag_report(self) -> LagReport:
        """The lag figures since the last heartbeat; says so when the loop falls behind its
        fairness bound (a market unvisited, or news undecided, for `max_revisit_s`) and when
        it catches up again."""
        lag = self.lag = self.schedule.report(self.clock.monotonic())
        bound = self.settings.max_revisit_s
        behind = lag.revisit_max_s > bound or (lag.lag_max_s or 0.0) > bound
        if behind != self._behind:
            self._behind = behind
            self.log.emit("loop_behind" if behind else "loop_caught_up", lag.to_json())
        return lag

    def beat_text(self, what: str) -> str:
        """The body of a dead-man ping (healthchecks.io shows it in the check's log)."""
        c = self.executor.counters
        return (
            f"kalshi trade {self.settings.strategy_name}: {what}; ticks {self.ticks}, "
            f"orders {c.orders}, fills {c.fills}"
        )

    def summary(self) -> Summary:
        books = {m.ticker: self.feed.book(m.ticker) for m in self.portfolio.open_positions()}
        c = self.executor.counters
        return Summary(
            uptime_s=self.clock.monotonic() - self._started,
            ticks=self.ticks,
            orders=c.orders,
            fills=c.fills,
            denied=c.denied,
            open_positions={m.ticker: m.position for m in self.portfolio.open_positions()},
            resting_orders=len(self.portfolio.orders),
            realized_pnl=self.portfolio.pnl.realized - self._realized_at_start,
            daily_pnl=self.store.trading.daily_realized_pnl(utc_day(self.clock.wall())),
            unrealized_pnl=self.portfolio.unrealized(books),
            trading_state=self.store.trading.trading_state().state,
            subaccount=self.client.subaccount or 0,
            lag_p99_s=None if self.lag is None else self.lag.lag_p99_s,
            revisit_max_s=None if self.lag is None else self.lag.revisit_max_s,
            behind=self._behind,
        )

    # ---------------------------------------------------------------- the end

    def own_resting(self) -> list[OpenOrder]:
        """The resting orders this loop placed: those its shutdown cancels (not one by hand)."""
        return [o for o in list(self.portfolio.orders.values()) if self._placed_by_us(o)]

    def _cancel_own(self, abandon: threading.Event | None) -> bool:
        """Cancel the resting orders this loop placed; True when `abandon` stopped it."""
        own = self.own_resting()
        for n, order in enumerate(own):
            if abandon is not None and abandon.is_set():
                self.log.emit(
                    "shutdown_abandoned",
                    {"left_resting": len(own) - n, "reason": "interrupted again"},
                )
                return True
            self.executor.cancel_order(order.ticker, order.order_id, "shutdown")
        return False

    def shutdown(self, *, cancel_resting: bool, abandon: threading.Event | None = None) -> Summary:
        """Cancel the orders this loop placed (never orders placed by hand), write a last
        heartbeat, and return the final summary. Once `abandon` is set (a second Ctrl-C: the
        person will not wait for an exchange that answers slowly), the cancels left are given
        up and logged, and fills are not read again."""
        abandoned = False
        if cancel_resting and not self.settings.dry_run:
            abandoned = self._cancel_own(abandon)
            if not abandoned and self.executor.unknown:
                # one whose answer was lost may still land; with the session's order group it is
                # looked up once (the group, deleted or triggered, refuses it later), else until
                # it cannot
                wait = self.executor.order_group_id is None
                self.executor.see_unknown_through(abandon, wait=wait)  # logs what it leaves
                abandoned = self._cancel_own(abandon) or bool(abandon and abandon.is_set())
        if not abandoned:
            self.executor.sync_fills()
        self._heartbeat()
        summary = self.summary()
        self.log.emit("stopped", summary.to_json())
        return summary
