"""The trade loop: one `tick` at a time, with the clock, the feed and the client injected.

A tick takes the feed's events, does the timer work that is due (lookups of lost answers, fill
reads, the trading state, the circuit breaker, withdrawals while trading is blocked), then visits
markets (held positions that changed first, then the schedule) until its budget is spent, and ends
with the heartbeat. `run` repeats ticks as news arrives and at least every `tick_interval_s`;
nothing in a tick sleeps or reads the wall clock, so tests drive it with a `ManualClock`.
docs/trade-loop.md "Each tick", "How the loop waits" and "Where the code lives".

`TradeLoop` builds nothing: runner/assembly.py builds each part once and hands it over, the
account's parts (`Books`), the exchange's (`Acts`), the loop's own (`LoopParts`) and what the
session listens with (`Hooks`), each a record the loop opens at once. It is given more than six
collaborators because the tick is where they meet: its order of steps is the loop's contract.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from kalshi_cli.feed.book import FeedEvent
from kalshi_cli.runner.loop.loop_parts import Acts, Books, Hooks, TickParts
from kalshi_cli.runner.loop.shared import alert_through
from kalshi_cli.vocabulary.clock import Deadline, utc_day
from kalshi_cli.vocabulary.decisions import PositionView

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kalshi_cli.runner.loop.alerting import TradeAlerts
    from kalshi_cli.runner.loop.lineup import Lineup
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.runner.loop.shared import Tuning
    from kalshi_cli.runner.loop.summary import Summary
    from kalshi_cli.services.pretrade.budgets import Budgets
    from kalshi_cli.store import Store

WRITE_AHEAD_S = 1.0
"""How far behind the client's write budget may run (the seconds an order sent now would wait
for its turn from the rate limiter) before the loop decides no more orders: one decided
further ahead goes out on a book that has moved, and a post-only quote is then refused as a
cross, its tokens spent for nothing (`TradeLoop._serve`)."""

WRITES_SHORT_S = 0.5
"""The write budget is short with less than this many seconds of writes in hand: the markets
not yet quoted then go first (`TradeLoop._serve`)."""


class TradeLoop:
    def __init__(
        self,
        *,
        books: Books,
        acts: Acts,
        parts: TickParts,
        tuning: Tuning,
        alerts: TradeAlerts | None,
        hooks: Hooks,
        budgets: Budgets | None,
        started: float,  # monotonic
    ) -> None:
        self.records, self.portfolio, self.feed = books.records, books.portfolio, books.feed
        self.clock, self.log = books.clock, books.log
        self.client, self.risk, self.executor = acts.client, acts.risk, acts.executor
        self.dispatch, self.own = acts.dispatch, acts.own
        self.gate, self.stops, self.market_pass = parts.gate, parts.stops, parts.market_pass
        self.queue, self.watch, self.schedule = parts.queue, parts.watch, parts.schedule
        self.heartbeat, self.sender, self.reloads = parts.heartbeat, parts.sender, parts.reloads
        self.legs = parts.legs
        self._tuning = tuning
        self.alerts = alerts
        self._alert = alert_through(alerts)
        self.trigger_group = hooks.trigger_group
        self.on_halted = hooks.on_halted
        self.on_let_go = hooks.on_let_go
        # each strategy's own budget (trade.budgets): the risk engine reads what it owns
        self.budgets = budgets
        # the loop's orders its last stop could not prove gone (empty: proven, or no stop yet)
        self.not_proven: tuple[str, ...] = ()
        # the sets of legs its last stop left broken (runner/execution/leg_sets.py)
        self.broken_sets: tuple[str, ...] = ()
        self.unlisted = ""  # why no listing proved the stop ("": one did)
        # the stop's one deadline (`trade.stop_deadline_s`), from its start: what ends the
        # session's order group after it runs under what is left (None: no stop yet)
        self.stop_deadline: Deadline | None = None
        # the state file's generation and the UTC day when the tick's own questions were last
        # asked, and the circuit breaker's answer then (`tick`)
        self._asked: tuple[int, str] | None = None
        self._tripped = False
        self._started = started
        self._next_fill_poll = started + tuning.settings.fill_poll_s
        self._next_resolve = started
        # ticker -> the position view a held market's last visit saw: a new one (a fill, an
        # order) is news for its risk exits
        self._seen_views: dict[str, PositionView] = {}
        # the markets no order was sent for yet (`_unquoted`), and how many were sent for when
        # it was last brought up to date
        self._not_quoted: set[str] = set(self.portfolio.markets)
        self._quoted_seen = 0
        # optional: MarketFeed does not require it, so a feed that cannot wake (recorded data
        # on a simulated clock) keeps working unchanged
        self._wait_for_events: Callable[[float], bool] | None = getattr(
            self.feed, "wait_for_events", None
        )

    # ---------------------------------------------------------------- what the parts share

    @property
    def store(self) -> Store:
        """The state file (the trading records read from it)."""
        return self.records.store

    @property
    def closed(self) -> set[str]:
        """Markets closed, determined or settled (runner/loop/gate.py)."""
        return self.gate.closed

    @property
    def ticks(self) -> int:
        return self.executor.counters.ticks

    @property
    def settings(self) -> LoopSettings:
        return self._tuning.settings

    @property
    def lineup(self) -> Lineup:
        """The strategies this loop runs, each with its params (runner/loop/lineup.py)."""
        return self._tuning.lineup

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
            deciding = self.schedule.pending and not self._writes_held_back()
            if events or full or deciding or self.dispatch.answered:
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
        on its own (`--once`, a backtest, a test) has no budget: it visits every market. Whole:
        the order of its steps is the loop's contract, read top to bottom."""
        self.executor.counters.ticks += 1
        # the exchange's answers that are back, booked before anything is decided (what one
        # drain leaves, a long one, is booked after the next visit: its markets stay busy)
        self.dispatch.drain()
        schedule = self.schedule
        if self.reloads.requested.is_set() and self.reloads.reload():
            schedule.wake_all()  # a market at rest was judged with the old params
        changed, went_stale, touched = self.watch.handle_events(events)
        now_m = self.clock.monotonic()
        for ticker, at in changed.items():
            schedule.changed(ticker, now_m if at is None else at)
        for ticker in touched:
            schedule.wake(ticker)
        if self.portfolio.fee_changes:
            for change in self.portfolio.apply_fee_changes(self.clock.wall()):
                self.log.emit("fee_change", change.to_json())
                schedule.wake_all()
        self._ask_what_is_due(now_m)
        # a set's leg or sale back the backoff held goes now that it is over
        self.legs.resume()
        # one look at the state file for the tick's own questions (docs/trade-loop.md), asked
        # again only on a full pass or when their answers may have moved: the file changed
        # (another connection's commit, this loop's write or rollback) or the UTC day turned
        with self.records.tick(full=full):
            asking = (self.records.generation, utc_day(self.clock.wall()))
            if full or asking != self._asked:
                self._asked = asking
                self.watch.watch_state()
                if full and self.on_halted is not None and self.gate.state == "HALTED":
                    self.on_halted()
                self._tripped = self.risk.check_circuit_breaker()
                if self.stops.stopped:
                    self.stops.watch_resumes()
        tripped = self._tripped
        self.stops.check_day(full)
        self.watch.withdraw(tripped, full=full, went_stale=went_stale)
        self.watch.check_breaches()
        if full:
            self.queue.read()
            self.schedule.start_sweep()
        # a tick called on its own (no budget) visits every market, whatever the write budget
        self._serve(now_m + budget_s, paced=budget_s != math.inf, paused=self.gate.paused)
        # the orders the visits decided go out together, before anything else of the tick
        self.executor.flush()
        if self.executor.guard.safe_mode_tripped:
            # an order or a fill read of this pass tripped SAFE_MODE: its quotes go now, not
            # on the next pass
            self.executor.guard.safe_mode_tripped = False
            self.watch.watch_state()
            self.watch.withdraw(tripped, full=False, went_stale=set())
        self.heartbeat.end_of_tick(now_m)

    def _ask_what_is_due(self, now_m: float) -> None:
        """The tick's timed reads: the orders of unknown outcome and the lost amends looked up
        every `resolve_s`, the fills read every `fill_poll_s` (or when a fill is known due)."""
        # while trading is blocked an order of unknown outcome may rest: it is looked up through
        # the backoff, as the withdrawing cancels go, so it is withdrawn once found
        may_look = self.watch.blocked_by is not None or not self.executor.guard.backing_off
        in_doubt = self.executor.unknown_orders.unknown or self.executor.amends.lost
        if in_doubt and now_m >= self._next_resolve and may_look:
            guarded = not self.executor.guard.backing_off
            self.executor.unknown_orders.resolve_later(guarded=guarded)
            self.executor.amends.look_later(guarded=guarded)
            self._next_resolve = now_m + self.settings.resolve_s
        due = self.executor.fills_due or now_m >= self._next_fill_poll
        # a failed read leaves fills_due set; retrying it every tick would ignore the backoff
        # and turn a short 429 burst into SAFE_MODE within milliseconds; one read out at a time
        fills = self.executor.fills
        if due and not self.executor.guard.backing_off and not fills.reading:
            fills.read_for()
            self._next_fill_poll = now_m + self.settings.fill_poll_s

    # ---------------------------------------------------------------- which markets

    def _serve(self, until: float, *, paced: bool = True, paused: bool = False) -> None:
        """Held positions first, whatever the budget: each whose book changed or that is due in the
        sweep gets its whole turn; each whose position view changed or whose stop-loss waits for
        its retry gets its stop-loss. Then markets from the schedule, at least one, until the
        clock reaches `until`; their orders go out as a batch once the first has waited
        `batch_wait_s`.

        The loop decides no more than the client's write budget can send soon: more than
        `WRITE_AHEAD_S` behind, no market takes a turn (held positions take their stop-loss alone);
        with less than `WRITES_SHORT_S` in hand, markets not yet quoted go first. A tick that is not
        `paced` (`--once`, a backtest) visits every market. `paused`: the pause file, read once a
        tick, not once per market."""
        schedule = self.schedule
        dispatch = self.dispatch
        behind = dispatch.writes_behind_s() if paced else -math.inf
        first = self._unquoted() if behind > -WRITES_SHORT_S else frozenset()
        exits_only = behind > WRITE_AHEAD_S or schedule.waiting_first(first)
        self._serve_held(exits_only=exits_only, paused=paused)
        if behind > WRITE_AHEAD_S:
            return
        while True:
            turn = schedule.next_market(self.clock.monotonic(), first)
            if turn is None:
                return
            self._visit(turn, paused)
            dispatch.drain()  # answers back meanwhile: their markets may take a turn again
            if paced and self._writes_held_back():
                return  # what it decided fills the write budget: the rest waits its turn
            now = self.clock.monotonic()
            outbox = self.executor.outbox
            if outbox.queued and now - outbox.queued_since >= self.settings.batch_wait_s:
                self.executor.flush()  # the first order of the batch has waited long enough
                now = self.clock.monotonic()
            if now >= until:
                return

    def _serve_held(self, *, exits_only: bool, paused: bool) -> None:
        """Each held position whose book changed or that is due in the sweep gets its whole turn
        (its stop-loss alone when `exits_only`); each whose position view changed or whose
        stop-loss waits for its retry gets its stop-loss."""
        schedule = self.schedule
        dispatch = self.dispatch
        held = dict.fromkeys(m.ticker for m in self.portfolio.open_positions())
        # a market whose fills are told and not read yet is held at the exchange already
        held.update(dict.fromkeys(o.ticker for o in self.portfolio.unbooked_orders()))
        news, seen, views = schedule.news, self._seen_views, self.portfolio.view
        for ticker in held:
            # the questions that change nothing first: most held markets have nothing new
            has_turn = ticker in news or schedule.in_sweep(ticker)
            if not (
                has_turn
                or views(ticker) is not seen.get(ticker)
                or schedule.parked_news(ticker)
                or self.sender.stop_waiting(ticker)  # a close that did not fill: its retry
            ):
                continue
            # a market busy with a fill read alone is parked: no turn, its stop-loss still
            if ticker not in schedule.visited or dispatch.busy(ticker, exits=True):
                continue
            if has_turn and not exits_only:
                self._visit(ticker, paused)
            else:
                self.market_pass.exit(ticker)
                seen[ticker] = views(ticker)

    def _writes_held_back(self) -> bool:
        """The write budget is more than `WRITE_AHEAD_S` behind: no market takes a turn."""
        return self.dispatch.writes_behind_s() > WRITE_AHEAD_S

    def _unquoted(self) -> frozenset[str] | set[str]:
        """The markets no order was sent for yet this run (`Dispatch.quoted`)."""
        quoted = self.dispatch.quoted
        if len(quoted) != self._quoted_seen:
            self._quoted_seen = len(quoted)
            self._not_quoted.difference_update(quoted)
        return self._not_quoted

    def _visit(self, ticker: str, paused: bool) -> None:
        at_rest = self.market_pass.trade(ticker, paused=paused)
        self.schedule.visit(ticker, self.clock.monotonic())
        if at_rest:
            self.schedule.rest(ticker)
        if self.portfolio.position(ticker) != 0:
            self._seen_views[ticker] = self.portfolio.view(ticker)
        else:
            self._seen_views.pop(ticker, None)

    # ---------------------------------------------------------------- the end

    def let_go(self) -> None:
        """Stop listening outside the loop (`on_let_go`), once."""
        for member in self.lineup:
            member.close()
        if self.on_let_go is not None:
            let_go, self.on_let_go = self.on_let_go, None
            let_go()

    def shutdown(self, *, cancel_resting: bool, abandon: threading.Event | None = None) -> Summary:
        """Withdraw the orders this loop placed (never orders placed by hand) and prove it,
        all within `trade.stop_deadline_s` (runner/loop/stop.py), read the fills once more,
        write a last heartbeat, and return the final summary, which names the orders not proven
        gone. Once `abandon` is set (a second Ctrl-C: the person will not wait for an exchange that
        answers slowly), what is left is given up and logged, and fills are not read again."""
        from kalshi_cli.runner.loop.stop import withdraw_at_stop
        from kalshi_cli.runner.loop.stop_proof import not_proven_text

        self.executor.stopping = True  # what the answers booked below would send, is not
        # nor, in a stop that withdraws, what still waits for a send worker (`--once` ends its
        # one pass with its orders sent and left resting)
        self.dispatch.stopping = cancel_resting
        deadline = self.stop_deadline = Deadline.after(self.clock, self.settings.stop_deadline_s)
        with deadline.scope():
            abandoned = False
            # the calls still out are answered and booked first (within the stop's deadline),
            # so the orders they placed are known to the withdrawal; an order whose answer is
            # still not back may yet land: it is an order of unknown outcome to the stop; a
            # second SIGINT or SIGTERM ends this wait as it ends the withdrawal's; an order a
            # failed drain never made (runner/execution/dispatch.py) is no such order
            settled = self.dispatch.settle(self.clock, self.settings.stop_deadline_s / 2, abandon)
            # an answer whose booking failed (a bug, or a call that raised what no booking
            # expects) ends the run as a crash, but only once the stop has withdrawn what the
            # other answers placed: the order it concerned may rest, so the exit is never 0
            failed = self.dispatch.failed
            if failed is not None:
                self.log.emit("shutdown_booking_failed", {"error": repr(failed)})
            # the calls no worker took are dropped before what is out is called unknown: their
            # orders never leave, so neither this stop nor the next start waits for them to land
            self.dispatch.close()
            self.executor.answers.never_made()
            if not settled:
                self.executor.unknown_orders.unanswered(
                    self.executor.answers.in_flight.may_land(),
                    "its answer was not back when the loop stopped",
                )
            # each set of legs not ended is settled and unwound before the withdrawal: once the
            # session's order group is triggered it refuses the sales back too. A set left broken
            # is not proven either
            if not self.settings.dry_run:
                self.broken_sets = tuple(self.legs.finish_at_stop(abandon))
            if cancel_resting and not self.settings.dry_run:
                proof = withdraw_at_stop(self, deadline, abandon)
                self.not_proven, abandoned = proof.left, proof.abandoned
                failed = failed or proof.failed
                self.unlisted = proof.unlisted
                if not proof.proven and not abandoned:
                    self._alert(
                        "stop_not_proven",
                        "stop",
                        not_proven_text(proof.left, proof.unlisted, most=10),
                        {
                            "left_resting": ", ".join(proof.left),
                            "unlisted": proof.unlisted,
                        },
                    )
            # a second interrupt that came once the proof had looked still means no more waiting
            if not abandoned and not (abandon is not None and abandon.is_set()):
                self.executor.fills.sync()  # with what the stop's deadline leaves
        # only now: a fill that last read left out for a missing field is still told
        self.let_go()
        self.heartbeat.beat()
        summary = replace(
            self.heartbeat.summary(),
            not_proven=self.not_proven,
            unlisted=self.unlisted,
            broken_sets=self.broken_sets,
        )
        self.log.emit("stopped", summary.to_json())
        if failed is not None:
            raise failed
        return summary
