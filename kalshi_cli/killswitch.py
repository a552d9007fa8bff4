"""The kill switch: halt, cancel everything, then prove nothing is left.

Order of operations, each step for a reason:

1. Set the trading state to HALTED in the state file first, so a running trade loop (which reads
   the state before every order) stops placing while we cancel. This works on a fresh machine:
   the state file is created if it does not exist.
2. Cancel. With no filter, the resting orders are listed once (so the report can say what was
   cancelled) and the exchange's own cancel-all does the work in one request. With `--ticker` or
   `--event`, the resting orders are listed and cancelled in batches.
3. Prove it: list resting orders again (with the same filter); cancel whatever is still there;
   repeat until a listing comes back empty or the deadline passes, backing off between rounds
   after the second (an order that cannot be cancelled is retried, not hammered).

Every request is retried through 429, 5xx and transport errors with backoff until the deadline
(the client's own retries run inside each attempt, so the deadline can be overshot by one
call's retry budget). Only an empty listing counts as proof: `proven` is False in every other
case, including when the exchange could not be reached at all (`unreachable`).

What the state file learns: every order the exchange confirms cancelled is marked `canceled` in
one transaction (a thousand single commits would each pay an fsync). After the exchange's
cancel-all, that is every order of the first listing that no later listing shows resting; an
order that filled in the same instant is corrected by `kalshi reconcile` (fills and P&L come
from fills, never from these rows).
"""

from __future__ import annotations

import random
from contextlib import suppress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from kalshi_cli.errors import ApiError, KalshiError, RateLimitedError, ServerError, TransportError
from kalshi_cli.models import ZERO

if TYPE_CHECKING:
    from collections.abc import Callable

    from kalshi_cli.client import KalshiClient
    from kalshi_cli.clock import Clock
    from kalshi_cli.models import Order
    from kalshi_cli.store import Store

T = TypeVar("T")


@dataclass
class KillReport:
    proven: bool = False
    cancelled: list[str] = field(default_factory=list)
    contracts_cancelled: Decimal = ZERO
    left: list[str] = field(default_factory=list)
    rounds: int = 0
    errors: list[str] = field(default_factory=list)
    unreachable: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "proven": self.proven,
            "cancelled": self.cancelled,
            "cancelled_count": len(self.cancelled),
            "contracts_cancelled": str(self.contracts_cancelled),
            "left": self.left,
            "left_count": len(self.left),
            "rounds": self.rounds,
            "errors": self.errors,
            "unreachable": self.unreachable,
        }


class _DeadlinePassed(Exception):
    pass


class KillSwitch:
    def __init__(
        self,
        client: KalshiClient,
        store: Store | None,
        clock: Clock,
        *,
        deadline_s: float = 120.0,
        batch_size: int = 20,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        self.deadline_s = deadline_s
        self.batch_size = batch_size
        self._rng = rng or random.Random()

    def run(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        source: str = "cancel-all",
        on_progress: Callable[[str], None] | None = None,
    ) -> KillReport:
        report = KillReport()
        if self.store is not None:
            # first, so a running trade loop stops placing while we cancel
            scope = ticker or event_ticker or "all markets"
            self.store.set_trading_state("HALTED", reason=f"kill switch ({scope})", source=source)
            self.store.log_event("kill_switch", {"ticker": ticker, "event_ticker": event_ticker})
        deadline = self.clock.monotonic() + self.deadline_s
        say = on_progress or (lambda _msg: None)
        listed: dict[str, Order] = {}
        latest: set[str] | None = None  # order ids of the latest listing after any cancel-all

        def list_resting() -> list[Order]:
            orders = self._retry(
                lambda: list(
                    self.client.iter_orders(
                        ticker=ticker, event_ticker=event_ticker, status="resting"
                    )
                ),
                deadline,
                report,
            )
            for order in orders:
                listed.setdefault(order.order_id, order)
            return orders

        cancel_all_sent = False
        try:
            if ticker is None and event_ticker is None:
                # a failed first listing must not hold back the cancel-all itself
                with suppress(_DeadlinePassed):
                    list_resting()
                self._retry(self.client.cancel_all_orders, deadline, report)
                cancel_all_sent = True
                say(f"exchange cancel-all sent ({len(listed)} resting before)")
            while True:
                report.rounds += 1
                resting = list_resting()
                latest = {o.order_id for o in resting}
                report.left = [o.order_id for o in resting]
                if not resting:
                    report.proven = True
                    break
                say(f"round {report.rounds}: {len(resting)} resting, cancelling")
                self._cancel_batch(resting, deadline, report)
                if report.rounds > 1:
                    # an order the exchange keeps refusing to cancel must not turn the proof
                    # into a loop that spends the whole rate budget until the deadline
                    self._pause(report.rounds - 1, deadline)
                if self.clock.monotonic() >= deadline:
                    raise _DeadlinePassed
        except _DeadlinePassed:
            report.proven = False
        if cancel_all_sent and latest is not None:
            confirmed = set(report.cancelled)
            for order_id, order in listed.items():
                if order_id not in latest and order_id not in confirmed:
                    report.cancelled.append(order_id)
                    report.contracts_cancelled += order.remaining_count
        self._record(report)
        return report

    def _record(self, report: KillReport) -> None:
        if self.store is None:
            return
        with self.store.transaction():
            for order_id in report.cancelled:
                self.store.update_order(order_id=order_id, status="canceled", remaining_count=ZERO)
            self.store.log_event("kill_switch_result", report.to_json())

    def _cancel_batch(self, orders: list[Order], deadline: float, report: KillReport) -> None:
        for start in range(0, len(orders), self.batch_size):
            chunk = orders[start : start + self.batch_size]
            results = self._retry(
                lambda chunk=chunk: self.client.batch_cancel(  # type: ignore[misc]
                    [(o.order_id, o.ticker) for o in chunk]
                ),
                deadline,
                report,
            )
            for r in results:
                if r.error is None:
                    report.cancelled.append(r.order_id)
                    report.contracts_cancelled += r.reduced_by
                else:
                    report.errors.append(f"{r.order_id}: {r.error}")

    def _retry(self, call: Callable[[], T], deadline: float, report: KillReport) -> T:
        attempt = 0
        while True:
            try:
                result = call()
                report.unreachable = False
                return result
            except (RateLimitedError, ServerError, TransportError) as exc:
                report.errors.append(exc.one_line())
                report.unreachable = isinstance(exc, TransportError)
            except ApiError as exc:
                # a 4xx other than 429 will not get better by retrying
                report.errors.append(exc.one_line())
                raise _DeadlinePassed from None
            except KalshiError as exc:
                report.errors.append(exc.one_line())
                raise _DeadlinePassed from None
            attempt += 1
            self._pause(attempt, deadline)

    def _pause(self, attempt: int, deadline: float) -> None:
        """Back off before trying again (full jitter, capped at 2 s); past the deadline, stop."""
        delay = self._rng.uniform(0, min(2.0, 0.05 * 2**attempt))
        if self.clock.monotonic() + delay >= deadline:
            raise _DeadlinePassed
        self.clock.sleep(delay)
