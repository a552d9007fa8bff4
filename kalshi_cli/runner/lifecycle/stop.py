"""The trade loop's stop: one deadline, withdraw everything at once, then what is left side by
side, then prove it with one listing.

A stop used to cancel its quotes one DELETE at a time (each cut at the client's timeout),
wait for orders of unknown outcome, then run the whole list again: 78 s for 9 quotes against an
exchange answering slowly, half-way through which the shipped unit's `TimeoutStopSec=30` had
SIGKILLed it, and its exit 0 said nothing of the 2 quotes still resting. Now every exchange call
of the stop runs under one `clock.Deadline` (`trade.stop_deadline_s`, 20 s by default, inside
the unit's 30 s with room for the process to exit):

1. at once: trigger the session's order group (the exchange cancels every order in it), or
   without one cancel the loop's resting orders in batch requests;
2. the orders of unknown outcome are looked up (waited for without a group) until the
   deadline's withdrawal share is spent;
3. one listing of the resting orders; the loop's still there are cancelled side by side, each
   cancel on a worker thread under the same deadline (the client is thread-safe; the state
   file and the view are written only here, on the loop's thread);
4. the proof: one listing under what the deadline leaves. An order of the loop in it, or no
   listing at all, is an order not proven gone: the stop names them (`StopProof.left`), and
   `kalshi trade` exits NOT_PROVEN (11) with their ids, logged (`stop_not_proven`) and alerted.

The proof keeps a share of the deadline for itself, so a slow exchange cannot spend it all on
the withdrawal and leave nothing to look with.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol, TypeVar

from kalshi_cli.vocabulary.clock import Deadline
from kalshi_cli.vocabulary.errors import KalshiError, NotFoundError
from kalshi_cli.vocabulary.exit_codes import ExitCode

if TYPE_CHECKING:
    from kalshi_cli.runner.books.eventlog import EventLog
    from kalshi_cli.runner.books.portfolio import OpenOrder
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.ports import LoopClient
    from kalshi_cli.vocabulary.clock import Clock

T = TypeVar("T")

# cancels of what the first withdrawal left, at once (the client's rate limiter still paces)
STOP_WORKERS = 4
# the share of the stop deadline kept for the proving listing, at most this many seconds
PROOF_SHARE = 0.25
PROOF_MAX_S = 5.0


class StopNotProven(KalshiError):
    """`kalshi trade` stopped without proving every order of its own gone (exit 11)."""

    exit_code = ExitCode.NOT_PROVEN

    def __init__(self, left: tuple[str, ...]) -> None:
        super().__init__(
            f"the stop could not prove {len(left)} order(s) of the loop gone: {', '.join(left)}",
            hint="`kalshi cancel-all` withdraws and proves; runbooks/14-stop-not-proven.md",
        )
        self.left = left


class StoppingLoop(Protocol):
    """What a stop reads of the loop (runner/loop.py `TradeLoop`)."""

    client: LoopClient
    clock: Clock
    log: EventLog
    executor: LoopExecutor
    trigger_group: Callable[[], None] | None

    def own_resting(self) -> list[OpenOrder]: ...


@dataclass(frozen=True)
class StopProof:
    """What a stop proved: `left`, the loop's orders not proven gone (empty: proven)."""

    left: tuple[str, ...] = ()
    abandoned: bool = False

    @property
    def proven(self) -> bool:
        return not self.left


def withdraw_at_stop(loop: StoppingLoop, abandon: threading.Event | None = None) -> StopProof:
    """Withdraw every resting order this loop placed and prove none is left, within the
    deadline the caller runs under (`Deadline.current()`; module docstring)."""
    whole = Deadline.current()
    if whole is not None:
        proof_s = min(PROOF_MAX_S, whole.remaining() * PROOF_SHARE)
        with Deadline.within(loop.clock, max(whole.remaining() - proof_s, 0.0)):
            triggered = _withdraw(loop, abandon)
    else:
        triggered = _withdraw(loop, abandon)
    if abandon is not None and abandon.is_set():
        left = tuple(sorted(o.order_id for o in loop.own_resting()))
        if left or not loop.executor.unknown_orders.unknown:  # else see_through said it
            loop.log.emit("shutdown_abandoned", {"left_resting": list(left)})
        return StopProof(left, abandoned=True)
    return StopProof(_prove(loop, refused_later=triggered))


def _withdraw(loop: StoppingLoop, abandon: threading.Event | None) -> bool:
    """Everything at once, the unknown looked up, what is left side by side. Whether the
    session's order group was triggered (it then refuses an order that lands later)."""
    if abandon is not None and abandon.is_set():
        return False  # interrupted again before the stop began: the person will not wait
    own = loop.own_resting()
    group = loop.executor.answers.order_group_id
    triggered = False
    if group is not None and loop.trigger_group is not None:
        try:
            loop.trigger_group()
            triggered = True
            loop.log.emit("stop_group_triggered", {"order_group_id": group, "orders": len(own)})
        except KalshiError as exc:
            loop.log.emit("stop_group_trigger_failed", {"error": exc.one_line()})
    if own and not triggered:
        _batch_cancel(loop, own)
    unknown = loop.executor.unknown_orders
    if unknown.unknown and not (abandon is not None and abandon.is_set()):
        # with the group, one look (the triggered group refuses what lands later); without,
        # until each is found or can no longer land, within this share of the deadline
        unknown.see_through(abandon, wait=group is None)
    if abandon is not None and abandon.is_set():
        return triggered
    still = _resting_of(loop, {o.order_id: o for o in loop.own_resting()})
    if still:
        _cancel_side_by_side(loop, still)
    return triggered


