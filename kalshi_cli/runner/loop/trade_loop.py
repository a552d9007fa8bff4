"""The trade loop: one `tick` at a time, with the clock, the feed and the client injected.

A tick takes the feed's events, does the timer work that is due (lookups of lost answers, fill
reads, the trading state, the circuit breaker, withdrawals while trading is blocked), then visits
markets (held positions that changed first, then the schedule) until its budget is spent, and ends
with the heartbeat. `run` repeats ticks as news arrives and at least every `tick_interval_s`;
nothing in a tick sleeps or reads the wall clock, so tests drive it with a `ManualClock`.
docs/trade-loop.md "Each tick", "How the loop waits" and "Where the code lives".

`TradeLoop` builds nothing: runner/assembly.py builds each component once and hands it over, what
the loop knows (`Books`), what it acts through (`Acts`) and its own components (`TickComponents`),
each a record the loop opens at once. The phases of a tick are components of their own: the tick's
questions of the state (runner/loop/tick_questions.py), the markets' turns (runner/loop/turns.py),
and the stop (runner/loop/shutdown.py, `TradeLoop.stop`). It is given more than six collaborators
because the tick is where they meet: its order of steps is the loop's contract.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from kalshi_cli.feed.book import FeedMessage
from kalshi_cli.runner.loop.loop_components import Acts, Books, TickComponents

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kalshi_cli.runner.loop.settings import LoopSettings


class TradeLoop:
    def __init__(
        self,
        *,
        books: Books,
        acts: Acts,
        components: TickComponents,
        settings: LoopSettings,
        started: float,  # monotonic
    ) -> None:
        self.portfolio, self.feed = books.portfolio, books.feed
        self.clock, self.log = books.clock, books.log
        self.executor, self.dispatch = acts.executor, acts.dispatch
        c = components
        self.gate, self.watch, self.questions = c.gate, c.watch, c.questions
        self.turns, self.legs, self.reloads = c.turns, c.legs, c.reloads
        self.heartbeat, self.stop = c.heartbeat, c.stop
        self._settings = settings
        self._started = started
        self._next_fill_poll = started + settings.fill_poll_s
        self._next_resolve = started
        # optional: MarketFeed does not require it, so a feed that cannot wake (recorded data
        # on a simulated clock) keeps working unchanged
        self._wait_for_messages: Callable[[float], bool] | None = getattr(
            self.feed, "wait_for_messages", None
        )

    @property
    def closed(self) -> set[str]:
        """Markets closed, determined or settled (runner/loop/gate.py)."""
        return self.gate.closed

    @property
    def ticks(self) -> int:
        return self.executor.counters.ticks

    @property
    def settings(self) -> LoopSettings:
        return self._settings

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
            events = self.feed.drain_messages()
            full = now >= next_full
            if events or full or self.turns.deciding() or self.dispatch.answered:
                self.tick(events, full=full, budget_s=self.settings.tick_budget_s)
                if full:
                    next_full = now + self.settings.tick_interval_s
            elif self._wait_for_messages is None:
                self.clock.sleep(self.settings.poll_s)
            else:
                wait_s = min(next_full - now, self.settings.idle_wait_s)
                if deadline is not None:
                    wait_s = min(wait_s, deadline - now)
                self._wait_for_messages(max(wait_s, 0.0))

    def tick(
        self,
        events: Iterable[FeedMessage] = (),
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
        if self.reloads.requested.is_set() and self.reloads.reload():
            self.turns.schedule.wake_all()  # a market at rest was judged with the old params
        changed, went_stale, touched = self.watch.handle_messages(events)
        now_m = self.clock.monotonic()
        if changed or touched:
            self.turns.news(changed, now_m, touched)
        if self.portfolio.fee_changes:
            for change in self.portfolio.apply_fee_changes(self.clock.wall()):
                self.log.emit("fee_change", change.to_json())
                self.turns.schedule.wake_all()
        self._ask_what_is_due(now_m)
        # a set's leg or sale back the backoff held goes now that it is over
        self.legs.resume()
        # the tick's own questions (the trading state, the circuit breaker), with one look at
        # the state file, and what their answers withdraw
        self.questions.ask(full=full, went_stale=went_stale)
        if full:
            self.turns.start_pass()
        # a tick called on its own (no budget) visits every market, whatever the write budget
        self.turns.serve(now_m + budget_s, paced=budget_s != math.inf, paused=self.gate.paused)
        # the orders the visits decided go out together, before anything else of the tick (an
        # empty batch has nothing to send and nothing to drop)
        if self.executor.outbox.queued:
            self.executor.flush()
        if self.executor.guard.safe_mode_tripped:
            # an order or a fill read of this pass tripped SAFE_MODE: its quotes go now, not
            # on the next pass; the trip is forgotten once the gate has read the state it wrote
            # (until then an order waiting for a send worker asks the trip: gate.py)
            self.questions.after_safe_mode()
            self.executor.guard.safe_mode_tripped = False
        self.heartbeat.end_of_tick(now_m)

    def _ask_what_is_due(self, now_m: float) -> None:
        """The tick's timed reads: the orders of unknown outcome and the lost amends looked up
        every `resolve_s`, the fills read every `fill_poll_s` (or when a fill is known due).
        Nothing is due before the next of those times unless an order is in doubt or a fill is
        known due: the tick then asks nothing else."""
        executor = self.executor
        in_doubt = executor.unknown_orders.unknown or executor.amends.lost
        fills_due = executor.fills_due
        if not (in_doubt or fills_due or now_m >= self._next_fill_poll):
            return
        # while trading is blocked an order of unknown outcome may rest: it is looked up through
        # the backoff, as the withdrawing cancels go, so it is withdrawn once found
        if in_doubt and now_m >= self._next_resolve:
            guarded = not executor.guard.backing_off
            if guarded or self.watch.blocked_by is not None:
                executor.unknown_orders.resolve_later(guarded=guarded)
                executor.amends.look_later(guarded=guarded)
                self._next_resolve = now_m + self.settings.resolve_s
        due = executor.fills_due or now_m >= self._next_fill_poll
        # a failed read leaves fills_due set; retrying it every tick would ignore the backoff
        # and turn a short 429 burst into SAFE_MODE within milliseconds; one read out at a time
        fills = executor.fills
        if due and not executor.guard.backing_off and not fills.reading:
            if executor.fills_due or self._may_fill():
                fills.read_for()
            self._next_fill_poll = now_m + self.settings.fill_poll_s

    def _may_fill(self) -> bool:
        """A fill can come that a timed read would find: always, unless the account's orders
        are the loop's alone (`LoopSettings.fills_of_its_orders_only`) and none of them rests,
        is on its way or of unknown outcome, no fill told is unread and no position is held (a
        settlement is read with the fills)."""
        if not self._settings.fills_of_its_orders_only:
            return True
        portfolio, executor = self.portfolio, self.executor
        return bool(
            portfolio.orders
            or portfolio.unbooked_orders()
            or portfolio.open_positions()
            or executor.outbox.pending()
            or executor.unknown_orders.unknown
            or executor.amends.lost
            or self.dispatch.in_flight
            or self.dispatch.answered
        )
