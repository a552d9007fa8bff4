"""From a strategy's decision to the exchange, and fills back into the loop's view: the path of a
single order. The `LoopExecutor` decides (the hold on a market with an order of unknown outcome,
the order-rate slot, the circuit breaker's last look; the risk verdict is the loop's pre-trade
account's, services/pretrade/loop.py, handed the executor's view) and has a component for the
rest (`guard`, `unknown`, `fills`, `cancels`, `amends`, `outbox`, `answers`). docs/trade-loop.md
"From a decision to the wire, and fills back". It is given more than six collaborators because it
decides with three (the risk engine, the pre-trade account, the strategies' budgets) and hands
on to each component of the chain. A set of legs that only pay together is
runner/execution/leg_sets.py's, each of its orders sent through `execute_one`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.risk.rules import Code
from kalshi_cli.runner.execution.answers import intent_fields
from kalshi_cli.services.pretrade.loop import LoopView
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.units import ZERO

if TYPE_CHECKING:
    from kalshi_cli.risk.engine import RiskEngine
    from kalshi_cli.risk.rules import Verdict
    from kalshi_cli.runner.execution.amends import Amends
    from kalshi_cli.runner.execution.answers import AnswerBook
    from kalshi_cli.runner.execution.cancels import Cancels
    from kalshi_cli.runner.execution.fills import FillSync
    from kalshi_cli.runner.execution.outbox import Outbox
    from kalshi_cli.runner.execution.shared import Holds, Report
    from kalshi_cli.services.pretrade.budgets import Budgets
    from kalshi_cli.services.pretrade.loop import LoopAccount
    from kalshi_cli.strategy_api.snapshot import EventLimit


@dataclass(frozen=True)
class Changes:
    """What changes an order already resting, the executor's two components for it: its cancels
    and its amends (a record, as runner/execution/shared.py's are)."""

    cancels: Cancels
    amends: Amends


class LoopExecutor:
    def __init__(
        self,
        *,
        risk: RiskEngine,
        report: Report,
        holds: Holds,
        fills: FillSync,
        changes: Changes,
        outbox: Outbox,
        threaded: bool,
        account: LoopAccount,
        budgets: Budgets | None = None,
        room: Callable[[Intent], Decimal] | None = None,
        withheld: Callable[[Intent], str | None] = lambda intent: None,
        dry_run: bool = False,
    ) -> None:
        """The executor's components come built (runner/assembly.py `build_executor`), each with
        what it uses; the executor decides and hands on to them."""
        self._threaded = threaded  # exchange calls go to workers, off the deciding path
        self._risk = risk
        self._log = report.log
        self.dry_run = dry_run
        self.counters = report.counters
        # the strategies' own budgets (None: no strategy has one): the batch's last look
        self.budgets = budgets
        # what judges each order, handed the executor's view (services/pretrade/loop.py)
        self._account = account
        # what an order of a strategy's may take of the account's position now
        # (runner/execution/own_orders.py `OwnOrders.room`)
        self.room: Callable[[Intent], Decimal] = room or (lambda intent: intent.count)
        # why the loop would withdraw an order were it resting now (None: it would not), by the
        # rules it withdraws its quotes by (runner/loop/strategy_stops.py `withheld_by`)
        self.withheld = withheld
        self.guard = holds.guard
        self.balance_hold = holds.balance_hold
        self.unknown_orders = holds.unknown
        self.fills = fills
        self.sent = fills.sent
        self.cancels = changes.cancels
        self.amends = changes.amends
        self.outbox = outbox
        # set as the loop's stop begins: an order decided before it (a replacement whose
        # cancels the stop books) is dropped, never sent by a loop that is withdrawing its
        # orders; a set's next leg or sale back waits for the stop (runner/execution/leg_sets.py)
        self.stopping = False

    # ---------------------------------------------------------------- intents

    def execute(
        self,
        intent: Intent,
        *,
        last_data_at: float | None,
        batch: bool = False,
    ) -> bool:
        """Evaluate and, when allowed, send (or hold in the tick's batch); True when an order went
        out, waits in the batch, or is on its way. A reducing order over the size limit goes in
        pieces (`RiskEngine.split`), each once the one before is booked, until one does not fill
        in full. `batch`: an adding order waits for `flush`; a reducing one goes at once."""
        # priced at its market's own fee before anything reads its edge (the log, the risk rules)
        pieces = list(self._risk.split(self._risk.priced(intent)))
        went: list[bool] = []  # each piece's, as its answer is booked

        def next_piece(n: int) -> None:
            def after(filled: Decimal | None) -> None:
                went.append(filled is not None)
                if filled is not None and filled >= pieces[n].count and n + 1 < len(pieces):
                    next_piece(n + 1)

            self.execute_one(pieces[n], last_data_at=last_data_at, batch=batch, then=after)

        next_piece(0)
        return any(went) or not went

    def execute_one(
        self,
        intent: Intent,
        *,
        last_data_at: float | None,
        batch: bool = False,
        then: Callable[[Decimal | None], None] = lambda filled: None,
        refused: Callable[[list[Verdict]], None] = lambda denials: None,
    ) -> None:
        """What `execute` does for one order, the path every order takes (a set's legs too:
        runner/execution/leg_sets.py); `then` is handed the count filled at once (all of it in a
        dry run, none while it waits in the batch), or None when nothing went out (or its answer
        was lost), once that is known; `refused` is handed the risk engine's denials first, when
        it refuses the order."""
        log = self._log
        log.emit("signal", intent_fields(intent) if log.reads("signal") else None)
        held = self.held(intent)
        if held is not None:
            self._log.emit("intent_held", {"ticker": intent.ticker, "reason": held})
            return then(None)
        denials = self.denials(intent, last_data_at=last_data_at)
        if denials:
            refused(denials)
            return then(None)
        if self.dry_run:
            self._log.emit("dry_run_order", intent_fields(intent))
            return then(intent.count)
        if not intent.replaces:
            return self._send(intent, batch=batch, then=then)
        if self._amended(intent, then):
            return None
        shortfalls = self.cancels.shortfalls
        # with workers the replacement goes once the cancels' answers are booked, outside the
        # visit that decided it: it goes at once, keeping its market busy, never left queued
        # for a batch while its market is free to be decided on again
        batch = batch and not self._threaded
        # until the cancels are answered it counts as resting, the orders it replaces too, and
        # its slot of the order-rate cap is taken now, as an order's that goes at once: with
        # workers the cancels are answered after other decisions, which must count it
        # what it adds on its shard beyond what the orders it replaces hold is spent there
        # until the cancels are answered, so the decisions meanwhile count it as an amend's is
        adding = self._account.replacing(intent, self.outbox.queued_view)
        answered = self.outbox.replacing_until(intent)
        slot = self._risk.record_sent()

        def replaced(ok: bool, freed: Decimal, sent_at: float) -> None:
            # the cancels are booked, and what they gave back is spendable on the shard again,
            # whether the replacement goes or not (which, sent, spends its whole cost): the
            # replacement goes only if every replaced order went, and the loop has not withdrawn
            # its market's quotes since it was decided
            answered()
            adding()
            self._account.freed(intent.ticker, freed, sent_at)
            why = self._since_decided(intent) if ok else "a replaced order could not be cancelled"
            if why is not None:
                self._risk.give_back(slot)
                self._log.emit("intent_dropped", {"ticker": intent.ticker, "reason": why})
                return then(None)
            going = self._within_own(intent)
            if going is None:
                self._risk.give_back(slot)
                return then(None)
            if self.cancels.shortfalls == shortfalls:
                return self._send(going, batch=batch, then=then, slot=slot)

            # a replaced order filled before its cancel landed, and the view has not seen
            # that fill: read it, and ask the risk engine again with it counted (and its own
            # slot not: it takes one afresh if allowed); its shard's tally holds what the
            # fill took, and has back what the cancel gave back of the rest
            def read(_: int) -> None:
                self._risk.give_back(slot)
                if self.guard.backing_off or self.denials(going, last_data_at=last_data_at):
                    return then(None)
                self._send(going, batch=batch, then=then)

            self.fills.read_for((intent.ticker,), then=read)

        self.cancels.send_cancels(intent.ticker, intent.replaces, "replaced", replaced)

    def _since_decided(self, intent: Intent) -> str | None:
        """Why a replacement whose cancels are answered may no longer go (None: it may). With
        workers the answers come after the visit that decided it, and the loop may meanwhile have
        withdrawn its market's quotes or begun backing off; so the loop's rule for a resting
        quote is asked of it (`withheld`). Without workers there is nothing to ask again."""
        if not self._threaded:
            return None
        if self.guard.backing_off:
            return "backing off after API errors"
        why = self.withheld(intent)
        return None if why is None else f"{why} while its cancels were out"

    def _within_own(self, intent: Intent) -> Intent | None:
        """A replacement, its cancels booked, cut to what its strategy may take now (`room`;
        None: nothing). It was decided with the orders it replaces gone, and allowed what
        they took of the strategy's own part; should they fill before their cancels landed
        (a fill told meanwhile, or a cancel that found less resting), that part is smaller
        by as much, and the whole replacement would sell the contracts of another strategy
        or of a person."""
        count = self.room(intent)
        if count == intent.count:
            return intent
        self._log.emit(
            "exit_cut" if intent.reduce_only else "order_cut",
            {
                "ticker": intent.ticker,
                "strategy": intent.strategy,
                "asked": intent.count,
                "count": count,
            },
        )
        if count > 0:
            return replace(intent, count=count)
        self._log.emit(
            "intent_dropped",
            {"ticker": intent.ticker, "reason": "the orders it replaced filled before it went"},
        )
        return None

    def held(self, intent: Intent) -> str | None:
        """Why the intent waits without being asked of the risk engine (None: it does not); a
        set's legs are each asked before the first goes (runner/execution/leg_sets.py)."""
        if self.guard.backing_off:
            # an earlier call of this same pass failed: the rest of the pass waits it out too
            return "backing off after API errors"
        paused = self.balance_hold.shard_paused(intent.ticker)
        if paused is not None:
            # the exchange refuses every order there, an exit too (runner/execution/balance_hold.py)
            return f"shard {paused} does not trade now (its status)"
        if intent.reduce_only:
            return None
        if self.unknown_orders.holds(intent.ticker):
            return "an order of unknown outcome in this market"
        return self.balance_hold.why(intent.ticker)

    def _amended(self, intent: Intent, then: Callable[[Decimal | None], None]) -> bool:
        """A requote that amends the one order it replaces in place, when that order can be
        (runner/execution/amends.py): one call instead of a cancel, its answer and a new
        order. False when it cannot: the requote goes as cancels, then a new order."""
        order = self.amends.amendable(intent)
        if order is None:
            return False
        if self.stopping:
            self._log.emit(
                "intent_dropped", {"ticker": intent.ticker, "reason": "the loop is stopping"}
            )
            then(None)
            return True
        # with workers the amend is answered after other decisions, which must count the intent
        # beside its order until then; without, its answer is booked before anything else is
        # decided, and nothing would read it there
        beside = self.outbox.replacing_until if self._threaded else _beside_nothing

        def taken() -> None:
            # as it goes: its slot of the order-rate cap, and what it commits on its shard
            # beyond what the order held at its old terms (read while it rests so)
            self._risk.record_sent()
            self._account.sent(intent, self.outbox.queued_view)

        return self.amends.submit(intent, order, taken=taken, beside=beside, then=then)

    def _send(
        self,
        intent: Intent,
        *,
        batch: bool,
        then: Callable[[Decimal | None], None],
        slot: float | None = None,
    ) -> None:
        """An allowed order on its way; `slot`: its slot of the order-rate cap, when taken as
        it was allowed (a replacement's, before its cancels)."""
        if self.stopping:
            if slot is not None:
                self._risk.give_back(slot)
            self._log.emit(
                "intent_dropped", {"ticker": intent.ticker, "reason": "the loop is stopping"}
            )
            return then(None)
        if slot is None:
            # its slot of the order-rate cap is taken now, so the decisions after it count it
            self._risk.record_sent()
        # what it may commit on its shard is spent there until a balance read shows it
        self._account.sent(intent, self.outbox.queued_view)
        if not self.outbox.send(intent, batch=batch, then=then):
            return
        if len(self.outbox.queued) >= self.outbox.batch_size():
            self.flush()
        then(ZERO)

    def hold_apart(self, intent: Intent) -> Callable[[], None]:
        """A leg of a set allowed and not sent yet (runner/execution/leg_sets.py): until the
        function returned is called it counts as resting (`Outbox.replacing_until`) and what it
        would commit on its shard is spent there (`LoopAccount.held_apart`), so the legs after
        it are judged with it counted, and no decision meanwhile takes what it was judged
        with."""
        given_back = self._account.held_apart(intent, self.outbox.queued_view)
        answered = self.outbox.replacing_until(intent)

        def release() -> None:
            answered()
            given_back()

        return release

    def flush(self) -> None:
        """Send what waits in the tick's batch (runner/execution/outbox.py), unless a loss
        realized since they were allowed (a stop-loss of this pass, a fill read) tripped the
        daily circuit breaker: none of them would be allowed now, so none goes; or carried a
        strategy to its daily loss limit: its own orders do not go."""
        if self.outbox.queued and self._risk.check_circuit_breaker():
            self.outbox.drop("the daily circuit breaker tripped")
        budgets = self.budgets
        if self.outbox.queued and budgets is not None:
            self.outbox.drop(
                "its strategy reached its daily loss limit",
                lambda intent: budgets.why_stopped(intent.strategy) is not None,
            )
        self.outbox.flush()

    def denials(self, intent: Intent, *, last_data_at: float | None) -> list[Verdict]:
        """The pre-trade account's denials of an order about to be sent (empty: it may go), over
        the executor's view: the orders waiting in the tick's batch counted as resting (their
        market's view, the account's exposure), and in the exposure the orders of unknown
        outcome too (they may rest). A set's legs are judged together by it before the first
        goes."""
        outbox = self.outbox
        seen = LoopView(outbox.queued_view, outbox.total_exposure(), self._pending, last_data_at)
        denials = self._account.judge(intent, seen)
        if denials:
            self.counters.denied += 1
            if not intent.reduce_only and any(v.code is Code.SHARD_BALANCE for v in denials):
                self.balance_hold.denied(intent.ticker)
        return denials

    def event_limits(self, strategy: str, ticker: str) -> tuple[EventLimit, ...]:
        """The limits on the loss of the market's event that `strategy`'s orders are held to,
        each with what its book holds in the event now (the pre-trade account's
        `event_limits`), over the executor's view. What a strategy sizes an order to (the
        arbitrage's sets)."""
        return self._account.event_limits(strategy, ticker, self.outbox.queued_view, self._pending)

    def _pending(self) -> list[Intent]:
        """The strategies' orders on their way and those of unknown outcome (they may rest)."""
        return [*self.outbox.pending(), *self.unknown_orders.intents()]

    # ---------------------------------------------------------------- the executor's own state

    @property
    def answers(self) -> AnswerBook:
        """Where an order's answer is booked (runner/execution/answers.py): the calls still
        out, and the session's order group."""
        return self.outbox.answers

    @property
    def fills_due(self) -> bool:
        return self.fills.due.is_set()

    @fills_due.setter
    def fills_due(self, due: bool) -> None:
        if due:
            self.fills.due.set()
        else:
            self.fills.due.clear()


def _answered() -> None:
    return None


def _beside_nothing(intent: Intent) -> Callable[[], None]:
    """`Outbox.replacing_until` for a call answered before the next decision: nothing to count."""
    return _answered
