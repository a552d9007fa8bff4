"""The trade loop's stop: one deadline, withdraw everything at once, then prove it with a listing.

Every exchange call of the stop runs under one `clock.Deadline` (`trade.stop_deadline_s`):

1. trigger the session's order group, or without one cancel the loop's orders in batches, each
   within its share (runner/loop/stop_batches.py);
2. look up the orders of unknown outcome while the withdrawal share lasts, cancelling each
   found resting;
3. list the resting orders and cancel the loop's still there side by side on worker threads
   (the state file and the view are written only on the loop's thread);
4. the proof: one more listing. An order of the loop in it, or no listing at all, is not proven
   gone (`StopProof.left`, `StopProof.unlisted`): `kalshi trade` exits NOT_PROVEN (11), logged
   (`stop_not_proven`) and alerted.

The proof keeps a share of the deadline for itself and retries a listing that may pass
(`vocabulary.errors.MAY_PASS`); only a listing read in full proves. A second SIGINT or SIGTERM
(`abandon`) gives the stop up at once (`unless_given_up`). Reads lag writes (`read_lag`), so an
order whose withdrawal failed counts as gone only from a listing asked a read lag after the
stop began.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from kalshi_cli.runner.execution.give_up import (
    ABANDON_CHECK_S,
    GivenUp,
    pause_unless_given_up,
    unless_given_up,
)
from kalshi_cli.runner.execution.order_group import trigger_each
from kalshi_cli.runner.execution.stop_shares import STOP_SHARES
from kalshi_cli.runner.loop.stop_batches import batch_cancel_at_stop
from kalshi_cli.runner.loop.stop_proof import StopProof
from kalshi_cli.runner.ports import own_book
from kalshi_cli.store.errors import is_state_failure
from kalshi_cli.store.records import FINISHED_STATUSES, RESTING
from kalshi_cli.vocabulary.clock import Backoff, Deadline
from kalshi_cli.vocabulary.errors import (
    MAY_PASS,
    KalshiError,
    NotFoundError,
    raise_reported,
    reported,
)
from kalshi_cli.vocabulary.process import side_by_side

if TYPE_CHECKING:
    from kalshi_cli.client.requests import CancelResult
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.execution.order_group import TriggersGroup
    from kalshi_cli.runner.execution.own_orders import OwnOrders
    from kalshi_cli.runner.execution.unknown_orders import Looked, LostAnswer
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.runner.ports import LoopClient
    from kalshi_cli.services.pretrade.books import OpenOrder
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.models import Order

# the jitter of the waits between the proof's listings (`LIST_AGAIN`)
_RNG = random.Random()

# cancels of what the first withdrawal left, at once (the client's rate limiter still paces)
STOP_WORKERS = 4
# the waits between the proof's listings when one fails with what may pass (`MAY_PASS`)
LIST_AGAIN = Backoff(0.1, 1.0)
# why no listing proved a stop a second SIGINT or SIGTERM gave up (`StopProof.unlisted`)
GIVEN_UP = "given up by a second interrupt before its listing"


class StoppingLoop(Protocol):
    """What a stop reads of the loop (runner/loop/shutdown.py `LoopStop`)."""

    client: LoopClient
    clock: Clock
    log: EntryLog
    executor: LoopExecutor
    trigger_group: TriggersGroup | None
    own: OwnOrders

    @property
    def settings(self) -> LoopSettings: ...

    @property
    def store(self) -> Store: ...


def withdraw_at_stop(
    loop: StoppingLoop, whole: Deadline, abandon: threading.Event | None = None
) -> StopProof:
    """Withdraw every resting order this loop placed and prove none is left, within the stop's
    one deadline `whole`, which the caller runs under (module docstring)."""
    # every order the loop placed was answered before the stop began (one still out is of
    # unknown outcome): a listing asked a read lag later shows each that rests
    shows_all_from = loop.clock.monotonic() + loop.settings.read_lag_s
    proof_s = min(STOP_SHARES.proof_most_s, whole.remaining() * STOP_SHARES.proof)
    failed: Exception | None = None
    with Deadline.within(loop.clock, max(whole.remaining() - proof_s, 0.0)):
        try:
            triggered = _withdraw(loop, abandon, shows_all_from)
        except Exception as exc:  # a bug must not leave the quotes resting
            if is_state_failure(exc):
                raise  # the stop that writes nothing takes over (runner/loop/state_fault.py)
            # any other (a store error on an order row too: a bug) is withdrawn past
            loop.log.emit("stop_withdrawal_failed", {"error": repr(exc)})
            failed, triggered = exc, False
            still = loop.own.resting()
            if still and not (abandon is not None and abandon.is_set()):
                _cancel_side_by_side(loop, still, abandon)
    if abandon is not None and abandon.is_set():
        return _given_up(loop, triggered=triggered, failed=failed)
    try:
        proof = _prove(
            loop, refused_later=triggered, shows_all_from=shows_all_from, abandon=abandon
        )
    except GivenUp:  # interrupted again while the proof's listing was out
        return _given_up(loop, triggered=triggered, failed=failed)
    return proof if failed is None else replace(proof, failed=failed)


def _given_up(loop: StoppingLoop, *, triggered: bool, failed: Exception | None) -> StopProof:
    """What a stop a second SIGINT or SIGTERM gave up names: the loop's orders it believes
    resting, and those of unknown outcome the triggered group will not refuse, said in one
    `shutdown_abandoned` line whatever step was given up: here alone, so a stop given up
    always says so, and once."""
    resting = tuple(sorted(_believed_resting(loop)))
    # an order of unknown outcome given up on may still land, unless the triggered group
    # refuses it: it is not proven gone, so it is named as a resting one is
    unknown = () if triggered else tuple(sorted(loop.executor.unknown_orders.unknown))
    loop.log.emit(
        "shutdown_abandoned", {"left_resting": list(resting), "unknown_left": list(unknown)}
    )
    return StopProof(resting + unknown, abandoned=True, unlisted=GIVEN_UP, failed=failed)


def _withdraw(loop: StoppingLoop, abandon: threading.Event | None, shows_all_from: float) -> bool:
    """Everything at once, the unknown looked up, what is left side by side. Whether every one
    of the session's order groups was triggered (they then refuse an order that lands later)."""
    if abandon is not None and abandon.is_set():
        return False  # interrupted again before the stop began: the person will not wait
    own = loop.own.resting()
    answers = loop.executor.answers
    groups = answers.order_groups
    # the triggers within their share, as the kill switch's: a group service that does not
    # answer must leave time to cancel what they did not withdraw
    share_s = STOP_SHARES.triggers * loop.settings.stop_deadline_s
    try:
        with Deadline.within(loop.clock, share_s):
            untriggered = trigger_each(loop.trigger_group, groups, loop.log, len(own), abandon)
    except GivenUp:
        return False  # it may yet be triggered: nothing is taken as refused
    done = set(groups.values()) - untriggered
    triggered = bool(groups) and not untriggered
    # a triggered group cancels its own orders: the others are cancelled here
    rest = [o for o in own if answers.group_of(o.ticker) not in done]
    if rest:
        try:
            batch_cancel_at_stop(loop, rest, abandon)
        except GivenUp:
            return False
    unknown = loop.executor.unknown_orders
    if unknown.unknown and not (abandon is not None and abandon.is_set()):
        # with the group, one look (the triggered group refuses what lands later); without,
        # until each is found or can no longer land, within this share of the deadline; each
        # found resting is cancelled as it is found, while the wait for the others goes on
        withdrawn = {o.order_id for o in loop.own.resting()}
        unknown.see_through(
            abandon,
            wait=not groups,
            after_look=partial(_cancel_found, loop, withdrawn, abandon),
            looks=partial(_looked_unless_given_up, unknown.look, abandon),
        )
    if abandon is not None and abandon.is_set():
        return triggered
    own_left = {o.order_id: o for o in loop.own.resting()}
    trusted_from = -math.inf if triggered else shows_all_from
    still = _resting_of(loop, own_left, trusted_from=trusted_from, abandon=abandon)
    if still:
        _cancel_side_by_side(loop, still, abandon)
    return triggered


