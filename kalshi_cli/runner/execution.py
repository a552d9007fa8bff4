"""From a strategy's decision to the exchange, and fills back into the loop's view. The `Executor`
decides (the risk verdict, the hold on a market with an order of unknown outcome, a group's
legs) and has a part for each of the rest (`guard`, `unknown`, `fills`, `cancels`, `sender`,
`outbox`), each a plain object with its own state built here; the methods that only hand on to
a part are its face to the loop. See docs/trade-loop.md "From a decision to the wire, and fills
back" and "Where the code lives".
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.runner.balance_hold import BalanceHold
from kalshi_cli.runner.call_guard import CallGuard, Counters
from kalshi_cli.runner.cancels import Cancels
from kalshi_cli.runner.fills import FillSync, SentOrders
from kalshi_cli.runner.outbox import Outbox
from kalshi_cli.runner.sender import Sender, intent_fields
from kalshi_cli.runner.unknown_orders import UnknownOrders
from kalshi_cli.strategies import Intent

if TYPE_CHECKING:
    from kalshi_cli.risk import RiskEngine
    from kalshi_cli.risk.budget import Owned
    from kalshi_cli.runner.budgets import Budgets
    from kalshi_cli.runner.eventlog import EventLog
    from kalshi_cli.runner.portfolio import Portfolio
    from kalshi_cli.runner.records import LoopTradingRecords
    from kalshi_cli.services.orders import OrderClient, OrderService
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock


class Executor:
    def __init__(
        self,
        *,
        client: OrderClient,
        store: Store,
        orders: OrderService,
        risk: RiskEngine,
        records: LoopTradingRecords,
        portfolio: Portfolio,
        log: EventLog,
        clock: Clock,
        dry_run: bool = False,
    ) -> None:
        self.orders = orders
        self._risk = risk
        self._portfolio = portfolio
        self._log = log
        self.dry_run = dry_run
        self.counters = Counters()
        # the strategies' own budgets (None: no strategy has one); set by the loop
        self.budgets: Budgets | None = None
        self.guard = CallGuard(risk=risk, clock=clock, log=log, counters=self.counters)
        self._fills_due = threading.Event()
        self.balance_hold = BalanceHold(clock=clock, counters=self.counters, log=log)
        self.unknown_orders = UnknownOrders(
            client=client,
            store=store,
            portfolio=portfolio,
            log=log,
            clock=clock,
            guard=self.guard,
            fills_due=self._fills_due,
        )
        self.sent = SentOrders()
        self.fills = FillSync(
            client=client,
            store=store,
            records=records,
            portfolio=portfolio,
            log=log,
            clock=clock,
            guard=self.guard,
            counters=self.counters,
            unknown=self.unknown_orders,
            sent=self.sent,
            due=self._fills_due,
        )
        self.cancels = Cancels(
            client=client,
            store=store,
            portfolio=portfolio,
            log=log,
            guard=self.guard,
            counters=self.counters,
            fills_due=self._fills_due,
            dry_run=dry_run,
        )
        self.sender = Sender(
            orders=orders,
            risk=risk,
            records=records,
            portfolio=portfolio,
            log=log,
            clock=clock,
            guard=self.guard,
            counters=self.counters,
            unknown=self.unknown_orders,
            fills=self.fills,
            fills_due=self._fills_due,
            sent=self.sent,
            balance_hold=self.balance_hold,
        )
        self.outbox = Outbox(
            client=client,
            store=store,
            orders=orders,
            risk=risk,
            portfolio=portfolio,
            log=log,
            clock=clock,
            guard=self.guard,
            unknown=self.unknown_orders,
            fills=self.fills,
            fills_due=self._fills_due,
            sender=self.sender,
        )

    # ---------------------------------------------------------------- intents

    def execute(
        self,
        intent: Intent,
        *,
        last_data_at: float | None,
        in_sync: bool,
        batch: bool = False,
    ) -> bool:
        """Evaluate and, when allowed, send; True when an order went out (or would have, or
        waits in the tick's batch). A reducing order larger than the order-size limit goes out
        in pieces (`RiskEngine.split`), each evaluated and sent in turn, until one does not
        fill in full: the bid it sold into is gone, and the pieces after it would only be
        killed, each a slot of the rate cap. `batch`: an order that adds to a position waits
        for `flush` with the tick's others (runner/outbox.py); one that reduces goes at once."""
        sent = False
        for piece in self._risk.split(intent):
            filled = self._execute(piece, last_data_at=last_data_at, in_sync=in_sync, batch=batch)
            if filled is None:
                return sent
            sent = True
            if filled < piece.count:
                break
        return sent

    def _execute(
        self, intent: Intent, *, last_data_at: float | None, in_sync: bool, batch: bool = False
    ) -> Decimal | None:
        """What `execute` does; the count filled at once (all of it in a dry run), or None
        when nothing went out."""
        self._log.emit("signal", intent_fields(intent))
        if self.guard.backing_off:
            # an earlier call of this same pass failed: the rest of the pass waits it out too
            self._log.emit(
                "intent_held", {"ticker": intent.ticker, "reason": "backing off after API errors"}
            )
            return None
        if not intent.reduce_only and self.unknown_orders.holds(intent.ticker):
            self._log.emit(
                "intent_held",
                {"ticker": intent.ticker, "reason": "an order of unknown outcome in this market"},
            )
            return None
        if not intent.reduce_only and self.balance_hold.holds():
            self._log.emit(
                "intent_held",
                {"ticker": intent.ticker, "reason": "the exchange refused a buy for balance"},
            )
            return None
        if self._denied(intent, last_data_at=last_data_at, in_sync=in_sync):
            return None
        if self.dry_run:
            self._log.emit("dry_run_order", intent_fields(intent))
            return intent.count
        if intent.replaces:
            shortfalls = self.cancels.shortfalls
            if not self.cancels.cancel_all(intent.ticker, intent.replaces, "replaced"):
                self._log.emit(
                    "intent_dropped",
                    {"ticker": intent.ticker, "reason": "a replaced order could not be cancelled"},
                )
                return None
            if self.cancels.shortfalls != shortfalls:
                # a replaced order filled before its cancel landed, and the view has not seen
                # that fill: read it, and ask the risk engine again with it counted
                self.fills.sync()
                if self.guard.backing_off or self._denied(
                    intent, last_data_at=last_data_at, in_sync=in_sync
                ):
                    return None
        size = self.outbox.batch_size() if batch and not intent.reduce_only else 1
        if size == 1:
            return self.sender.submit(intent)
        queued = self.outbox.queue(intent)
        if len(self.outbox.queued) >= size:
            self.outbox.flush()
        return queued

    def _denied(self, intent: Intent, *, last_data_at: float | None, in_sync: bool) -> bool:
        """The risk engine's verdict, the orders waiting in the tick's batch counted as
        resting (their market's view, the account's exposure), and in the exposure the orders
        of unknown outcome too (they may rest)."""
        ctx = self._risk.context(
            self.outbox.queued_view(intent.ticker),
            total_exposure=self._portfolio.total_exposure()
            + self.outbox.queued_exposure
            + self.unknown_orders.exposure(),
            last_data_at=last_data_at,
            in_sync=in_sync,
            owned=self._owned(intent, self.outbox.queued),
        )
        if self._risk.evaluate(intent, ctx):
            self.counters.denied += 1
            return True
        return False

    def execute_group(
        self, intents: list[Intent], *, last_data_at: float | None, in_sync: bool
    ) -> bool:
        """Legs that only make sense together (an arbitrage pair). Every leg must pass the risk
        engine with the legs before it counted (their order-rate slots, the exposure they add),
        or none is sent; then each leg goes out only once the one before it filled in full, so
        a leg denied, rejected or killed at the exchange never leaves its partner alone. The
        one leg risk left (the first fills, the second is then killed) is the position limit's
        and the stop-loss's."""
        if self._risk.rate_cap.count() + len(intents) > self._risk.rate_cap.limit:
            return self._drop_group(intents[0], "the order-rate cap has no room for every leg")
        added = self.unknown_orders.exposure()  # orders that may rest count as resting ones
        queued = self.outbox.queued_exposure
        for n, intent in enumerate(intents):
            if not intent.reduce_only and self.unknown_orders.holds(intent.ticker):
                return self._drop_group(intent, "an order of unknown outcome here")
            # the orders waiting in the tick's batch count, as for a single intent
            view = self.outbox.queued_view(intent.ticker)
            ctx = self._risk.context(
                view,
                total_exposure=self._portfolio.total_exposure() + queued + added,
                last_data_at=last_data_at,
                in_sync=in_sync,
                owned=self._owned(intent, [*self.outbox.queued, *intents[:n]]),
            )
            if self._risk.evaluate(intent, ctx):
                self.counters.denied += 1
                return self._drop_group(intent, "a leg was denied by the risk engine")
            added += view.after(intent).exposure() - view.exposure()
        for n, intent in enumerate(intents):
            filled = self._execute(intent, last_data_at=last_data_at, in_sync=in_sync)
            if filled is None or filled < intent.count:
                if n + 1 < len(intents):
                    self._log.emit(
                        "group_broken",
                        {
                            "ticker": intent.ticker,
                            "reason": "a leg did not fill in full; the legs after it not sent",
                        },
                    )
                return n > 0 or filled is not None
        return True

    def _owned(self, intent: Intent, queued: Sequence[Intent]) -> Owned | None:
        """What the intent's strategy owns, for its budget (None: it has none)."""
        return None if self.budgets is None else self.budgets.owned(intent, queued)

    def _drop_group(self, intent: Intent, reason: str) -> bool:
        self._log.emit("group_dropped", {"ticker": intent.ticker, "reason": reason})
        return False

    # ---------------------------------------------------------------- the executor's own state

    @property
    def fills_due(self) -> bool:
        return self._fills_due.is_set()

    @fills_due.setter
    def fills_due(self, due: bool) -> None:
        if due:
            self._fills_due.set()
        else:
            self._fills_due.clear()