def _batch_cancel(loop: StoppingLoop, own: list[OpenOrder]) -> None:
    """The loop's orders in batch cancel requests; each one cancelled is booked so."""
    here = loop.client.subaccount
    pairs: list[tuple[str, str | None]] = [(o.order_id, o.ticker) for o in own]
    where = {o.order_id: here for o in own} if here else None
    try:
        results = loop.client.orders.batch_cancel(pairs, subaccounts=where)
    except KalshiError as exc:
        loop.log.emit("stop_batch_cancel_failed", {"orders": len(own), "error": exc.one_line()})
        return
    tickers = {o.order_id: o.ticker for o in own}
    for result in results:
        if result.error is None and result.order_id in tickers:
            loop.executor.cancels.booked_cancelled(
                tickers[result.order_id], result.order_id, result.reduced_by, "shutdown"
            )


def _resting_of(loop: StoppingLoop, own: dict[str, OpenOrder]) -> list[OpenOrder]:
    """The loop's orders the exchange still lists as resting; those it no longer lists are
    booked as gone (fills read afterwards say what each became). When the listing fails, every
    order is taken as still resting."""
    if not own:
        return []
    try:
        listed = {o.order_id for o in loop.client.orders.iter_orders(status="resting")}
    except KalshiError as exc:
        loop.log.emit("stop_listing_failed", {"error": exc.one_line()})
        return list(own.values())
    for order_id, order in own.items():
        if order_id not in listed:
            loop.executor.cancels.booked_gone(order.ticker, order_id)
    return [o for oid, o in own.items() if oid in listed]


def _cancel_side_by_side(loop: StoppingLoop, orders: Iterable[OpenOrder]) -> None:
    """One cancel per order on worker threads, each under the deadline the caller runs in (a
    context variable: copied into every task); the answers are booked here, on the loop's
    thread, as they come."""
    orders = list(orders)
    cancel = loop.client.orders.cancel_order
    calls = [_in_context(partial(cancel, o.order_id, ticker=o.ticker)) for o in orders]
    with ThreadPoolExecutor(max_workers=STOP_WORKERS, thread_name_prefix="stop") as pool:
        futures = [pool.submit(call) for call in calls]
        for order, future in zip(orders, futures, strict=True):
            try:
                result = future.result()
            except NotFoundError:
                loop.executor.cancels.booked_gone(order.ticker, order.order_id)
                continue
            except KalshiError as exc:
                loop.log.emit(
                    "cancel_failed",
                    {"ticker": order.ticker, "order_id": order.order_id, "error": exc.one_line()},
                )
                continue
            loop.executor.cancels.booked_cancelled(
                order.ticker, order.order_id, result.reduced_by, "shutdown"
            )


def _in_context(call: Callable[[], T]) -> Callable[[], T]:
    """`call` to run on another thread under this thread's context (its deadline)."""
    context = contextvars.copy_context()
    return lambda: context.run(call)


def _prove(loop: StoppingLoop, *, refused_later: bool) -> tuple[str, ...]:
    """The loop's orders one listing shows resting, or all it believes resting when no listing
    could be had: the stop's proof (empty: nothing of the loop's is left). An order of unknown
    outcome the listing does not show is not proven gone either (named by its client order id:
    it may still land), unless the triggered order group will refuse it (`refused_later`)."""
    believed = {o.order_id: o for o in loop.own_resting()}
    found = loop.executor.unknown_orders.unknown  # may rest: only a listing can say
    try:
        listed = list(loop.client.orders.iter_orders(status="resting"))
    except KalshiError as exc:
        left = tuple(sorted(believed))
        loop.log.emit(
            "stop_not_proven",
            {"left_resting": list(left), "unknown": sorted(found), "error": exc.one_line()},
        )
        return left + tuple(sorted(found))
    resting = {o.order_id for o in listed}
    mine = (
        set(found)
        if not refused_later
        else {o.client_order_id for o in listed if o.client_order_id in found}
    )
    for order_id, order in believed.items():
        if order_id not in resting:
            loop.executor.cancels.booked_gone(order.ticker, order_id)
    left = tuple(sorted(oid for oid in believed if oid in resting)) + tuple(sorted(mine))
    if left:
        loop.log.emit("stop_not_proven", {"left_resting": list(left)})
    else:
        loop.log.emit("stop_proven", {"listed_resting": len(resting)})
    return left
