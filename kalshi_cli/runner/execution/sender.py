"""One order to the exchange and its answer recorded, a part of the trade loop's `LoopExecutor`
(runner/execution/execution.py), with what every send shares (the outbox's batches too,
runner/execution/outbox.py): the request built for an intent (in the session's order group), an
accepted order counted, remembered for its fills and resting in the view, an order the state
file could not record made known to the loop, and the exchange's refusal for a triggered
order group turned into a halt.

`submit` is `OrderService.submit` (intent written, request sent once, answer written) with the
loop's side of each outcome: an answer lost leaves the order unknown (never sent again, looked
up: runner/execution/unknown_orders.py), a refusal or transport failure is reported to the API error
guard, a fill at once is read before the next decision in the market.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.risk.state import halt
from kalshi_cli.runner.books.portfolio import OpenOrder, open_order
from kalshi_cli.runner.execution.dispatch import CallAnswer, Dispatch
from kalshi_cli.runner.execution.fills import Sent
from kalshi_cli.runner.execution.order_group import GROUP_TRIGGERED
from kalshi_cli.store.errors import OrderNotRecorded
from kalshi_cli.vocabulary.errors import (
    ApiError,
    OrderOutcomeUnknown,
    TradingHaltedError,
    TransportError,
)
from kalshi_cli.vocabulary.models import ZERO, to_book
from kalshi_cli.vocabulary.order_terms import owned_client_order_id

if TYPE_CHECKING:
    from kalshi_cli.client.requests import CreateOrder
    from kalshi_cli.risk import RiskEngine
    from kalshi_cli.runner.books.eventlog import EventLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.books.records import LoopTradingRecords
    from kalshi_cli.runner.execution.balance_hold import BalanceHold
    from kalshi_cli.runner.execution.call_guard import CallGuard, Counters
    from kalshi_cli.runner.execution.fills import FillSync, SentOrders
    from kalshi_cli.runner.execution.unknown_orders import UnknownOrders
    from kalshi_cli.services.orders import OrderService, SentOrder
    from kalshi_cli.strategies import Intent
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.decisions import PositionView


class Sender:
    def __init__(
        self,
        *,
        orders: OrderService,
        risk: RiskEngine,
        records: LoopTradingRecords,
        portfolio: Portfolio,
        log: EventLog,
        clock: Clock,
        guard: CallGuard,
        counters: Counters,
        unknown: UnknownOrders,
        fills: FillSync,
        fills_due: threading.Event,
        sent: SentOrders,
        balance_hold: BalanceHold,
        dispatch: Dispatch,
    ) -> None:
        self.orders = orders
        self._risk = risk
        self._records = records
        self._portfolio = portfolio
        self._log = log
        self._clock = clock
        self._guard = guard
        self._counters = counters
        self._unknown = unknown
        self._fills = fills
        self._fills_due = fills_due
        self._sent = sent
        self.balance_hold = balance_hold
        # the session's order group (runner/execution/order_group.py): every order goes into it
        self.order_group_id: str | None = None
        self.dispatch = dispatch
        # the orders sent whose answers are not booked yet: the risk engine counts them
        self.in_flight = InFlight()

    def submit(
        self,
        intent: Intent,
        *,
        slot_taken: bool = False,
        then: Callable[[Decimal | None], None] | None = None,
    ) -> None:
        """Record the intent and send it once, off the deciding path (runner/execution/dispatch.py);
        `then` is handed the count filled at once, or None when it did not go out, once the
        answer is booked. `slot_taken`: its order-rate slot was taken when it was queued."""
        create = self.create(intent)
        if not slot_taken:
            self._risk.record_sent()
        try:
            self.orders.record_intent(
                create,
                side=intent.side,
                action=intent.action,
                strategy=intent.strategy,
                model_fair=intent.model_fair,
                reason=intent.reason,
            )
        except TradingHaltedError as exc:
            # HALTED (or SAFE_MODE) written after the risk engine read the state: the intent
            # was refused in the transaction that would have recorded it, and nothing was sent
            self._log.emit("intent_dropped", {"ticker": intent.ticker, "reason": exc.message})
            if then is not None:
                then(None)
            return
        sent_at = self._clock.monotonic()
        self.in_flight.add(create.client_order_id, intent, self._portfolio.view(intent.ticker))

        def booked(answer: CallAnswer[SentOrder]) -> None:
            self.in_flight.remove(create.client_order_id)
            filled = self._book(intent, create, sent_at, answer.get())
            if then is not None:
                then(filled)

        urgency = self.dispatch.urgency((intent.ticker,), reduce_only=intent.reduce_only)
        self.dispatch.send((intent.ticker,), lambda: self.orders.send(create), booked, urgency)

    def _book(
        self, intent: Intent, create: CreateOrder, sent_at: float, sent: SentOrder
    ) -> Decimal | None:
        """One order's answer booked: the count filled at once, or None when it did not go
        out (refused, or lost and not found)."""
        try:
            outcome = self.orders.book_sent(create, sent)
        except OrderOutcomeUnknown as exc:
            self._guard.failed(exc, sent_at)
            exposure = added_exposure(self._portfolio.view(intent.ticker), intent)
            self._unknown.lost(create.client_order_id, intent.ticker, exposure)
            self._fills_due.set()
            self._log.emit(
                "order_unknown",
                {
                    **intent_fields(intent),
                    "client_order_id": create.client_order_id,
                    "error": exc.message,
                },
            )
            return None
        except OrderNotRecorded as exc:
            self.not_recorded(intent, exc)
            raise
        except (ApiError, TransportError) as exc:
            if self.order_group_id and isinstance(exc, ApiError) and exc.code == GROUP_TRIGGERED:
                self.group_triggered(intent, exc.message)
                return None
            self._guard.failed(exc, sent_at)
            self.balance_hold.refused(exc.code if isinstance(exc, ApiError) else None)
            self._log.emit("order_rejected", {**intent_fields(intent), "error": exc.message})
            return None
        self._guard.ok(sent_at)
        self.placed(
            intent,
            create,
            sent_at,
            order_id=outcome.order_id,
            status=outcome.status,
            fill_count=outcome.fill_count,
            remaining=outcome.remaining_count,
        )
        if outcome.fill_count > 0:
            # the position must be known before the next decision in this market
            self._fills.read_for((intent.ticker,))
        return outcome.fill_count

    def group_triggered(self, intent: Intent, error: str) -> None:
        """The exchange refused the order because the session's order group is triggered (its
        contracts limit hit, or a kill switch): stop placing, as the kill switch would."""
        reason = f"the exchange triggered order group {self.order_group_id}"
        self._log.emit(
            "order_group_triggered",
            {**intent_fields(intent), "order_group_id": self.order_group_id, "error": error},
        )
        halt(self._records, reason=reason, source="order group")

    def create(self, intent: Intent) -> CreateOrder:
        """The request for an intent, with a fresh client order id naming its strategy."""
        from kalshi_cli.client.requests import CreateOrder

        book = to_book(intent.side, intent.action, intent.price)
        return CreateOrder(
            ticker=intent.ticker,
            book_side=book.book_side,
            price=book.yes_price,
            count=intent.count,
            time_in_force=intent.time_in_force,
            post_only=intent.post_only,
            reduce_only=intent.reduce_only,
            order_group_id=self.order_group_id,
            client_order_id=owned_client_order_id(intent.strategy),
        )

    def placed(
        self,
        intent: Intent,
        create: CreateOrder,
        sent_at: float,  # monotonic
        *,
        order_id: str | None,
        status: str,
        fill_count: Decimal,
        remaining: Decimal,
    ) -> None:
        """An order the exchange accepted (and the state file recorded): counted, remembered
        for its fills' latency and slippage, logged, and resting in the view if it rests."""
        self._counters.orders += 1
        if order_id:
            self._sent.remember(
                order_id,
                Sent(
                    create.client_order_id,
                    intent.side,
                    intent.action,
                    intent.price,
                    intent.model_fair,
                    intent.strategy,
                    sent_at,
                ),
            )
        self._log.emit(
            "order_placed",
            {
                **intent_fields(intent),
                "client_order_id": create.client_order_id,
                "order_id": order_id,
                "status": status,
                "filled": fill_count,
                "remaining": remaining,
            },
        )
        if order_id and remaining > 0 and status == "resting":
            self._portfolio.add_order(
                OpenOrder(
                    order_id,
                    create.client_order_id,
                    intent.ticker,
                    intent.side,
                    intent.action,
                    intent.price,
                    remaining,
                    intent.strategy,
                )
            )

    def not_recorded(self, intent: Intent, exc: OrderNotRecorded) -> None:
        """The order reached the exchange (or may have) and the state file could not take its
        answer: the loop still knows of it, so the stop that follows withdraws it
        (runner/lifecycle/state_fault.py)."""
        if exc.order_id is None:
            exposure = added_exposure(self._portfolio.view(intent.ticker), intent)
            self._unknown.lost(exc.client_order_id, intent.ticker, exposure)
            return
        if exc.remaining > 0:
            book = to_book(intent.side, intent.action, intent.price)
            self._portfolio.add_order(
                open_order(
                    order_id=exc.order_id,
                    client_order_id=exc.client_order_id,
                    ticker=intent.ticker,
                    book_side=book.book_side,
                    yes_price=book.yes_price,
                    side=intent.side,
                    remaining=exc.remaining,
                    strategy=intent.strategy,
                )
            )
        self._sent.remember(
            exc.order_id,
            Sent(
                exc.client_order_id,
                intent.side,
                intent.action,
                intent.price,
                intent.model_fair,
                intent.strategy,
                self._clock.monotonic(),
            ),
        )


