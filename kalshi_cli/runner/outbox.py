"""The orders a tick of the trade loop decided, sent together, for its `Executor`
(runner/execution.py).

Sent one by one as the strategy decides them, each order cost the loop's thread a state-file
commit, a round trip and the commit of its answer before the next market could be looked at,
and each fill one more round trip to read it: at 500 markets that held a book change up to 12 s
behind its decision (docs/benchmarks.md). Now the orders a tick's markets want, once the risk
engine allows them, wait in the outbox until the tick's visits end, the first of them has
waited `batch_wait_s` (20 ms: a tick-to-order cost nobody notices, the orders of some twenty
visits), or they fill a batch, then go out at once:

1. their intents are written in one transaction, the trading state read inside it for each, so
   an intent exists only if the state allowed it when it was recorded, and every intent is on
   disk before the request leaves (a halt written while the tick was deciding stops them all);
2. one `POST /portfolio/events/orders/batched` carries them (`KalshiClient.batch_create_orders`);
   an answer lost for it leaves every order of it unknown, looked up by client order id and
   never sent again (runner/unknown_orders.py); a refusal of the whole request (4xx, 429, a
   connection that never sent) leaves none placed;
3. each item's answer is recorded as `submit` records one; an item refused (insufficient
   balance) is marked rejected; one the answer does not name is unknown;
4. fills that any of them made are read once, for the batch, not once an order.

While they wait, the risk engine counts them: each takes its order-rate slot when it is
queued, and the position limit and the total exposure see the market's view and the account's
exposure as if every order queued before it rested (`PositionView.after`, as the legs of a
group are counted). Orders that reduce a position (a stop-loss, a take-profit) never wait
here: they go out at once, ahead of the batch. A client without batches (the paper venue, a
test's fake) sends each order on its own, as before.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from kalshi_cli.errors import ApiError, OrderOutcomeUnknown, TradingHaltedError, TransportError
from kalshi_cli.models import ZERO, to_book
from kalshi_cli.order_batch import SendsBatches
from kalshi_cli.risk.state import halt
from kalshi_cli.runner.cancels import Cancels
from kalshi_cli.runner.executor_base import MAX_REMEMBERED, Sent, Unknown
from kalshi_cli.runner.fills import FillSync
from kalshi_cli.runner.order_group import GROUP_TRIGGERED
from kalshi_cli.runner.portfolio import OpenOrder, open_order
from kalshi_cli.store.errors import OrderNotRecorded, StoreError

if TYPE_CHECKING:
    from kalshi_cli.client.batch_orders_shapes import BatchItem
    from kalshi_cli.client.requests import CreateOrder, CreateOrderResult
    from kalshi_cli.decisions import PositionView
    from kalshi_cli.strategies import Intent


class Outbox(FillSync, Cancels):
    # ---------------------------------------------------------------- waiting

    def batch_size(self) -> int:
        """How many orders one request may carry (1: this client sends one at a time)."""
        if not isinstance(self.client, SendsBatches):
            return 1
        size = self.client.batch_size()
        return size if isinstance(size, int) and size > 1 else 1

    def queued_view(self, ticker: str) -> PositionView:
        """The market's view as if each order queued for it rested."""
        view = self.portfolio.view(ticker)
        for intent in self.queued:
            if intent.ticker == ticker:
                view = view.after(intent)
        return view

    def _queue(self, intent: Intent) -> Decimal:
        """Hold an allowed order for the tick's batch; nothing of it is filled yet."""
        view = self.queued_view(intent.ticker)
        self.queued_exposure += view.after(intent).exposure() - view.exposure()
        # its slot of the order-rate cap is taken now, so the decisions after it count it
        self.risk.record_sent()
        if not self.queued:
            self.queued_since = self.clock.monotonic()
        self.queued.append(intent)
        return ZERO

    # ---------------------------------------------------------------- sending

    def _submit_batch(self, chunk: list[Intent]) -> None:
        recorded = self._record_intents(chunk)
        if not recorded:
            return
        sent_at = self.clock.monotonic()
        creates = [create for _, create in recorded]
        sender = cast(SendsBatches, self.client)  # batch_size() said so
        try:
            items = sender.batch_create_orders(creates)
        except OrderOutcomeUnknown as exc:
            self._failed(exc)
            self._lost(recorded, exc.message)
            return
        except (ApiError, TransportError) as exc:
            # the request as a whole was refused, or never left: none of its orders exists
            for intent, create in recorded:
                self.store.orders.mark_rejected(create.client_order_id, reason=exc.message)
                self.log.emit("order_rejected", {**intent_fields(intent), "error": exc.message})
            if self.order_group_id and isinstance(exc, ApiError) and exc.code == GROUP_TRIGGERED:
                self._group_triggered(recorded[0][0], exc.message)
            else:
                self._failed(exc)
            return
        self._ok()
        # an item that does not say plainly is no answer: its order is looked up, as one the
        # answer left out (client/batch_orders.py `_item`)
        unclear = {item.client_order_id: item.error for item in items if item.unknown}
        answered = {item.client_order_id: item for item in items if not item.unknown}
        placed: list[tuple[Intent, CreateOrder, CreateOrderResult, str]] = []
        unnamed = [(i, c) for i, c in recorded if c.client_order_id not in answered]
        triggered: tuple[Intent, str] | None = None  # an item refused for the order group
        try:
            with self.store.transaction():  # one commit for the batch's answers
                self._lost(unnamed, "the batch answer did not name this order", unclear)
                for intent, create in recorded:
                    item = answered.get(create.client_order_id)
                    if item is None:
                        continue  # lost, above
                    if item.result is None:
                        reason = item.error or "refused"
                        self.store.orders.mark_rejected(create.client_order_id, reason=reason)
                        self.log.emit("order_rejected", {**intent_fields(intent), "error": reason})
                        if reason.split(":")[0] == GROUP_TRIGGERED and self.order_group_id:
                            triggered = triggered or (intent, reason)
                    else:
                        status = self.orders.record_answer(create, item.result)
                        placed.append((intent, create, item.result, status))
        except StoreError as exc:
            raise self._unrecorded(recorded, answered, exc) from exc
        if triggered is not None:
            self._group_triggered(*triggered)
        for intent, create, result, status in placed:
            self._placed(
                intent,
                create,
                sent_at,
                order_id=result.order_id,
                status=status,
                fill_count=result.fill_count,
                remaining=result.remaining_count,
            )
        if any(result.fill_count > 0 for _, _, result, _ in placed):
            # the positions must be known before the next decision in these markets
            self.sync_fills()

    def _unrecorded(
        self,
        recorded: list[tuple[Intent, CreateOrder]],
        answered: dict[str, BatchItem],
        error: StoreError,
    ) -> OrderNotRecorded:
        """The batch's answers could not be committed: every order the exchange accepted
        exists, whatever the state file says. Each is made known to the loop, so the stop that
        follows withdraws it (runner/state_fault.py); the orders whose answer was lost are
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
            self._not_recorded(intent, exc)
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
        with self.store.transaction():
            for intent in chunk:
                create = self._create(intent)
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
                    self.log.emit(
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
        now = self.clock.monotonic()
        for intent, create in lost:
            self.unknown[create.client_order_id] = Unknown(intent.ticker, now)
        if lost:
            self.fills_due = True
        for intent, create in lost:
            because = (reasons or {}).get(create.client_order_id) or why
            self.orders.record_unknown(create, because)
            self.log.emit(
                "order_unknown",
                {
                    **intent_fields(intent),
                    "client_order_id": create.client_order_id,
                    "error": because,
                },
            )

    # ---------------------------------------------------------------- what every send shares

    def _group_triggered(self, intent: Intent, error: str) -> None:
        """The exchange refused the order because the session's order group is triggered (its
        contracts limit hit, or a kill switch): stop placing, as the kill switch would."""
        reason = f"the exchange triggered order group {self.order_group_id}"
        self.log.emit(
            "order_group_triggered",
            {**intent_fields(intent), "order_group_id": self.order_group_id, "error": error},
        )
        halt(self.ledger, reason=reason, source="order group")

    def _create(self, intent: Intent) -> CreateOrder:
        """The request for an intent, with its fresh client order id."""
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
        )

    def _placed(
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
        self.counters.orders += 1
        if order_id:
            if len(self.sent) >= MAX_REMEMBERED:
                self.sent.popitem(last=False)
            self.sent[order_id] = Sent(
                create.client_order_id,
                intent.side,
                intent.action,
                intent.price,
                intent.model_fair,
                intent.strategy,
                sent_at,
            )
        self.log.emit(
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
            self.portfolio.add_order(
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

    def _not_recorded(self, intent: Intent, exc: OrderNotRecorded) -> None:
        """The order reached the exchange (or may have) and the state file could not take its
        answer: the loop still knows of it, so the stop that follows withdraws it
        (runner/state_fault.py)."""
        if exc.order_id is None:
            self.unknown[exc.client_order_id] = Unknown(intent.ticker, self.clock.monotonic())
            return
        if exc.remaining > 0:
            book = to_book(intent.side, intent.action, intent.price)
            self.portfolio.add_order(
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
        self.sent[exc.order_id] = Sent(
            exc.client_order_id,
            intent.side,
            intent.action,
            intent.price,
            intent.model_fair,
            intent.strategy,
            self.clock.monotonic(),
        )


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