def _cancel_found(loop: StoppingLoop, withdrawn: set[str], abandon: threading.Event | None) -> None:
    """The loop's orders a look at the orders of unknown outcome just found resting (those
    not in `withdrawn`, which it then holds), cancelled side by side at once: waited for until
    the others are settled, the wait could spend the withdrawal's whole share of the deadline,
    leaving nothing to cancel them with."""
    found = [o for o in loop.own.resting() if o.order_id not in withdrawn]
    withdrawn.update(o.order_id for o in found)
    if found:
        _cancel_side_by_side(loop, found, abandon)


def _looked_unless_given_up(
    look: Callable[[dict[str, LostAnswer]], Looked],
    abandon: threading.Event | None,
    lost: dict[str, LostAnswer],
) -> Looked:
    """The lookups of the orders of unknown outcome (`UnknownOrders.look`), none when a second
    interrupt comes while they are out: nothing was seen of them, and the wait ends."""
    try:
        return unless_given_up(partial(look, lost), abandon)
    except GivenUp:
        return []


def _resting_of(
    loop: StoppingLoop,
    own: dict[str, OpenOrder],
    *,
    trusted_from: float,
    abandon: threading.Event | None = None,
) -> list[OpenOrder]:
    """The loop's orders the exchange still lists as resting; those it no longer lists are
    booked as gone (fills read afterwards say what each became). When the listing fails, or
    was asked before `trusted_from` (reads lag writes: an order placed just before the stop,
    whose withdrawal failed, may not be listed yet), or a second interrupt comes while it is
    out, every order is taken as still resting."""
    if not own:
        return []
    if loop.clock.monotonic() < trusted_from:
        return list(own.values())  # a listing now may not show them yet
    try:
        listed = {o.order_id for o in _resting_listed(loop, abandon)}
    except KalshiError as exc:
        loop.log.emit("stop_listing_failed", {"error": exc.one_line()})
        return list(own.values())
    except GivenUp:
        return list(own.values())
    for order_id, order in own.items():
        if order_id not in listed:
            loop.executor.cancels.booked_gone(order.ticker, order_id)
    return [o for oid, o in own.items() if oid in listed]


