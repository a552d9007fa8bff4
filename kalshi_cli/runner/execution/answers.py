"""The booking of an order's answer, for the trade loop's `Sender` (one order) and `Outbox` (a
batch): the request built and the intent written, the orders in flight (`in_flight`, counted as
resting), then the answer: an accepted order counted and resting in the view; a refusal or
transport failure told to the API error guard and balance hold; a lost answer leaving the order
unknown (looked up, never resent: unknown_orders.py); a refusal for a triggered or deleted order
group turned into a halt; a fill at once read before the market's next decision.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.risk.rules import opening_cost
from kalshi_cli.risk.state import halt
from kalshi_cli.runner.execution.fills import Sent
from kalshi_cli.runner.execution.order_group import GROUP_REFUSALS, GROUP_TRIGGERED
from kalshi_cli.services.orders.place import placed_unrecorded
from kalshi_cli.services.pretrade.books import OpenOrder, open_order
from kalshi_cli.store.errors import OrderNotFound, OrderNotRecorded, StoreError
from kalshi_cli.vocabulary.errors import (
    ApiError,
    OrderOutcomeUnknown,
    RequestWithdrawn,
    TradingHaltedError,
    TransportError,
)
from kalshi_cli.vocabulary.order_terms import owned_client_order_id
from kalshi_cli.vocabulary.units import ZERO, to_book

if TYPE_CHECKING:
    from kalshi_cli.client.batch_orders import BatchItem
    from kalshi_cli.client.requests import CreateOrder, CreateOrderResult
    from kalshi_cli.runner.execution.dispatch import CallAnswer
    from kalshi_cli.runner.execution.fills import FillSync
    from kalshi_cli.runner.execution.shared import Bookkeeping, Holds, Report
    from kalshi_cli.services.orders.place import OrderService, SentOrder
    from kalshi_cli.vocabulary.decisions import Intent


# why an order the dispatch dropped before it was made never left (`AnswerBook.unmade`)
UNMADE = "never sent: dropped before it left (the loop stopped, or its state file failed)"


class AnswerBook:
    def __init__(
        self,
        *,
        orders: OrderService,
        books: Bookkeeping,
        report: Report,
        holds: Holds,
        fills: FillSync,
        in_flight: InFlight,
    ) -> None:
        self.orders = orders
        self._store = books.store
        self._records = books.records
        self._portfolio = books.portfolio
        self._log = report.log
        self._counters = report.counters
        self._holds = holds
        self._guard = holds.guard
        self._unknown = holds.unknown
        self._balance_hold = holds.balance_hold
        self._fills = fills
        # the session's order groups by shard (runner/execution/order_group.py; empty: none):
        # every order goes into its market's shard's
        self.order_groups: dict[int, str] = {}
        # the orders sent whose answers are not booked yet: the risk engine counts them
        self.in_flight = in_flight

    # ---------------------------------------------------------------- before the answer

    def group_of(self, ticker: str) -> str | None:
        """The session's group an order in the market names: its shard's (a market whose shard
        the exchange does not name is on shard 0, its default); None: no group there."""
        return self.order_groups.get(self._balance_hold.shard_of.get(ticker, 0))

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
            order_group_id=self.group_of(intent.ticker),
            client_order_id=owned_client_order_id(intent.strategy),
        )

    def record(self, intent: Intent, create: CreateOrder) -> bool:
        """The intent written in the state file, if the trading state read in the same
        transaction allows it; False (logged) when it does not, and nothing may be sent."""
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
            return False
        return True

    def record_all(self, chunk: list[Intent]) -> list[tuple[Intent, CreateOrder]]:
        """Every intent of the batch in one transaction (one commit), each only if the trading
        state, read inside that transaction, allows it; those refused are dropped, unsent."""
        recorded: list[tuple[Intent, CreateOrder]] = []
        with self._store.transaction():
            for intent in chunk:
                create = self.create(intent)
                if self.record(intent, create):
                    recorded.append((intent, create))
        return recorded

    def sending(self, recorded: list[tuple[Intent, CreateOrder]]) -> None:
        """Orders on their way: counted as resting until their answers are booked."""
        for intent, create in recorded:
            self.in_flight.add(create.client_order_id, intent)

    def unmade(self, recorded: list[tuple[Intent, CreateOrder]]) -> Callable[[], None]:
        """What the dispatch tells when it drops the call of these orders unmade (the stop
        before a worker took it, a failed drain's commit): they never left
        (`InFlight.unsent`), and each is logged as dropped. Their intents stay pending in the
        state file (it may be the part that failed) until `kalshi reconcile` or the next start
        finds them not on the exchange."""
        coids = [create.client_order_id for _, create in recorded]
        tickers = [intent.ticker for intent, _ in recorded]

        def told() -> None:
            self.in_flight.unsent.update(coids)
            for ticker in tickers:
                self._log.emit("intent_dropped", {"ticker": ticker, "reason": UNMADE})

        return told

    def never_made(self) -> None:
        """At a stop, once the dispatch is closed: each order whose call it dropped before a
        worker took it (`InFlight.unsent`) never left, and its intent is booked as refused
        before it left, as one withdrawn while it waited its turn is (`never_sent`). An
        intent whose row a failed drain's booking never wrote has nothing to book."""
        for client_order_id in sorted(self.in_flight.unsent):
            with contextlib.suppress(OrderNotFound):
                self._store.orders.mark_rejected(client_order_id, reason=UNMADE)

    def answered(self, recorded: list[tuple[Intent, CreateOrder]]) -> None:
        for _, create in recorded:
            self.in_flight.remove(create.client_order_id)

    def settled(self) -> None:
        """After an answer is booked: the fills a read listed while an order of their market
        was on its way, waiting for its answer (`FillSync.held`), booked now that the orders
        they may be are known."""
        self._fills.release_held()

    def never_sent(
        self, recorded: list[tuple[Intent, CreateOrder]], answer: CallAnswer[Any]
    ) -> bool:
        """True when the call's request never left (`RequestWithdrawn`: the stop began before
        a worker took it, or while it waited its turn from the rate limiter): each intent is
        then booked as refused before it left, logged as dropped, and neither the API error
        guard nor the balance hold hears of it."""
        if not isinstance(answer.error, RequestWithdrawn):
            return False
        reason = str(answer.error)
        with self._store.transaction():
            for _, create in recorded:
                self._store.orders.mark_rejected(
                    create.client_order_id, reason=f"never sent: {reason}"
                )
        for intent, _ in recorded:
            self._log.emit("intent_dropped", {"ticker": intent.ticker, "reason": reason})
        return True

    # ---------------------------------------------------------------- the answer

    def book(
        self, intent: Intent, create: CreateOrder, sent_at: float, sent: SentOrder
    ) -> Decimal | None:
        """One order's answer booked: the count filled at once, or None when it did not go
        out (refused, or lost and not found)."""
        try:
            outcome = self.orders.book_sent(create, sent)
        except OrderOutcomeUnknown as exc:
            self._holds.lost(exc, intent.ticker, sent_at)
            self._unknown.lost(create.client_order_id, intent.ticker, intent)
            self._fills.due.set()
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
            if self.order_groups and isinstance(exc, ApiError) and exc.code in GROUP_REFUSALS:
                self.group_refused(intent, exc.code, exc.message)
                return None
            self._holds.refused(exc, intent.ticker, sent_at)
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

    def book_batch(
        self, recorded: list[tuple[Intent, CreateOrder]], answer: CallAnswer[list[BatchItem]]
    ) -> None:
        """A batch's answer in the state file and the view, each item as a single order's."""
        sent_at = answer.sent_at
        try:
            items = answer.get()
        except OrderOutcomeUnknown as exc:
            self._guard.failed(exc, sent_at)
            self._lost(recorded, exc.message)
            return
        except (ApiError, TransportError) as exc:
            self._batch_refused(recorded, exc, sent_at)
            return
        self._judge_items(items, sent_at, {c.client_order_id: i.ticker for i, c in recorded})
        # an item that does not say plainly is no answer: its order is looked up, as one the
        # answer left out (client/batch_orders.py `_item`)
        unclear = {item.client_order_id: item.error for item in items if item.unknown}
        answered = {item.client_order_id: item for item in items if not item.unknown}
        try:
            with self._store.transaction():  # one commit for the batch's answers
                unnamed = [(i, c) for i, c in recorded if c.client_order_id not in answered]
                self._lost(unnamed, "the batch answer did not name this order", unclear)
                placed, triggered = self._book_items(recorded, answered)
        except StoreError as exc:
            raise self._unrecorded(recorded, answered, exc) from exc
        if triggered is not None:
            self.group_refused(*triggered)
        for intent, create, result, status in placed:
            self.placed(
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

    def _batch_refused(
        self,
        recorded: list[tuple[Intent, CreateOrder]],
        exc: ApiError | TransportError,
        sent_at: float,
    ) -> None:
        """The request as a whole was refused, or never left: none of its orders exists."""
        for intent, create in recorded:
            self._rejected(intent, create, exc.message)
        code = exc.code if isinstance(exc, ApiError) else None
        if self.order_groups and isinstance(exc, ApiError) and exc.code in GROUP_REFUSALS:
            self.group_refused(recorded[0][0], exc.code, exc.message)
        elif not self._balance_hold.refused_whole(code, self._asked(recorded)):
            # a shard short of collateral is no API error (runner/execution/balance_hold.py)
            self._guard.failed(exc, sent_at)

    def _asked(self, recorded: list[tuple[Intent, CreateOrder]]) -> dict[str, Decimal]:
        """What the batch's orders would commit, by market (`opening_cost`)."""
        asked: dict[str, Decimal] = {}
        for intent, _ in recorded:
            cost = opening_cost(intent, self._portfolio.view(intent.ticker))
            asked[intent.ticker] = asked.get(intent.ticker, ZERO) + cost
        return asked

    def _judge_items(self, items: list[BatchItem], sent_at: float, tickers: dict[str, str]) -> None:
        """Items that are the exchange's own trouble are a 5xx in other words: the API error
        guard counts the batch as one failed call (an item that only leaves out its order id
        or its client order id, all optional in the spec, does not count; nor does one of a
        paused shard, which pauses it: runner/execution/balance_hold.py)."""
        hold = self._balance_hold
        trouble = [
            item
            for item in items
            if item.trouble
            and not hold.unavailable(item.code, tickers.get(item.client_order_id, ""))
        ]
        if not trouble:
            self._guard.ok(sent_at)
            return
        self._guard.failed(
            OrderOutcomeUnknown(
                f"{len(trouble)} order(s) of a batch answered with the exchange's trouble "
                f"({trouble[0].error})",
                client_order_id=trouble[0].client_order_id,
            ),
            sent_at,
        )

    def _book_items(
        self, recorded: list[tuple[Intent, CreateOrder]], answered: dict[str, BatchItem]
    ) -> tuple[
        list[tuple[Intent, CreateOrder, CreateOrderResult, str]], tuple[Intent, str, str] | None
    ]:
        """Each answered item in the state file, inside the batch's transaction: the orders
        placed (with the status recorded), and the first item refused for the order group."""
        placed: list[tuple[Intent, CreateOrder, CreateOrderResult, str]] = []
        triggered: tuple[Intent, str, str] | None = None
        for intent, create in recorded:
            item = answered.get(create.client_order_id)
            if item is None:
                continue  # lost
            if item.result is not None:
                status = self.orders.record_answer(create, item.result)
                placed.append((intent, create, item.result, status))
                continue
            reason = item.error or "refused"
            self._rejected(intent, create, reason)
            code = item.code or ""
            self._balance_hold.refused(code, intent.ticker)
            if code in GROUP_REFUSALS and self.order_groups:
                triggered = triggered or (intent, code, reason)
        return placed, triggered

    def _rejected(self, intent: Intent, create: CreateOrder, reason: str) -> None:
        self._store.orders.mark_rejected(create.client_order_id, reason=reason)
        self._log.emit("order_rejected", {**intent_fields(intent), "error": reason})

    def _unrecorded(
        self,
        recorded: list[tuple[Intent, CreateOrder]],
        answered: dict[str, BatchItem],
        error: StoreError,
    ) -> OrderNotRecorded:
        """The batch's answers could not be committed: every order the exchange accepted
        exists, whatever the state file says. Each is made known to the loop, so the stop that
        follows withdraws it (runner/loop/state_fault.py); the orders whose answer was lost are
        already among the unknown."""
        first: OrderNotRecorded | None = None
        for intent, create in recorded:
            item = answered.get(create.client_order_id)
            if item is None or item.result is None:
                continue
            result = item.result
            exc = placed_unrecorded(
                create.client_order_id, result.order_id, "in a batch", result.remaining_count, error
            )
            self.not_recorded(intent, exc)
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
        for intent, create in lost:
            self._unknown.lost(create.client_order_id, intent.ticker, intent)
        if lost:
            self._fills.due.set()
        for intent, create in lost:
            because = (reasons or {}).get(create.client_order_id) or why
            self.orders.record_unknown(create, because)
            self._log.emit(
                "order_unknown",
                {
                    **intent_fields(intent),
                    "client_order_id": create.client_order_id,
                    "error": because,
                },
            )

    def group_refused(self, intent: Intent, code: str, error: str) -> None:
        """The exchange refused the order because the session's order group takes no more:
        triggered (its contracts limit hit, or a kill switch), or gone (deleted under the
        loop). Stop placing, as the kill switch would: every order of the session names the
        group, so each one after would be refused in turn."""
        group = self.group_of(intent.ticker)
        if code == GROUP_TRIGGERED:
            event, reason = "order_group_triggered", f"the exchange triggered order group {group}"
        else:
            event = "order_group_gone"
            reason = f"the exchange no longer knows order group {group} (deleted?)"
        fields = {**intent_fields(intent), "order_group_id": group, "error": error}
        self._log.emit(event, fields)
        halt(self._records, reason=reason, source="order group")

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
            self._fills.sent.remember(
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
        if not order_id:
            return
        order = OpenOrder(
            order_id,
            create.client_order_id,
            intent.ticker,
            intent.side,
            intent.action,
            intent.price,
            remaining,
            intent.strategy,
        )
        if remaining > 0 and status == "resting":
            self._portfolio.add_order(order)
        if fill_count > 0:
            # filled at once: in no position until the fill read lists it, and no longer on
            # its way; the limits count it apart meanwhile (every market's decisions, not only
            # those of its own, which wait for the read)
            self._fills.applied.told_filled(order, fill_count)

    def not_recorded(self, intent: Intent, exc: OrderNotRecorded) -> None:
        """The order reached the exchange (or may have) and the state file could not take its
        answer: the loop still knows of it, so the stop that follows withdraws it
        (runner/loop/state_fault.py)."""
        if exc.order_id is None:
            self._unknown.lost(exc.client_order_id, intent.ticker, intent)
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
        self._fills.sent.remember(
            exc.order_id,
            Sent(
                exc.client_order_id,
                intent.side,
                intent.action,
                intent.price,
                intent.model_fair,
                intent.strategy,
                self._guard.stamp(),
            ),
        )


class InFlight:
    """Orders sent whose answers are not booked yet (runner/execution/dispatch.py), by client order
    id: the risk engine counts them as resting until they are (runner/execution/outbox.py
    `Outbox.pending`)."""

    def __init__(self, on_change: Callable[[str], None]) -> None:
        self.intents: dict[str, Intent] = {}
        self._by_market: dict[str, dict[str, Intent]] = {}
        # of these, the orders whose call the dispatch dropped before a worker took it: they
        # never left, and never will (runner/loop/state_fault.py)
        self.unsent: set[str] = set()
        # told the market of each order added or removed (the outbox counts them)
        self._on_change: Callable[[str], None] = on_change

    def add(self, client_order_id: str, intent: Intent) -> None:
        self.intents[client_order_id] = intent
        self._by_market.setdefault(intent.ticker, {})[client_order_id] = intent
        self._on_change(intent.ticker)

    def remove(self, client_order_id: str) -> None:
        intent = self.intents.pop(client_order_id, None)
        self.unsent.discard(client_order_id)
        if intent is not None:
            of_market = self._by_market[intent.ticker]
            del of_market[client_order_id]
            if not of_market:
                del self._by_market[intent.ticker]
            self._on_change(intent.ticker)

    def may_land(self) -> dict[str, Intent]:
        """The orders whose request left or may yet leave (those the dispatch dropped unmade
        left out): each may rest on the exchange until it is looked up."""
        if not self.unsent:
            return dict(self.intents)
        return {c: i for c, i in self.intents.items() if c not in self.unsent}

    def in_market(self, ticker: str) -> bool:
        """An order of this market is sent and its answer not booked yet."""
        return ticker in self._by_market

    def of_market(self, ticker: str) -> Iterable[Intent]:
        """The market's orders sent, in the order sent."""
        return self._by_market.get(ticker, {}).values()


_EDGE_PLACES = Decimal("0.0001")  # an intent's edge in its log lines


def intent_fields(intent: Intent) -> dict[str, Any]:
    return {
        "ticker": intent.ticker,
        "side": intent.side,
        "action": intent.action,
        "price": intent.price,
        "count": intent.count,
        "model_fair": intent.model_fair,
        "edge": intent.edge_after_fees.quantize(_EDGE_PLACES),
        "tif": intent.time_in_force,
        "reduce_only": intent.reduce_only,
        "strategy": intent.strategy,
        "reason": intent.reason,
    }
