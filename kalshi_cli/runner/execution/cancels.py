"""Cancels, a part of the trade loop's `LoopExecutor`: one the strategy decided, the orders an
intent replaces, withdrawals and shutdown cancels; a refusal because the order no longer rests
reads it back. A cancel that found less resting than the view held is a `shortfall`: fills are
due, and the limits count those contracts apart until read (`AppliedFills.may_have_filled`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

from kalshi_cli.risk.rules import held_by
from kalshi_cli.runner.execution.dispatch import CallAnswer, Urgency, run_call
from kalshi_cli.services.reconcile import book_cancel
from kalshi_cli.vocabulary.decisions import Cancel
from kalshi_cli.vocabulary.errors import BadRequestError, KalshiError, NotFoundError
from kalshi_cli.vocabulary.units import ZERO

if TYPE_CHECKING:
    from kalshi_cli.client.requests import CancelResult
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.call_guard import CallGuard
    from kalshi_cli.runner.execution.dispatch import Wire
    from kalshi_cli.runner.execution.fills import FillSync
    from kalshi_cli.runner.execution.shared import Report
    from kalshi_cli.services.orders.context import OrderCalls
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.models import Order


class Cancels:
    def __init__(
        self,
        *,
        wire: Wire,
        store: Store,
        portfolio: Portfolio,
        report: Report,
        guard: CallGuard,
        fills: FillSync,
        dry_run: bool,
    ) -> None:
        self.dispatch = wire.dispatch
        self._client = wire.client
        self._store = store
        self._portfolio = portfolio
        self._log = report.log
        self._guard = guard
        self._counters = report.counters
        self._fills = fills  # told what may have filled unseen; a fill read is then due
        self._dry_run = dry_run
        self.shortfalls = 0  # cancels that found less resting than the view held
        self._withdrawing: set[str] = set()  # order ids whose withdrawal is out

    def cancel(self, decision: Cancel) -> None:
        """A strategy's cancel, off the deciding path."""
        if self._dry_run:
            self._log.emit(
                "dry_run_cancel", {"ticker": decision.ticker, "order_id": decision.order_id}
            )
            return
        self.send_cancels(decision.ticker, (decision.order_id,), decision.reason)

    def send_cancels(
        self,
        ticker: str,
        order_ids: Iterable[str],
        reason: str,
        then: Callable[[bool, Decimal, float], None] | None = None,
    ) -> None:
        """Cancel each order, one after the other, off the deciding path
        (runner/execution/dispatch.py); `then` is told whether every one went, what those that
        went gave back (`booked_cancelled`) and when the first of them left (the exchange may
        free it from then on, so a balance read sent since may show it), once all are booked
        (the market takes no decision until then)."""
        ids = tuple(order_ids)
        orders, stamp = self._client.orders, self._guard.stamp

        def booked(answer: CallAnswer[list[_Cancelled]]) -> None:
            results = answer.get()
            freed = [self._booked(ticker, i, reason, r) for i, r in zip(ids, results, strict=True)]
            if then is not None:
                gave = sum((f for f in freed if f is not None), start=ZERO)
                then(None not in freed, gave, min(r.sent_at for r in results))

        self.dispatch.send(
            (ticker,), lambda: [_cancel(orders, i, ticker, stamp) for i in ids], booked
        )

    def withdraw(self, ticker: str, order_id: str, reason: str) -> None:
        """Withdraw an order (a quote pulled while trading is blocked or its market stale) off the
        deciding path, ahead of the calls that are not exits. It goes out whatever the backoff,
        and its failure neither extends the backoff nor counts toward SAFE_MODE: the next pass
        tries again."""
        if order_id in self._withdrawing:
            return
        self._withdrawing.add(order_id)
        orders, stamp = self._client.orders, self._guard.stamp

        def booked(answer: CallAnswer[_Cancelled]) -> None:
            self._withdrawing.discard(order_id)
            self._booked(ticker, order_id, reason, answer.get(), withdraw=True)

        self.dispatch.send(
            (ticker,), lambda: _cancel(orders, order_id, ticker, stamp), booked, Urgency.EXIT
        )

    def _booked(
        self,
        ticker: str,
        order_id: str,
        reason: str,
        cancelled: _Cancelled,
        *,
        withdraw: bool = False,
    ) -> Decimal | None:
        """A cancel's answer in the state file and the view; what it gave back when the order
        went (`booked_cancelled`), None when it did not."""
        exc, sent_at = cancelled.error, cancelled.sent_at
        if exc is None:
            self._guard.ok(sent_at)
            assert cancelled.result is not None
            return self.booked_cancelled(ticker, order_id, cancelled.result.reduced_by, reason)
        if withdraw:
            self._counters.errors += 1
        else:
            self._guard.failed(exc, sent_at)
        self._log.emit(
            "cancel_failed", {"ticker": ticker, "order_id": order_id, "error": exc.one_line()}
        )
        if cancelled.read_back is not None:
            self._read_back(order_id, cancelled.read_back, sent_at)
        return None

    def booked_cancelled(
        self, ticker: str, order_id: str, reduced_by: Decimal, reason: str
    ) -> Decimal:
        """An order the exchange said it cancelled (one DELETE, or an item of a batch), in the
        state file and the view; what the cancel gave back: what the contracts it cancelled
        held (`held_by`, against the market's position; none for an order the view does not
        hold, whose terms it does not know), the exchange's as it answers, whatever filled
        before it landed."""
        self._counters.cancels += 1
        believed = self._portfolio.orders.get(order_id)
        if believed is not None and reduced_by < believed.remaining:
            # fewer cancelled than the view had resting: the rest filled, unseen so far
            self.shortfalls += 1
            self._fills.applied.may_have_filled(believed, believed.remaining - reduced_by)
            self._fills.due.set()
        gave = ZERO
        if believed is not None:
            held, _ = self._portfolio.view(ticker).held_at_exchange()
            gave = held_by(believed.view, reduced_by, held)
        book_cancel(self._store, order_id)
        self._portfolio.update_order(order_id, remaining=ZERO, status="canceled")
        self._log.emit(
            "order_cancelled",
            {"ticker": ticker, "order_id": order_id, "reduced_by": reduced_by, "reason": reason},
        )
        return gave

    def booked_gone(self, ticker: str, order_id: str) -> None:
        """An order the exchange no longer lists as resting (its group triggered, cancelled by
        a request whose answer was lost, or filled): no longer resting in the view; the fills
        read next say how much of it filled."""
        self._gone(order_id)
        book_cancel(self._store, order_id)
        self._portfolio.update_order(order_id, remaining=ZERO, status="canceled")
        self._fills.due.set()
        self._log.emit("order_gone", {"ticker": ticker, "order_id": order_id})

    def _gone(self, order_id: str) -> None:
        """The view's order is no longer resting and may have filled, by how much the fills
        read next say: until then, all it had resting counts toward the limits as filled."""
        believed = self._portfolio.orders.get(order_id)
        if believed is not None:
            self._fills.applied.may_have_filled(believed, believed.remaining)

    def _read_back(self, order_id: str, answer: CallAnswer[Order], sent_at: float) -> None:
        """A cancel refused because the order is no longer resting (filled, or gone): the
        `user_orders` message saying so was missed or is still on its way, so the order was
        asked for once (`_cancel`). Left as it was, the loop would count it as resting and
        try to cancel it on every tick."""
        order = read_back(answer, order_id, self._portfolio, self._guard, sent_at)
        if order is None:
            return
        book_cancel(self._store, order_id, order)
        if order.status == "resting":
            # the refusal says it no longer rests: this read lags the write that ended it
            # (reads lag writes on Kalshi), and is not booked; the view stops counting it as
            # resting, and fills decide what it became
            self._gone(order_id)
            self._portfolio.update_order(order_id, remaining=ZERO, status="canceled")
            self._fills.due.set()
            return
        believed = self._portfolio.orders.get(order_id)
        if believed is not None and order.fill_count > 0:
            self._fills.applied.told_filled(believed, order.fill_count)
        self._portfolio.update_order(order_id, remaining=order.remaining_count, status=order.status)
        if order.fill_count > 0:
            self._fills.due.set()