class InFlight:
    """Orders sent whose answers are not booked yet (runner/execution/dispatch.py), by client order
    id, and the exposure they add: the risk engine counts them as resting until they are."""

    def __init__(self) -> None:
        self.intents: dict[str, Intent] = {}
        self._added: dict[str, Decimal] = {}
        self.exposure = ZERO

    def add(self, client_order_id: str, intent: Intent, view: PositionView) -> None:
        added = added_exposure(view, intent)
        self.intents[client_order_id] = intent
        self._added[client_order_id] = added
        self.exposure += added

    def remove(self, client_order_id: str) -> None:
        self.intents.pop(client_order_id, None)
        self.exposure -= self._added.pop(client_order_id, ZERO)


def added_exposure(view: PositionView, intent: Intent) -> Decimal:
    """What the intent adds to the total exposure if it rests beside the market's `view`."""
    return view.after(intent).exposure() - view.exposure()


def intent_fields(intent: Intent) -> dict[str, Any]:
    return {
        "ticker": intent.ticker,
        "side": intent.side,
        "action": intent.action,
        "price": intent.price,
        "count": intent.count,
        "model_fair": intent.model_fair,
        "edge": intent.edge_after_fees.quantize(Decimal("0.0001")),
        "tif": intent.time_in_force,
        "reduce_only": intent.reduce_only,
        "strategy": intent.strategy,
        "reason": intent.reason,
    }