def _cancel_side_by_side(
    loop: StoppingLoop, orders: Iterable[OpenOrder], abandon: threading.Event | None
) -> None:
    """One cancel per order on worker threads, each under the deadline the caller runs in (a
    context variable: copied into every task); the answers are booked here, on the loop's
    thread, as they come. `abandon` set (a second SIGINT or SIGTERM) ends the wait for them
    at once: the cancels not answered yet are not booked (their orders stay believed resting,
    to be named), and those not started are not made."""
    cancel = loop.client.orders.cancel_order
    orders = list(orders)
    calls = [partial(cancel, o.order_id, ticker=o.ticker) for o in orders]
    futures = dict(zip(side_by_side(calls, STOP_WORKERS, name="stop-cancel"), orders, strict=True))
    pending: set[Future[CancelResult]] = set(futures)
    try:
        while pending and not (abandon is not None and abandon.is_set()):
            done, pending = wait(pending, timeout=ABANDON_CHECK_S, return_when=FIRST_COMPLETED)
            for future in done:
                _book_cancel(loop, futures[future], future)
    finally:
        # the cancels not started are not made; one still out when the wait was given up is
        # not waited for, here or at the process's exit: the deadline it runs under bounds it
        for future in pending:
            future.cancel()


def _book_cancel(loop: StoppingLoop, order: OpenOrder, future: Future[CancelResult]) -> None:
    """One of the stop's cancels answered, in the state file and the view."""
    try:
        result = future.result()
    except NotFoundError:
        loop.executor.cancels.booked_gone(order.ticker, order.order_id)
        return
    except KalshiError as exc:
        loop.log.emit(
            "cancel_failed",
            {"ticker": order.ticker, "order_id": order.order_id, "error": exc.one_line()},
        )
        return
    loop.executor.cancels.booked_cancelled(
        order.ticker, order.order_id, result.reduced_by, "shutdown"
    )


def _wait_until(loop: StoppingLoop, at: float) -> None:
    """Sleep until the loop's clock reaches `at`, but not past the deadline the caller runs
    under (the listing after it needs the time that is left)."""
    wait = at - loop.clock.monotonic()
    deadline = Deadline.current()
    if deadline is not None:
        wait = min(wait, deadline.remaining() / 2)
    if wait > 0:
        loop.clock.sleep(wait)


def _resting_listed(loop: StoppingLoop, abandon: threading.Event | None) -> list[Order]:
    """The orders the loop's subaccount has resting, as one listing shows them (`GivenUp`
    when a second interrupt comes first)."""
    # the loop's subaccount's: a quote of its strategy's on another is another book's
    orders = own_book(loop.client).orders
    return unless_given_up(lambda: list(orders.iter_orders(status="resting")), abandon)


