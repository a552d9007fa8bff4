"""Cancels for the trade loop's `Executor` (runner/execution.py): one the strategy decided,
the orders an intent replaces (all must go before it is sent), and the loop's withdrawals and
shutdown cancels; a cancel refused because the order no longer rests reads the order back.
"""

from __future__ import annotations

from collections.abc import Iterable

from kalshi_cli.errors import BadRequestError, KalshiError, NotFoundError
from kalshi_cli.models import ZERO
from kalshi_cli.runner.executor_base import ExecutorBase
from kalshi_cli.strategies import Cancel


class Cancels(ExecutorBase):
    def cancel(self, decision: Cancel) -> bool:
        if self.dry_run:
            self.log.emit(
                "dry_run_cancel", {"ticker": decision.ticker, "order_id": decision.order_id}
            )
            return True
        return self._cancel_all(decision.ticker, (decision.order_id,), decision.reason)

    def _cancel_all(self, ticker: str, order_ids: Iterable[str], reason: str) -> bool:
        ok = True
        for order_id in order_ids:
            ok = self.cancel_order(ticker, order_id, reason) and ok
        return ok

    def cancel_order(
        self, ticker: str, order_id: str, reason: str, *, withdraw: bool = False
    ) -> bool:
        """Cancel one order. A `withdraw` (a quote pulled because trading is blocked) goes out
        whatever the backoff, and its failure neither extends the backoff nor counts toward
        SAFE_MODE: the loop tries it again on its next pass, and the client's rate limiter
        still paces it."""
        try:
            result = self.client.cancel_order(order_id, ticker=ticker)
        except KalshiError as exc:
            if withdraw:
                self.counters.errors += 1
            else:
                self._failed(exc)
            self.log.emit(
                "cancel_failed", {"ticker": ticker, "order_id": order_id, "error": exc.one_line()}
            )
            if isinstance(exc, (BadRequestError, NotFoundError)):
                self._refresh_order(order_id)
            return False
        self._ok()
        self.counters.cancels += 1
        believed = self.portfolio.orders.get(order_id)
        if believed is not None and result.reduced_by < believed.remaining:
            # fewer cancelled than the view had resting: the rest filled, unseen so far
            self._cancel_shortfalls += 1
            self.fills_due = True
        self.store.orders.update_order(order_id=order_id, status="canceled", remaining_count=ZERO)
        self.portfolio.update_order(order_id, remaining=ZERO, status="canceled")
        self.log.emit(
            "order_cancelled",
            {
                "ticker": ticker,
                "order_id": order_id,
                "reduced_by": result.reduced_by,
                "reason": reason,
            },
        )
        return True

    def _refresh_order(self, order_id: str) -> None:
        """A cancel refused because the order is no longer resting (filled, or gone): the
        `user_orders` message saying so was missed or is still on its way, so ask for the
        order once. Left as it was, the loop would count it as resting and try to cancel it on
        every tick."""
        try:
            order = self.client.get_order(order_id)
        except NotFoundError:
            self.portfolio.update_order(order_id, remaining=ZERO, status="canceled")
            return
        except KalshiError as exc:
            self._failed(exc)
            return
        self._ok()
        if order.status == "resting":
            # the refusal says it no longer rests: this read lags the write that ended it
            # (reads lag writes on Kalshi). Not written back; the view stops counting it, and
            # fills decide what it became
            self.portfolio.update_order(order_id, remaining=ZERO, status="canceled")
            self.fills_due = True
            return
        self.store.orders.update_order(
            order_id=order_id,
            status=order.status,
            fill_count=order.fill_count,
            remaining_count=order.remaining_count,
        )
        self.portfolio.update_order(order_id, remaining=order.remaining_count, status=order.status)
        if order.fill_count > 0:
            self.fills_due = True
