"""The orders a tick of the trade loop decided, sent together: the outbox, a part of its
`LoopExecutor` (runner/execution/execution.py).

Orders that add to a position, once the risk engine allows them, wait here until the tick's
visits end, the first has waited `batch_wait_s`, or they fill a batch; then their intents are
written in one transaction (the trading state read inside it for each), one
`POST /portfolio/events/orders/batched` carries them, each item's answer is recorded as a single
order's is (an answer lost leaves every order of it unknown, never resent), and their fills are
read once. While they wait the risk engine counts them as resting, and the circuit breaker is
checked again before they leave. Reducing orders never wait. What a batch shares with a single
order is the `Sender`'s (runner/execution/sender.py). docs/trade-loop.md "Orders sent together".
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from kalshi_cli.runner.execution.dispatch import CallAnswer
from kalshi_cli.runner.execution.order_group import GROUP_TRIGGERED
from kalshi_cli.runner.execution.sender import added_exposure, intent_fields
from kalshi_cli.services.order_batch import SendsBatches
from kalshi_cli.store.errors import OrderNotRecorded, StoreError
from kalshi_cli.vocabulary.errors import (
    ApiError,
    OrderOutcomeUnknown,
    TradingHaltedError,
    TransportError,
)
from kalshi_cli.vocabulary.models import ZERO

if TYPE_CHECKING:
    from kalshi_cli.client.batch_orders import BatchItem
    from kalshi_cli.client.requests import CreateOrder, CreateOrderResult
    from kalshi_cli.risk import RiskEngine
    from kalshi_cli.runner.books.eventlog import EventLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.call_guard import CallGuard
    from kalshi_cli.runner.execution.fills import FillSync
    from kalshi_cli.runner.execution.sender import Sender
    from kalshi_cli.runner.execution.unknown_orders import UnknownOrders
    from kalshi_cli.services.orders import OrderClient, OrderService
    from kalshi_cli.store import Store
    from kalshi_cli.strategies import Intent
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.decisions import PositionView


class Outbox:
    def __init__(
        self,
        *,
        client: OrderClient,
        store: Store,
        orders: OrderService,
        risk: RiskEngine,
        portfolio: Portfolio,
        log: EventLog,
        clock: Clock,
        guard: CallGuard,
        unknown: UnknownOrders,
        fills: FillSync,
        fills_due: threading.Event,
        sender: Sender,
    ) -> None:
        self._client = client
        self._store = store
        self._orders = orders
        self._risk = risk
        self._portfolio = portfolio
        self._log = log
        self._clock = clock
        self._guard = guard
        self._unknown = unknown
        self._fills = fills
        self._fills_due = fills_due
        self._sender = sender
        # how many orders one request may carry (1: this client sends one at a time)
        self._batch_size: int | None = None
        # orders the risk engine allowed this tick, waiting to go out together, and the
        # exposure they add
        self.queued: list[Intent] = []
        self.queued_exposure = ZERO
        self.queued_since = 0.0  # monotonic, when the oldest of them was queued

    # ---------------------------------------------------------------- waiting

    def batch_size(self) -> int:
        """How many orders one request may carry (1: this client sends one at a time); asked
        of the client once."""
        if self._batch_size is None:
            orders = self._client.orders
            size = orders.batch_size() if isinstance(orders, SendsBatches) else 1
            self._batch_size = size if isinstance(size, int) and size > 1 else 1
        return self._batch_size

    def pending(self) -> list[Intent]:
        """The orders allowed and not yet booked: queued for the batch, or sent and their
        answers not back (runner/execution/dispatch.py)."""
        in_flight = self._sender.in_flight.intents
        return [*self.queued, *in_flight.values()] if in_flight else self.queued

    @property
    def pending_exposure(self) -> Decimal:
        """The exposure the pending orders add."""
        return self.queued_exposure + self._sender.in_flight.exposure

    def queued_view(self, ticker: str) -> PositionView:
        """The market's view as if each pending order for it rested."""
        view = self._portfolio.view(ticker)
        for intent in self.pending():
            if intent.ticker == ticker:
                view = view.after(intent)
        return view

    def queue(self, intent: Intent) -> Decimal:
        """Hold an allowed order for the tick's batch; nothing of it is filled yet."""
        self.queued_exposure += added_exposure(self.queued_view(intent.ticker), intent)
        # its slot of the order-rate cap is taken now, so the decisions after it count it
        self._risk.record_sent()
        if not self.queued:
            self.queued_since = self._clock.monotonic()
        self.queued.append(intent)
        return ZERO

    def flush(self) -> None:
        """Send what waits: one request a batch, a lone order as a single one."""
        if not self.queued:
            return
        queued, self.queued = self.queued, []
        self.queued_exposure = ZERO
        if self._risk.check_circuit_breaker():
            # a loss realized since they were allowed (a stop-loss of this pass) tripped the
            # daily circuit breaker: none of them would be allowed now, so none goes
            for intent in queued:
                self._log.emit(
                    "intent_dropped",
                    {"ticker": intent.ticker, "reason": "the daily circuit breaker tripped"},
                )
            return
        size = self.batch_size()
        for start in range(0, len(queued), size):
            if self._guard.backing_off:
                # an earlier call of this tick failed: what waits is held, as a pass's rest is
                for intent in queued[start:]:
                    self._log.emit(
                        "intent_held",
                        {"ticker": intent.ticker, "reason": "backing off after API errors"},
                    )
                return
            chunk = []
            for intent in queued[start : start + size]:
                # an earlier batch of this flush may have left an order of unknown outcome in
                # its market: no new adding order goes beside it (as the executor holds one)
                if self._unknown.holds(intent.ticker):
                    self._log.emit(
                        "intent_held",
                        {
                            "ticker": intent.ticker,
                            "reason": "an order of unknown outcome in this market",
                        },
                    )
                else:
                    chunk.append(intent)
            if not chunk:
                continue
            if len(chunk) == 1:
                self._sender.submit(chunk[0], slot_taken=True)
            else:
                self._submit_batch(chunk)

    # ---------------------------------------------------------------- sending

    def _submit_batch(self, chunk: list[Intent]) -> None:
        recorded = self._record_intents(chunk)
        if not recorded:
            return
        sent_at = self._clock.monotonic()
        creates = [create for _, create in recorded]
        batches = cast(SendsBatches, self._client.orders)  # batch_size() said so
        in_flight = self._sender.in_flight
        views: dict[str, PositionView] = {}
        for intent, create in recorded:
            view = views.get(intent.ticker) or self._portfolio.view(intent.ticker)
            in_flight.add(create.client_order_id, intent, view)
            views[intent.ticker] = view.after(intent)

        def booked(answer: CallAnswer[list[BatchItem]]) -> None:
            for _, create in recorded:
                in_flight.remove(create.client_order_id)
            self._booked(recorded, sent_at, answer)

        dispatch = self._sender.dispatch
        tickers = [intent.ticker for intent, _ in recorded]
        dispatch.send(
            tickers,
            lambda: batches.batch_create_orders(creates),
            booked,
            dispatch.urgency(tickers, reduce_only=False),
        )

    def _booked(
        self,
        recorded: list[tuple[Intent, CreateOrder]],
        sent_at: float,
        answer: CallAnswer[list[BatchItem]],
    ) -> None:
        """A batch's answer in the state file and the view, each item as a single order's."""
        try:
            items = answer.get()
        except OrderOutcomeUnknown as exc:
            self._guard.failed(exc, sent_at)
            self._lost(recorded, exc.message)
            return
        except (ApiError, TransportError) as exc:
            # the request as a whole was refused, or never left: none of its orders exists
            for intent, create in recorded:
                self._store.orders.mark_rejected(create.client_order_id, reason=exc.message)
                self._log.emit("order_rejected", {**intent_fields(intent), "error": exc.message})
            if (
                self._sender.order_group_id
                and isinstance(exc, ApiError)
                and exc.code == GROUP_TRIGGERED
            ):
                self._sender.group_triggered(recorded[0][0], exc.message)
            else:
                self._guard.failed(exc, sent_at)
            self._sender.balance_hold.refused(exc.code if isinstance(exc, ApiError) else None)
            return
        # an item that does not say plainly is no answer: its order is looked up, as one the
        # answer left out (client/batch_orders.py `_item`)
        unclear = {item.client_order_id: item.error for item in items if item.unknown}
        answered = {item.client_order_id: item for item in items if not item.unknown}
        placed: list[tuple[Intent, CreateOrder, CreateOrderResult, str]] = []
        unnamed = [(i, c) for i, c in recorded if c.client_order_id not in answered]
        trouble = [item for item in items if item.trouble]
        if trouble:
            # items that are the exchange's own trouble are a 5xx in other words: the API error
            # guard counts the batch as one failed call (an item that only leaves out its order
            # id or its client order id, all optional in the spec, does not count)
            self._guard.failed(
                OrderOutcomeUnknown(
                    f"{len(trouble)} order(s) of a batch answered with the exchange's trouble "
                    f"({trouble[0].error})",
                    client_order_id=trouble[0].client_order_id,
                ),
                sent_at,
            )
        else:
            self._guard.ok(sent_at)
        triggered: tuple[Intent, str] | None = None  # an item refused for the order group
        try:
            with self._store.transaction():  # one commit for the batch's answers
                self._lost(unnamed, "the batch answer did not name this order", unclear)
                for intent, create in recorded:
                    item = answered.get(create.client_order_id)
                    if item is None:
                        continue  # lost, above
                    if item.result is None:
                        reason = item.error or "refused"
                        self._store.orders.mark_rejected(create.client_order_id, reason=reason)
                        self._log.emit("order_rejected", {**intent_fields(intent), "error": reason})
                        self._sender.balance_hold.refused(reason.split(":")[0])
                        if reason.split(":")[0] == GROUP_TRIGGERED and self._sender.order_group_id:
                            triggered = triggered or (intent, reason)
                    else:
                        status = self._orders.record_answer(create, item.result)
                        placed.append((intent, create, item.result, status))
        except StoreError as exc:
            raise self._unrecorded(recorded, answered, exc) from exc
        if triggered is not None:
            self._sender.group_triggered(*triggered)
        for intent, create, result, status in placed:
            self._sender.placed(
                intent,
                create,
                sent_at,
                order_id=result.order_id,
                status=status,
                fill_count=result.fill_count,
                remaining=result.remaining_count,
            )
        filled = [intent.ticker for intent, _, result, _ in placed if result.fill_count > 0]
        if filled:
            # the positions must be known before the next decision in these markets
            self._fills.read_for(filled)

    def _unrecorded(
        self,
        recorded: list[tuple[Intent, CreateOrder]],
        answered: dict[str, BatchItem],
        error: StoreError,
    ) -> OrderNotRecorded:
        """The batch's answers could not be committed: every order the exchange accepted
        exists, whatever the state file says. Each is made known to the loop, so the stop that
        follows withdraws it (runner/lifecycle/state_fault.py); the orders whose answer was lost are
        already among the unknown."""
        first: OrderNotRecorded | None = None
        for intent, create in recorded:
            item = answered.get(create.client_order_id)
            if item is None or item.result is None:
                continue
            result = item.result
            exc = OrderNotRecorded(
                f"order {create.client_order_id} WAS PLACED (order id {result.order_id}, in a "
                f"batch), but the state file could not record it: {error.message}",
                hint="do not place it again; `kalshi reconcile` records it once the state "
                "file can be written",
                client_order_id=create.client_order_id,
                order_id=result.order_id,
                remaining=result.remaining_count,
            )
            self._sender.not_recorded(intent, exc)
            first = first or exc
        if first is not None:
            return first
        return OrderNotRecorded(
            f"a batch's answers could not be recorded: {error.message}",
            hint="`kalshi reconcile` settles them once the state file can be written",
            client_order_id=recorded[0][1].client_order_id,
            order_id=None,
            remaining=ZERO,
        )

    def _record_intents(self, chunk: list[Intent]) -> list[tuple[Intent, CreateOrder]]:
        """Every intent of the batch in one transaction (one commit), each only if the trading
        state, read inside that transaction, allows it; those refused are dropped, unsent."""
        recorded: list[tuple[Intent, CreateOrder]] = []
        with self._store.transaction():
            for intent in chunk:
                create = self._sender.create(intent)
                try:
                    self._orders.record_intent(
                        create,
                        side=intent.side,
                        action=intent.action,
                        strategy=intent.strategy,
                        model_fair=intent.model_fair,
                        reason=intent.reason,
                    )
                except TradingHaltedError as exc:
                    self._log.emit(
                        "intent_dropped", {"ticker": intent.ticker, "reason": exc.message}
                    )
                    continue
                recorded.append((intent, create))
        return recorded

    def _lost(
        self,
        lost: list[tuple[Intent, CreateOrder]],
        why: str,
        reasons: dict[str, str | None] | None = None,
    ) -> None:
        """Orders of the batch that may exist: every one known to the loop first (its market
        takes no new order, the lookups find it, a stop on a failing state file waits for it),
        then each marked unknown in the state file (`why`, or its own reason in `reasons`); a
        mark that fails ends the marking (OrderNotRecorded), the loop still knowing them all."""
        views: dict[str, PositionView] = {}
        for intent, create in lost:
            view = views.get(intent.ticker) or self._portfolio.view(intent.ticker)
            views[intent.ticker] = view.after(intent)
            exposure = added_exposure(view, intent)
            self._unknown.lost(create.client_order_id, intent.ticker, exposure)
        if lost:
            self._fills_due.set()
        for intent, create in lost:
            because = (reasons or {}).get(create.client_order_id) or why
            self._orders.record_unknown(create, because)
            self._log.emit(
                "order_unknown",
                {
                    **intent_fields(intent),
                    "client_order_id": create.client_order_id,
                    "error": because,
                },
            )