def _listed_again_if_it_may_pass(
    loop: StoppingLoop, abandon: threading.Event | None
) -> tuple[float, list[Order]]:
    """When the proof's listing was asked, and what it showed: listed again after a failure that may
    pass (`MAY_PASS`) while the caller's deadline leaves time for the wait; once it does not, the
    last failure is raised (`reported`). Only a listing read in full is returned, so none
    that failed is proof. A second interrupt raises `GivenUp`."""
    attempt = 0
    before: KalshiError | None = None
    while True:
        asked = loop.clock.monotonic()
        try:
            return asked, _resting_listed(loop, abandon)
        except MAY_PASS as exc:
            attempt += 1
            deadline = Deadline.current()
            wait = None if deadline is None else LIST_AGAIN.next_delay(attempt, None, _RNG)
            if wait is None:
                raise_reported(exc, before)
            before = reported(exc, before)
            loop.log.emit("stop_listing_again", {"error": exc.one_line(), "attempt": attempt})
            pause_unless_given_up(loop.clock, wait, abandon)


def _believed_resting(loop: StoppingLoop) -> set[str]:
    """The loop's orders it or its state file holds resting, for a stop that has no listing to
    prove with (given up first, or the listing failed): the view's, and those the state file
    records resting on the loop's subaccount under one of its strategies' names. An earlier
    run's quote in a market this run does not trade is in no view (the start says the stop
    names it), and only the proof's listing would otherwise have found it."""
    here = loop.client.subaccount or 0
    recorded = {
        intent.order_id
        for intent in loop.store.orders.open_orders(subaccount=here)
        if intent.status == RESTING
        and intent.order_id
        and loop.own.names_ours(intent.client_order_id)
    }
    return {o.order_id for o in loop.own.resting()} | recorded


def _ended(store: Store, order_id: str) -> bool:
    """The state file records the order as finished (executed, cancelled or refused)."""
    row = store.orders.intent_by_order_id(order_id)
    return row is not None and row.status in FINISHED_STATUSES


def _strays(
    loop: StoppingLoop, listed: Iterable[Order], believed: Collection[str], found: Collection[str]
) -> set[str]:
    """The listed orders under one of the loop's names its view does not hold (an earlier run's,
    or one its books lost track of): the loop's all the same. Not one the state file knows ended
    (an answer said so): reads lag writes, and a listing may still show it."""
    return {
        o.order_id
        for o in listed
        if o.order_id not in believed
        and o.client_order_id not in found
        and loop.own.names_ours(o.client_order_id)
        and not _ended(loop.store, o.order_id)
    }


def _prove(
    loop: StoppingLoop,
    *,
    refused_later: bool,
    shows_all_from: float,
    abandon: threading.Event | None = None,
) -> StopProof:
    """The loop's orders one listing shows resting, or all it believes resting when no listing could
    be had (which proves nothing): the stop's proof. An order of unknown outcome the listing does
    not show is not proven gone either, unless the triggered order group will refuse it
    (`refused_later`). An order whose cancel failed is proven gone only by a listing asked from
    `shows_all_from` on. A second interrupt raises `GivenUp`."""
    believed = {o.order_id: o for o in loop.own.resting()}
    found = loop.executor.unknown_orders.unknown  # may rest: only a listing can say
    if believed and not refused_later:
        _wait_until(loop, shows_all_from)
    try:
        asked, listed = _listed_again_if_it_may_pass(loop, abandon)  # `GivenUp`: the caller's
    except KalshiError as exc:
        left = tuple(sorted(_believed_resting(loop)))
        loop.log.emit(
            "stop_not_proven",
            {"left_resting": list(left), "unknown": sorted(found), "error": exc.one_line()},
        )
        return StopProof(left + tuple(sorted(found)), unlisted=f"its listing failed: {exc.message}")
    resting = {o.order_id for o in listed}
    if asked < shows_all_from and not refused_later:
        resting |= set(believed)  # not listed yet is not gone
    mine = (
        set(found)
        if not refused_later
        else {o.client_order_id for o in listed if o.client_order_id in found}
    )
    for order_id, order in believed.items():
        if order_id not in resting:
            loop.executor.cancels.booked_gone(order.ticker, order_id)
    strays = _strays(loop, listed, believed, found)
    left = tuple(sorted(oid for oid in believed if oid in resting))
    left += tuple(sorted(strays)) + tuple(sorted(mine))
    if left:
        fields: dict[str, Any] = {"left_resting": list(left)}
        if strays:
            fields["not_in_view"] = sorted(strays)
        loop.log.emit("stop_not_proven", fields)
    else:
        loop.log.emit("stop_proven", {"listed_resting": len(resting)})
    return StopProof(left)
