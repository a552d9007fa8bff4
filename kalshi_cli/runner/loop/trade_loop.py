"""The trade loop: one `tick` at a time, with the clock, the feed and the client injected.

A tick takes the feed's events, does the timer work that is due (lookups of lost answers, fill
reads, the trading state, the circuit breaker, withdrawals while trading is blocked), then visits
markets (held positions that changed first, then the schedule) until its budget is spent, and ends
with the heartbeat. `run` repeats ticks as news arrives and at least every `tick_interval_s`;
nothing in a tick sleeps or reads the wall clock, so tests drive it with a `ManualClock`.
docs/trade-loop.md "Each tick", "How the loop waits" and "Where the code lives".
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from kalshi_cli.feed.book import FeedEvent
from kalshi_cli.runner.books.budgets import Budgets
from kalshi_cli.runner.books.portfolio import OpenOrder
from kalshi_cli.runner.books.records import LoopTradingRecords
from kalshi_cli.runner.loop.alerting import TradeAlerts
from kalshi_cli.runner.loop.heartbeat import Heartbeat, RunFigures
from kalshi_cli.runner.loop.lineup import Lineup, Member
from kalshi_cli.runner.loop.market_pass import EventGroup, MarketPass
from kalshi_cli.runner.loop.schedule import MarketSchedule
from kalshi_cli.runner.loop.settings import LoopSettings
from kalshi_cli.runner.loop.summary import Summary
from kalshi_cli.runner.loop.watch import LoopWatch
from kalshi_cli.runner.ports import LoopClient
from kalshi_cli.strategies import Intent, PositionView
from kalshi_cli.strategy_api import MarketTerms
from kalshi_cli.vocabulary.clock import Deadline, utc_day

if TYPE_CHECKING:
    from pathlib import Path

    from kalshi_cli.runner.loop.shared import Acting, Sight, Tuning, Voice
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
        client: LoopClient,
        sight: Sight,
        acting: Acting,
        tuning: Tuning,
        voice: Voice,
        records: LoopTradingRecords,
        events: Mapping[str, EventGroup] | None = None,
    ) -> None:
        self.client = client
        self.feed, self.portfolio, self.clock = sight.feed, sight.portfolio, sight.clock
        self.risk, self.executor, self.own = acting.risk, acting.executor, acting.own
        self.records = records
        self.log = voice.log
        self._tuning = tuning
        self._voice = voice
        portfolio, clock, settings = sight.portfolio, sight.clock, tuning.settings
        self.dispatch = acting.dispatch
        # an answer back from a worker wakes the loop as news does (feeds that can wait)
        self.dispatch.wake = getattr(self.feed, "wake", None)
        # each strategy's own budget (trade.budgets): the risk engine reads what it owns
        self.budgets = (
            Budgets(settings.budgets, portfolio, self.own.owner) if settings.budgets else None
        )
        self.executor.budgets = self.budgets
        self.executor.events = portfolio.events
        # how each market settles (its strike fields, close, the index its rules name), and the
        # markets of each index: a new value of an index is news for them
        terms = {t: MarketTerms.from_market(m.raw) for t, m in portfolio.markets.items()}
        index_markets: dict[str, list[str]] = {}
        for ticker, market_terms in terms.items():
            if market_terms.index_id is not None:
                index_markets.setdefault(market_terms.index_id, []).append(ticker)
        # markets closed, determined or settled: the watch adds them, the pass skips them
        self.closed: set[str] = set()
        # the session's order group, triggered at once by a stop (runner/loop/stop.py); set by
        # the session that opened the group
        self.trigger_group: Callable[[], None] | None = None
        # the loop's orders its last stop could not prove gone (empty: proven, or no stop yet)
        self.not_proven: tuple[str, ...] = ()
        self.unlisted = ""  # why no listing proved the stop ("": one did)
        # the stop's one deadline (`trade.stop_deadline_s`), from its start: what ends the
        # session's order group after it runs under what is left (None: no stop yet)
        self.stop_deadline: Deadline | None = None
        # the parts that call back into the loop, each given what it uses (runner/loop/shared.py)
        self.market_pass = MarketPass(
            sight=sight,
            tuning=tuning,
            voice=voice,
            acting=acting,
            client=client,
            terms=terms,
            events=events or {},
            closed=self.closed,
            on_stop=self._stop_strategy,
        )
        self.watch = LoopWatch(
            sight=sight,
            tuning=tuning,
            voice=voice,
            records=records,
            acting=acting,
            client=client,
            index_markets=index_markets,
            closed=self.closed,
        )
        # a replacement whose cancels were answered after its decision asks the loop's rule
        self.executor.withheld = self.withheld
        self.ticks = 0
        # the state file's generation and the UTC day when the tick's own questions were last
        # asked, and the circuit breaker's answer then (`tick`)
        self._asked: tuple[int, str] | None = None
        self._tripped = False
        # strategy -> the resume request in the state file when it was stopped (`_watch_resumes`)
        self._resumes_seen: dict[str, str | None] = {}
        self._started = clock.monotonic()
        self._next_fill_poll = self._started + settings.fill_poll_s
        self._next_resolve = self._started
        # which market a tick visits next, and the lag figures (runner/loop/schedule.py)
        self.schedule = MarketSchedule(
            portfolio.markets, now=self._started, revisit_s=settings.max_revisit_s
        )
        # a market waiting for an exchange call's answer takes no turn until it is booked
        self.dispatch.on_busy = self.schedule.park
        self.dispatch.on_free = self.schedule.unpark
        # ticker -> the position view a held market's last visit saw: a new one (a fill, an
        # order) is news for its risk exits
        self._seen_views: dict[str, PositionView] = {}
        # the markets no order was sent for yet (`_unquoted`), and how many were sent for when
        # it was last brought up to date
        self._not_quoted: set[str] = set(portfolio.markets)
        self._quoted_seen = 0
        figures = RunFigures(
            counters=self.executor.counters,
            dispatch=self.dispatch,
            watch=self.watch,
            schedule=self.schedule,
            ticks=lambda: self.ticks,
            stopped=self.stopped_strategies,
        )
        self.heartbeat = Heartbeat(
            sight=sight,
            tuning=tuning,
            voice=voice,
            records=records,
            store=records.store,
            figures=figures,
            subaccount=client.subaccount or 0,
            started=self._started,
        )
        # `kill -HUP`: each strategy's params file read again at the next tick (reload_params)
        self.reload_requested = threading.Event()
        # optional: MarketFeed does not require it, so a feed that cannot wake (recorded data
        # on a simulated clock) keeps working unchanged
        self._wait_for_events: Callable[[float], bool] | None = getattr(
            self.feed, "wait_for_events", None
        )
        # a paper loop answers its kill switch here, on each full pass while HALTED
        # (runner/paper.py `answer_kill`, paper_kill.py)
        self.on_halted: Callable[[], None] | None = None
        # what the loop listens to outside itself (the client's fill quarantine): let go once,
        # after the stop's last read of the fills, or when a loop built at start is discarded
        self.on_let_go: Callable[[], None] | None = None

    # ---------------------------------------------------------------- what the parts share

    @property
    def store(self) -> Store:
        """The state file (the trading records read from it)."""
        return self.records.store

    @property
    def settings(self) -> LoopSettings:
        return self._tuning.settings

    @settings.setter
    def settings(self, settings: LoopSettings) -> None:
        """New settings (a params reload, a backtest's heartbeat): every part reads them."""
        self._tuning.settings = settings

    @property
    def lineup(self) -> Lineup:
        """The strategies this loop runs, each with its params (runner/loop/lineup.py)."""
        return self._tuning.lineup

    def replace_member(self, member: Member) -> None:
        """A strategy of the loop with new params (a reload) or a new implementation: every part
        reads it from its next call, and its quiet markets are judged again."""
        lineup = self._tuning.lineup
        self._tuning.lineup = lineup.replaced(member)
        lineup.members[lineup.names.index(member.name)].close()  # its decide's worker
        self.market_pass.forget_quiet()

    @property
    def alerts(self) -> TradeAlerts | None:
        return self._voice.alerts

    @alerts.setter
    def alerts(self, alerts: TradeAlerts | None) -> None:
        self._voice.alerts = alerts

    @property
    def strategy_error_count(self) -> int:
        """The strategies' failed decisions of this run, every market."""
        return self.market_pass.strategy_error_count

    def toggle_pause(self) -> None:
        """SIGUSR1: pause new orders, or resume them (stop-losses always go out)."""
        self.watch.toggle_pause()

    def _stop_strategy(self, name: str, why: str) -> None:
        """A strategy stops alone, the others go on: past its daily loss limit until the UTC day
        ends (`STRATEGY_BUDGET` refuses its new orders, not its exits), or stuck or failing
        until `kalshi resume --strategy` (runner/loop/market_pass.py; its exits still go). Its
        quotes that would add are withdrawn now and on each full pass, as a blocking state's
        are (a cancel that failed is tried again)."""
        from kalshi_cli.services.loop_strategies import resume_key

        self.log.emit("strategy_stopped", {"strategy": name, "reason": why})
        summary = f"strategy {name} stopped: {why}"
        self._voice.alert("strategy_stopped", name, summary, {"strategy": name})
        self._withdraw_stopped((name,))
        self._resumes_seen[name] = self.store.events.get_kv(resume_key(name))

    def _watch_resumes(self) -> None:
        """`kalshi resume --strategy NAME` since the strategy was stopped: it is asked again."""
        from kalshi_cli.services.loop_strategies import resume_key

        for name in list(self.market_pass.stopped):
            if self.store.events.get_kv(resume_key(name)) == self._resumes_seen.get(name):
                continue
            why = self.market_pass.resume(name)
            self.log.emit("strategy_resumed", {"strategy": name, "stopped_for": why})

    def stopped_strategies(self) -> dict[str, str]:
        """The strategies stopped now, each with why: for the day by its budget, or until
        resumed (what the heartbeat tells `kalshi status`)."""
        stopped = dict(self.budgets.stopped) if self.budgets is not None else {}
        return stopped | self.market_pass.stopped

    def _stopped(self, name: str) -> bool:
        """The strategy is stopped: for the run, or for the day by its budget."""
        return name in self.market_pass.stopped or (
            self.budgets is not None and name in self.budgets.stopped
        )

    def _withdraw_stopped(self, names: Iterable[str]) -> None:
        if self.settings.dry_run:
            return
        for name in names:
            self.own.cancel_adding(f"strategy {name} stopped", lambda _: True, owner=name)

    def withheld(self, intent: Intent) -> str | None:
        """Why the loop would withdraw `intent` were it resting now (None: it would not): the
        watch's rule (its market closed or stale; a blocking state, for one that is not
        reduce-only) or, for one that is not reduce-only either, its strategy stopped
        (`_stop_strategy`). What the executor asks of an order decided earlier before it goes
        (runner/execution/execution.py `_since_decided`)."""
        why = self.watch.withheld(intent)
        if why is not None or intent.reduce_only:
            return why
        return f"strategy {intent.strategy} stopped" if self._stopped(intent.strategy) else None

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
        self.ticks += 1
        # the exchange's answers that are back, booked before anything is decided (what one
        # drain leaves, a long one, is booked after the next visit: its markets stay busy)
        self.dispatch.drain()
        if self.reload_requested.is_set():
            self.reload_params()
        changed, went_stale = self.watch.handle_events(events)
        now_m = self.clock.monotonic()
        for ticker, at in changed.items():
            self.schedule.changed(ticker, now_m if at is None else at)
        if self.portfolio.fee_changes:
            for change in self.portfolio.apply_fee_changes(self.clock.wall()):
                self.log.emit("fee_change", change.to_json())
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
        # one look at the state file for the tick's own questions (docs/trade-loop.md), asked
        # again only on a full pass or when their answers may have moved: the file changed
        # (another connection's commit, this loop's write or rollback) or the UTC day turned
        with self.records.tick(full=full):
            asking = (self.records.generation, utc_day(self.clock.wall()))
            if full or asking != self._asked:
                self._asked = asking
                self.watch.watch_state()
                if full and self.on_halted is not None and self.watch.state == "HALTED":
                    self.on_halted()
                self._tripped = self.risk.check_circuit_breaker()
                if self.market_pass.stopped:
                    self._watch_resumes()
        tripped = self._tripped
        if full:  # those stopped before: a withdrawal that failed is tried again
            self._withdraw_stopped(n for n in self.lineup.names if self._stopped(n))
        if self.budgets is not None:
            for name, why in self.budgets.check_day(self.clock.wall()):
                self._stop_strategy(name, why)
        self.watch.withdraw(tripped, full=full, went_stale=went_stale)
        self.watch.check_breaches()
        if full:
            self.market_pass.read_queue_positions()
            self.schedule.start_sweep()
        # the pause file is read once a tick, not once per market
        self.market_pass.paused = self.watch.paused
        # a tick called on its own (no budget) visits every market, whatever the write budget
        self._serve(now_m + budget_s, paced=budget_s != math.inf)
        # the orders the visits decided go out together, before anything else of the tick
        self.executor.flush()
        if self.executor.guard.safe_mode_tripped:
            # an order or a fill read of this pass tripped SAFE_MODE: its quotes go now, not
            # on the next pass
            self.executor.guard.safe_mode_tripped = False
            self.watch.watch_state()
            self.watch.withdraw(tripped, full=False, went_stale=set())
        self.heartbeat.end_of_tick(now_m)

    # ---------------------------------------------------------------- which markets

    def _serve(self, until: float, *, paced: bool = True) -> None:
        """Held positions first, whatever the budget: each whose book changed or that is due in the
        sweep gets its whole turn; each whose position view changed or whose stop-loss waits for
        its retry gets its stop-loss. Then markets from the schedule, at least one, until the
        clock reaches `until`; their orders go out as a batch once the first has waited
        `batch_wait_s`.

        The loop decides no more than the client's write budget can send soon: more than
        `WRITE_AHEAD_S` behind, no market takes a turn (held positions take their stop-loss alone);
        with less than `WRITES_SHORT_S` in hand, markets not yet quoted go first. A tick that is not
        `paced` (`--once`, a backtest) visits every market."""
        schedule = self.schedule
        dispatch = self.dispatch
        behind = dispatch.writes_behind_s() if paced else -math.inf
        first = self._unquoted() if behind > -WRITES_SHORT_S else frozenset()
        exits_only = behind > WRITE_AHEAD_S or schedule.waiting_first(first)
        for m in self.portfolio.open_positions():
            ticker = m.ticker
            if ticker not in schedule.visited or dispatch.busy(ticker):
                continue
            has_turn = ticker in schedule.news or schedule.in_sweep(ticker)
            if has_turn and not exits_only:
                self._visit(ticker)
            elif (
                has_turn
                or self.portfolio.view(ticker) is not self._seen_views.get(ticker)
                or self.market_pass.stop_waiting(ticker)  # a close that did not fill: its retry
            ):
                self.market_pass.exit(ticker)
                self._seen_views[ticker] = self.portfolio.view(ticker)
        if behind > WRITE_AHEAD_S:
            return
        while True:
            turn = schedule.next_market(self.clock.monotonic(), first)
            if turn is None:
                return
            self._visit(turn)
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

    def _visit(self, ticker: str) -> None:
        self.market_pass.trade(ticker)
        self.schedule.visit(ticker, self.clock.monotonic())
        if self.portfolio.position(ticker) != 0:
            self._seen_views[ticker] = self.portfolio.view(ticker)
        else:
            self._seen_views.pop(ticker, None)

    # ---------------------------------------------------------------- params reload

    def reload_params(self) -> bool:
        """Read each strategy's params file again, if it has one (`kill -HUP`, between two
        ticks), each on its own: the fields a strategy marks `Updatable` change together, and
        only if its whole file validates and no other field changed; otherwise its running
        params stay and the refusal is logged and alerted, and the other strategies' reloads go
        on. True when any params changed."""
        self.reload_requested.clear()
        changed_any = False
        for member in self.lineup:
            if member.params_file is not None:
                changed_any = self._reload(member, member.params_file) or changed_any
        return changed_any

    def _reload(self, member: Member, path: Path) -> bool:
        from dataclasses import replace

        from kalshi_cli.config import read_params_file
        from kalshi_cli.strategy_api import params_dict, reload_params
        from kalshi_cli.vocabulary.errors import KalshiError

        name = member.name
        try:
            raw = read_params_file(path)
            fresh, changed = reload_params(member.params, raw, where=f"strategies.{name}")
        except KalshiError as exc:
            self._refuse_reload(member, exc.message)
            return False
        if not changed:
            self.log.emit("params_reloaded", {"strategy": name, "file": str(path), "changed": {}})
            return False
        self.replace_member(replace(member, params=fresh))
        now = params_dict(fresh)
        self.log.emit(
            "params_reloaded",
            {"strategy": name, "file": str(path), "changed": {k: now[k] for k in changed}},
        )
        return True

    def _refuse_reload(self, member: Member, why: str) -> None:
        detail = {"strategy": member.name, "file": str(member.params_file), "error": why}
        self.log.emit("params_reload_refused", detail)
        self._voice.alert(
            "params_reload_refused",
            f"{member.name}:{member.params_file}",
            f"{member.name}: params reload refused, the running params stay: {why}",
            detail,
        )

    # ---------------------------------------------------------------- what it says of itself

    def summary(self) -> Summary:
        return self.heartbeat.summary()

    # ---------------------------------------------------------------- the end

    def let_go(self) -> None:
        """Stop listening outside the loop (`on_let_go`), once."""
        for member in self.lineup:
            member.close()
        if self.on_let_go is not None:
            let_go, self.on_let_go = self.on_let_go, None
            let_go()

    def own_resting(self) -> list[OpenOrder]:
        """The resting orders this loop placed: those its shutdown cancels (not one by hand)."""
        return self.own.resting()

    def shutdown(self, *, cancel_resting: bool, abandon: threading.Event | None = None) -> Summary:
        """Withdraw the orders this loop placed (never orders placed by hand) and prove it,
        all within `trade.stop_deadline_s` (runner/loop/stop.py), read the fills once more,
        write a last heartbeat, and return the final summary, which names the orders not proven
        gone. Once `abandon` is set (a second Ctrl-C: the person will not wait for an exchange that
        answers slowly), what is left is given up and logged, and fills are not read again."""
        from kalshi_cli.runner.loop.stop import not_proven_text, withdraw_at_stop

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
            if cancel_resting and not self.settings.dry_run:
                proof = withdraw_at_stop(self, deadline, abandon)
                self.not_proven, abandoned = proof.left, proof.abandoned
                failed = failed or proof.failed
                self.unlisted = proof.unlisted
                if not proof.proven and not abandoned:
                    self._voice.alert(
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
        summary = replace(self.summary(), not_proven=self.not_proven, unlisted=self.unlisted)
        self.log.emit("stopped", summary.to_json())
        if failed is not None:
            raise failed
        return summary
