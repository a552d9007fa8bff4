"""Requotes amended in place, a part of the trade loop's `LoopExecutor`. When a strategy's quote
replaces one resting order of its own in the same market, side and terms, the order is amended
(`POST /portfolio/events/orders/{id}/amend`): one round trip instead of a cancel and a new order.
The order keeps its row, ids and strategy, and takes the new terms when the exchange says so.

While the amend is out the risk engine counts the larger of old and new; a refusal leaves the order
as it was (read back if it may no longer rest); a lost answer leaves it in doubt: its market takes
no new non-reducing order and it is read once a second until it shows the amend or the amend can no
longer land (`landing_s`). docs/trade-loop.md "Requotes amended in place".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

import msgspec

from kalshi_cli.runner.execution.answers import UNMADE, intent_fields
from kalshi_cli.runner.execution.cancels import read_back
from kalshi_cli.runner.execution.dispatch import CallAnswer, Urgency, run_call
from kalshi_cli.runner.execution.fills import Sent
from kalshi_cli.runner.execution.unknown_orders import LostAnswer, Turns
from kalshi_cli.services.reconcile import AMEND_READ, amend_not_made, moves_backwards
from kalshi_cli.store.errors import StoreError
from kalshi_cli.vocabulary.errors import (
    BadRequestError,
    KalshiError,
    NotFoundError,
    RequestWithdrawn,
    TradingHaltedError,
)
from kalshi_cli.vocabulary.units import ZERO, TimeInForce, to_book

if TYPE_CHECKING:
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.dispatch import Wire
    from kalshi_cli.runner.execution.fills import FillSync
    from kalshi_cli.runner.execution.shared import Holds, Report
    from kalshi_cli.services.orders.amend import Amend, SentAmend
    from kalshi_cli.services.orders.place import OrderService
    from kalshi_cli.services.pretrade.books import OpenOrder
    from kalshi_cli.vocabulary.decisions import Intent
    from kalshi_cli.vocabulary.models import Order


NOT_AMENDED = "not amended"  # what a settled amend became: still at the order's old terms


@dataclass(frozen=True)
class _Answered:
    """An amend's call, made on a worker: what it came back with and, for a refusal that may
    say the order no longer rests, the order read back."""

    sent: SentAmend
    read_back: CallAnswer[Order] | None = None


class Amends:
    def __init__(
        self,
        *,
        wire: Wire,
        orders: OrderService,
        portfolio: Portfolio,
        report: Report,
        holds: Holds,
        fills: FillSync,
        enabled: bool,
    ) -> None:
        # False (`trade.amend_requotes: false`): every requote goes as cancels, then a new order
        self.enabled = enabled
        self._dispatch = wire.dispatch
        self._client = wire.client
        self._orders = orders
        self._portfolio = portfolio
        self._log = report.log
        self._counters = report.counters
        self._holds = holds
        self._guard = holds.guard
        self._unknown = holds.unknown
        self._fills = fills
        # order id -> the amend whose answer was lost, and the order it is (`lost`)
        self.lost: dict[str, tuple[Amend, OpenOrder]] = {}
        self._turns = Turns(self._dispatch, self._guard.stamp)  # order ids in doubt
        # the orders resting in the view when the session's order group was made (an earlier
        # run's, adopted at the start): none is in the group, and an amend would keep it out
        self.outside_group: frozenset[str] = frozenset()

    def group_made(self) -> None:
        """The session's order group was made (runner/execution/order_group.py): the orders
        resting now are outside it, so a requote of one goes as a cancel and a new order,
        which the group holds, never as an amend that leaves it where the exchange limit of
        the session's group does not reach."""
        self.outside_group = frozenset(self._portfolio.orders)

    # ---------------------------------------------------------------- sending

    def amendable(self, intent: Intent) -> OpenOrder | None:
        """The one order a requote can amend in place: it replaces exactly one order, resting
        in the view, of its own strategy, in its market, on the same side and action (so only
        the price and size change), and neither reduces (an amend cannot make an order reduce
        only) nor is anything but good till cancelled, and is in the session's order group
        when there is one (`group_made`). The state file has the last word on the order's own
        terms (`OrderAmends.record`)."""
        # a reducing intent is immediate or cancel (`Intent`): not good till cancelled either
        if not self.enabled or len(intent.replaces) != 1:
            return None
        if intent.time_in_force is not TimeInForce.GTC:
            return None
        order = self._portfolio.orders.get(intent.replaces[0])
        if order is None or order.ticker != intent.ticker or order.strategy != intent.strategy:
            return None
        if order.order_id in self.outside_group:
            return None
        if order.side is not intent.side or order.action is not intent.action:
            return None
        return order

    def submit(
        self,
        intent: Intent,
        order: OpenOrder,
        *,
        taken: Callable[[], object],
        beside: Callable[[Intent], Callable[[], None]],
        then: Callable[[Decimal | None], None],
    ) -> bool:
        """Amend `order` (`amendable`) to the intent's price and size, off the deciding path;
        False when the state file does not hold it resting on the same terms (nothing is sent:
        the requote goes as a cancel and a new order). `taken`: called as it goes (its slot of
        the order-rate cap, what it commits on its shard); `beside`: the intent counted as
        resting beside the order until the function
        it returns is called (the outbox's `replacing_until`); `then` is handed what the amend
        filled at once, or None when it did not go through."""
        book = to_book(intent.side, intent.action, intent.price)
        try:
            amend = self._orders.amends.record(
                order.order_id,
                ticker=intent.ticker,
                book_side=book.book_side,
                yes_price=book.yes_price,
                rest=intent.count,
                post_only=intent.post_only,
            )
        except TradingHaltedError as exc:
            self._log.emit("intent_dropped", {"ticker": intent.ticker, "reason": exc.message})
            then(None)
            return True
        if amend is None:
            return False
        taken()
        answered = beside(intent)

        def booked(answer: CallAnswer[_Answered]) -> None:
            answered()
            then(self._booked(intent, order, amend, answer))

        def unmade() -> None:
            answered()
            self._log.emit("intent_dropped", {"ticker": intent.ticker, "reason": UNMADE})
            # the state file may be what failed (its failure stops the loop already), its
            # write lock held by another process among the ways: the note is not waited for,
            # as the withdrawal of the loop's resting orders comes after this close
            with contextlib.suppress(StoreError), self._orders.store.busy_timeout(0):
                self._orders.amends.book_unsent(amend, UNMADE)

        urgency = self._dispatch.urgency((intent.ticker,), reduce_only=False)
        self._dispatch.send(
            (intent.ticker,),
            partial(self._call, amend),
            booked,
            urgency,
            places=True,
            unmade=unmade,
        )
        return True

    def _call(self, amend: Amend) -> _Answered:
        """The exchange's part of an amend alone (no state file, no view): safe on a worker.
        A refusal that may say the order no longer rests reads it back at once."""
        sent = self._orders.amends.send(amend)
        if isinstance(sent.refused, (BadRequestError, NotFoundError)):
            orders = self._client.orders
            read = run_call(lambda: orders.get_order(amend.order_id), self._guard.stamp)
            return _Answered(sent, read)
        return _Answered(sent)

    # ---------------------------------------------------------------- the answer

    def _booked(
        self,
        intent: Intent,
        order: OpenOrder,
        amend: Amend,
        answer: CallAnswer[_Answered],
    ) -> Decimal | None:
        """An amend's answer in the state file and the view: what it filled at once, or None
        when it did not go through (refused, never sent, or in doubt)."""
        if isinstance(answer.error, RequestWithdrawn):
            self._log.emit("intent_dropped", {"ticker": intent.ticker, "reason": str(answer.error)})
            self._orders.amends.book_unsent(amend, str(answer.error))
            return None
        answered = answer.get()
        # the API error guard, and the fills' latency, count from when the amend left (a worker
        # took it: it may wait behind calls sent after it, and answered)
        sent, sent_at = answered.sent, answer.sent_at
        if sent.lost is not None:
            self._holds.lost(sent.lost, intent.ticker, sent_at)
            self._lose(amend, order, intent)
            self._log.emit(
                "amend_unknown",
                {**intent_fields(intent), "order_id": amend.order_id, "error": sent.lost.message},
            )
            return None
        if sent.refused is not None:
            exc = sent.refused
            self._holds.refused(exc, intent.ticker, sent_at)
            self._log.emit(
                "amend_rejected",
                {**intent_fields(intent), "order_id": amend.order_id, "error": exc.message},
            )
            self._orders.amends.book_refused(amend, exc)
            if answered.read_back is not None:
                self._read_back(order, answered.read_back, sent_at)
            return None
        assert sent.result is not None  # one of the three is set (SentAmend)
        self._guard.ok(sent_at)
        outcome = self._orders.amends.book(amend, sent.result)
        remaining = order.remaining if outcome.remaining is None else outcome.remaining
        if outcome.reopened:
            # fills booked meanwhile ended it against its old total, and the view dropped it
            self._portfolio.add_order(replace(order, remaining=remaining))
        ts_ms = sent.result.ts_ms
        self._applied(intent, order, remaining, sent_at, None if ts_ms is None else ts_ms / 1000)
        if self._log.reads("order_amended"):
            self._log.emit(
                "order_amended",
                {
                    **intent_fields(intent),
                    "client_order_id": order.client_order_id,
                    "order_id": order.order_id,
                    "status": outcome.status,
                    "filled": outcome.filled,
                    "remaining": remaining,
                },
            )
        else:
            self._log.emit("order_amended")
        # less rests than asked, beyond what the amend filled: the order filled unseen before
        # it landed (the new total caps it). Either way the position must be known before the
        # next decision in this market, and until the fill read lists them those contracts
        # count toward the limits apart (every market's decisions read them)
        unseen = ZERO
        if outcome.remaining is not None:
            unseen = max(intent.count - outcome.remaining - outcome.filled, ZERO)
        if outcome.filled > 0 or unseen > 0:
            self._fills.applied.may_have_filled(
                replace(order, price=intent.price), outcome.filled + unseen
            )
            self._fills.read_for((intent.ticker,))
        return outcome.filled

    def _applied(
        self,
        intent: Intent,
        order: OpenOrder,
        remaining: Decimal,
        at: float,
        landed: float | None = None,
    ) -> None:
        """The amend is on the exchange (since `landed`, unix seconds, when the answer said):
        the view holds the order at its new price, and the fills made since are measured
        against it (those made before, against what was sent before)."""
        self._counters.amends += 1
        self._portfolio.update_order(
            order.order_id, remaining=remaining, status="resting", price=intent.price
        )
        now = Sent(
            order.client_order_id,
            intent.side,
            intent.action,
            intent.price,
            intent.model_fair,
            intent.strategy,
            at,
        )
        self._fills.sent.amend(order.order_id, now, landed)

    def _read_back(self, order: OpenOrder, answer: CallAnswer[Order], sent_at: float) -> None:
        """A refused amend whose refusal may say the order no longer rests (filled, or gone):
        the order as the exchange shows it, and the fills read. One still resting stays as it
        was: the refusal was for the amend itself (a post-only price that would cross, a size
        below what filled unseen)."""
        self._fills.due.set()
        shown = read_back(answer, order.order_id, self._portfolio, self._guard, sent_at)
        if shown is None:
            return
        self._orders.record_found(shown)
        if shown.status != "resting":
            if shown.fill_count > 0:
                self._fills.applied.told_filled(order, shown.fill_count)
            self._portfolio.update_order(
                order.order_id, remaining=shown.remaining_count, status=shown.status
            )

    # ---------------------------------------------------------------- answers lost

    def _lose(self, amend: Amend, order: OpenOrder, intent: Intent) -> None:
        """An amend whose answer was lost: the order may rest at its old or its new price and
        size. Its market takes no new non-reducing order and the intent counts as resting
        beside the order (`UnknownOrders.amending`) until a read settles it (`look_later`)."""
        self.lost[amend.order_id] = (amend, order)
        # counted beside the order as it was, not in its place: the order may not have changed
        beside = intent.replacing_none()
        self._unknown.amending[amend.order_id] = LostAnswer(
            intent.ticker, self._guard.stamp(), beside
        )
        self._unknown.on_change(intent.ticker)
        self._fills.due.set()

    def look_later(self, *, guarded: bool = True) -> None:
        """Read each order whose amend is in doubt by its order id, taking `Turns`; booked by
        `_looked`. `guarded=False` (reads during the API error guard's backoff), as for the
        lookups of lost orders (`UnknownOrders.resolve`): the guard hears none of them."""
        orders = self._client.orders
        for order_id in self._turns.due(self.lost):
            self._dispatch.send(
                (),
                partial(orders.get_order, order_id),
                partial(self._looked, order_id, guarded),
                Urgency.EXIT,
            )

    def _looked(self, order_id: str, guarded: bool, answer: CallAnswer[Order]) -> None:
        self._turns.looking.discard(order_id)
        kept = self.lost.get(order_id)
        lost = self._unknown.amending.get(order_id)
        if kept is None or lost is None:
            return
        amend, order = kept
        sent_at = answer.sent_at
        if isinstance(answer.error, NotFoundError):  # the guard hears nothing of it
            self._portfolio.update_order(order_id, remaining=ZERO, status="canceled")
            return self._settle(order_id, lost, "gone")
        try:
            shown = self._guard.heard(answer, guarded=guarded)
        except KalshiError:
            return
        self._orders.record_found(shown)
        shown = self._as_booked(shown)
        if shown.fill_count > 0:
            # what it filled leaves what rests before the fill read brings it in
            self._fills.applied.told_filled(order, shown.fill_count)
        if shown.status != "resting":
            self._portfolio.update_order(
                order_id, remaining=shown.remaining_count, status=shown.status
            )
            return self._settle(order_id, lost, shown.status)
        total = shown.fill_count + shown.remaining_count
        if shown.yes_price == amend.yes_price and total == amend.total:
            assert lost.intent is not None
            self._applied(lost.intent, order, shown.remaining_count, self._guard.stamp())
            return self._settle(order_id, lost, "amended")
        self._portfolio.update_order(order_id, remaining=shown.remaining_count, status="resting")
        # the read shows the order as it was when the read was sent (and a read lag before):
        # it proves the amend never landed only if the amend could no longer land by then. The
        # moment its answer came back proves nothing: the amend may land while the read is out
        if sent_at - lost.since >= self._unknown.landing_s:
            self._settle(order_id, lost, NOT_AMENDED)

    def _as_booked(self, shown: Order) -> Order:
        """A read as its order's row has it once booked (`record_found`): the row's status and
        counts when it knows more than the read (`moves_backwards`: a `user_orders` message
        moved it on while the read was out), which the books follow, never the older read."""
        row = self._orders.store.orders.intent_by_order_id(shown.order_id)
        if row is None or not moves_backwards(row, shown):
            return shown
        rests = row.remaining if row.status == "resting" and row.remaining is not None else ZERO
        return msgspec.structs.replace(
            shown, status=row.status, fill_count=row.filled, remaining_count=rests
        )

    def _settle(self, order_id: str, lost: LostAnswer, became: str) -> None:
        """The doubt over, in the view and in the state file, whose record of the amend in
        flight would otherwise hold the next start until the amend could no longer land."""
        amend, _ = self.lost.pop(order_id)
        del self._unknown.amending[order_id]
        not_made = became == NOT_AMENDED
        note = amend_not_made(self._unknown.landing_s) if not_made else AMEND_READ
        self._orders.amends.book_read(amend, note)
        self._unknown.on_change(lost.ticker)
        self._fills.due.set()
        self._log.emit(
            "amend_resolved", {"ticker": lost.ticker, "order_id": order_id, "status": became}
        )