def read_back(
    answer: CallAnswer[Order],
    order_id: str,
    portfolio: Portfolio,
    guard: CallGuard,
    sent_at: float,
) -> Order | None:
    """An order read back after a refusal that may say it no longer rests (of a cancel, or of
    an amend), as the exchange shows it; None when the exchange does not know it (the view
    drops it: it is gone) or the read failed (the API error guard is told). `sent_at`: when
    the refused call was sent (the read went out after it): the guard hears the read's answer
    as of then, so it vouches for no call sent while the two were out."""
    try:
        order = answer.get()
    except NotFoundError:
        portfolio.update_order(order_id, remaining=ZERO, status="canceled")
        return None
    except KalshiError as exc:
        guard.failed(exc, sent_at)
        return None
    guard.ok(sent_at)
    return order


@dataclass(frozen=True)
class _Cancelled:
    """One cancel's answer (`_cancel`): the exchange's result, or its error and, for a refusal
    that says the order no longer rests, the order read back; `sent_at`, when it left (a
    worker took it: a cancel may wait for one behind calls sent after it, and answered)."""

    sent_at: float
    result: CancelResult | None = None
    error: KalshiError | None = None
    read_back: CallAnswer[Order] | None = None


def _cancel(
    orders: OrderCalls, order_id: str, ticker: str, stamp: Callable[[], float]
) -> _Cancelled:
    """The exchange's part of one cancel, alone (no state file, no view): safe on a worker.
    `stamp`: the API error guard's clock, read as the cancel leaves."""
    cancelled = run_call(partial(orders.cancel_order, order_id, ticker=ticker), stamp)
    exc, sent_at = cancelled.error, cancelled.sent_at
    if exc is None:
        return _Cancelled(sent_at, result=cancelled.value)
    if not isinstance(exc, KalshiError):
        raise exc
    if isinstance(exc, (BadRequestError, NotFoundError)):
        read_back = run_call(partial(orders.get_order, order_id), stamp)
        return _Cancelled(sent_at, error=exc, read_back=read_back)
    return _Cancelled(sent_at, error=exc)
