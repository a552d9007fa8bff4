"""Taking an order off the book: cancelling it, or decreasing it (which keeps its place in the
queue; to none, cancels it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

import msgspec

from kalshi_cli.services.orders.context import refuse_an_unknown_scope
from kalshi_cli.services.reconcile import account_resting, book_cancel, listed_subaccounts
from kalshi_cli.store import CancelNotRecorded, StoreError
from kalshi_cli.store.errors import is_state_failure as is_failing
from kalshi_cli.store.records import CANCELED, EXECUTED, RESTING
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.errors import (
    AmendOutcomeUnknown,
    ApiError,
    BadRequestError,
    KalshiError,
    NotFoundError,
    TransportError,
    ValidationError,
    refuses_the_key,
)
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import ZERO, fmt_count

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from kalshi_cli.client.requests import DecreaseResult
    from kalshi_cli.services.orders.amend import ChangeMade, OrderAmends
    from kalshi_cli.services.orders.context import OrderContext
    from kalshi_cli.store import IntentRecord


def _as_decreased(order: Order, result: DecreaseResult) -> Order:
    """The order as a decrease's answer tells it, when it cannot be read back after: the order
    as read before the decrease, with what rests now; none left, cancelled (a decrease to none
    cancels the order)."""
    remaining = max(result.remaining_count, ZERO)
    return msgspec.structs.replace(
        order,
        status=RESTING if remaining > 0 else CANCELED,
        remaining_count=Decimal(fmt_count(remaining)),
    )


@dataclass(frozen=True)
class MarketCancelled:
    """One market's cancel: order id -> contracts taken off the book, the orders whose cancel
    failed, and why the exchange did not confirm the market's spelling (None: it did), in which
    case orders may rest under the spelling it would have named and the cancel is not done."""

    cancelled: dict[str, Decimal]
    unconfirmed: str | None = None
    # order id -> why its cancel failed: it may rest still, and the others were cancelled
    failed: dict[str, KalshiError] = field(default_factory=dict)
    # the state file's failure, once it failed (None: every cancel recorded), and the orders
    # cancelled on the exchange that it does not record (`kalshi reconcile` books them)
    state_fault: StoreError | None = None
    not_recorded: list[str] = field(default_factory=list)


class OrderCancels:
    """The cancels and decreases of an `OrderService`. A decrease is a change of an order
    booked by the amends' rule (`OrderAmends.made`, `OrderAmends.resolve_change`)."""

    def __init__(self, context: OrderContext, amends: OrderAmends) -> None:
        self._context = context
        self._amends = amends

    def _ticker_of(self, order_id: str) -> str | None:
        """The market of an order the state file does not hold, read (None: the read names none,
        the cancel goes by its id alone)."""
        try:
            return self._context.client.orders.get_order(order_id).ticker or None
        except NotFoundError:
            return None  # not found by this read: the cancel says what the exchange says

    def cancel_market(
        self, ticker: str, say: Callable[[str], None] | None = None
    ) -> MarketCancelled:
        """Cancel each resting order of one market through `cancel`: of the client's subaccount
        (`--subaccount N`), else of every subaccount the account has, each listed on its own as
        a reconcile and the kill switch list them (`account_resting`), so an order naming no
        subaccount is cancelled on the one that listed it. Nothing is halted. The market is
        looked up as the kill switch looks up its scope (`refuse_an_unknown_scope`, a failed
        lookup told to `say`): one the exchange does not know is refused; one whose spelling it
        did not confirm is cancelled as typed and the result says it is not done
        (`unconfirmed`). An order whose cancel fails (the exchange failing, refusing it, the
        order executed first) is named in `failed` and the others are cancelled all the same,
        and so are they when the state file fails (`cancel_each`); a refused key
        (`refuses_the_key`) ends it at once."""
        client = self._context.client
        scope = refuse_an_unknown_scope(
            client.markets, self._context.clock or SystemClock(), ticker=ticker, say=say
        )
        resting = account_resting(
            client, numbers=listed_subaccounts(client), ticker=scope.ticker or ticker
        )
        listed = [(order_id, order.ticker, order) for order_id, order in resting.items()]
        return self.cancel_each(listed, scope.unconfirmed)

    def cancel_each(
        self,
        resting: Sequence[tuple[str, str | None, Order | None]],
        unconfirmed: str | None = None,
    ) -> MarketCancelled:
        """Each of `resting` (order id, its market, the order as listed if it was) cancelled on
        the exchange; one failed cancel keeps no other resting. Once the state file fails (it
        cannot be read or written), the cancels go on without it, each named not recorded: the
        trader asked for every order cancelled, and a state file that waits out its busy
        timeout on each order would hold every later cancel back. An order the failure met
        before its cancel went out is sent again without it (a cancel is idempotent). A
        refused key (`refuses_the_key`) is raised at once: every other cancel would be refused
        too."""
        cancelled: dict[str, Decimal] = {}
        failed: dict[str, KalshiError] = {}
        not_recorded: list[str] = []
        fault: StoreError | None = None
        orders = list(resting)
        while orders:
            order_id, ticker, order = orders[0]
            record = fault is None
            try:
                cancelled[order_id] = self.cancel(
                    order_id, ticker=ticker, listed=order, record=record
                )
            except CancelNotRecorded as exc:  # cancelled; the state file did not take it
                cancelled[order_id], fault = exc.reduced_by, exc.failure
            except KalshiError as exc:
                if refuses_the_key(exc):  # every other cancel would be refused too
                    _name_cancelled(exc, cancelled, not_recorded)
                    raise
                if isinstance(exc, StoreError) and not is_failing(exc):
                    raise  # a bug of ours
                if record and is_failing(exc):
                    fault = exc
                    continue  # the same order again, without the state file
                failed[order_id] = exc  # one order's failure keeps no other resting
            if order_id in cancelled and fault is not None:
                not_recorded.append(order_id)
            orders.pop(0)
        return MarketCancelled(cancelled, unconfirmed, failed, fault, not_recorded)

    def cancel(
        self,
        order_id: str,
        *,
        ticker: str | None = None,
        listed: Order | None = None,
        record: bool = True,
    ) -> Decimal:
        """Cancel one order; returns the contracts taken off the book.

        A refusal (404, or 400 not resting) says only that the order no longer rests, so the order
        is read; a read still showing it resting is taken again once the read lag has passed.
        Cancelled: done. Executed: not reported as cancelled. The cancel names the order's market
        (`ticker`, else the state file's, else the order read first): the exchange routes it to
        that market's shard, and an id alone goes to shard 0, where another shard's order is not
        found (docs/shards.md). It goes to the order's subaccount (`OrderContext.subaccount_of`),
        as a listing showed it (`listed`) when one did. `record` False: the state file is not
        read nor written (it failed); a cancel answered that it cannot record is
        `CancelNotRecorded`."""
        local = self._context.local(order_id) if record else None
        ticker = ticker or (local.ticker if local else None) or self._ticker_of(order_id)
        where = self._context.subaccount_of(order_id, local, listed)
        try:
            try:
                result = self._context.client.orders.cancel_order(
                    order_id, ticker=ticker, subaccount=where
                )
            except NotFoundError:
                # not on the subaccount tried: an order the state file does not hold, or
                # holds on another subaccount than the exchange names, is cancelled where the
                # exchange names (cancelling twice is harmless)
                elsewhere = self._other_subaccount(order_id, local, tried=where)
                if elsewhere is None:
                    raise
                result = self._context.client.orders.cancel_order(
                    order_id, ticker=ticker, subaccount=elsewhere
                )
        except (BadRequestError, NotFoundError) as exc:
            order = self._read_after_refusal(order_id, refused_at=self._context.now())
            if order.status == "resting":
                raise type(exc)(
                    f"{exc.message}; the exchange still shows order {order_id} resting "
                    f"{self._context.read_lag_s:g}s after refusing to cancel it",
                    status=exc.status,
                    code=exc.code,
                    hint="look again with `kalshi order show`; `kalshi reconcile` settles it",
                ) from exc
            if record:
                book_cancel(
                    self._context.store, order_id, order, subaccount=self._context.subaccount
                )
            if order.status == EXECUTED:
                filled = fmt_count(order.fill_count)
                raise type(exc)(
                    f"order {order_id} was not cancelled: it executed ({filled} filled) before "
                    "the cancel reached it",
                    status=exc.status,
                    code=exc.code,
                ) from exc
            return ZERO
        if record:
            self._book_cancelled(order_id, result.reduced_by)
        return result.reduced_by

    def _book_cancelled(self, order_id: str, reduced_by: Decimal) -> None:
        """A cancel the exchange answered, in the state file; one it cannot take is told as
        made all the same (`CancelNotRecorded`): the order is off the book."""
        try:
            book_cancel(self._context.store, order_id)
        except StoreError as exc:
            if not is_failing(exc):
                raise
            raise CancelNotRecorded(
                f"order {order_id} WAS CANCELLED ({fmt_count(reduced_by)} taken off the book), "
                f"but the state file could not record it: {exc.message}",
                hint="`kalshi reconcile` records it once the state file can be written",
                order_id=order_id,
                reduced_by=reduced_by,
                failure=exc,
            ) from exc

    def _other_subaccount(
        self, order_id: str, local: IntentRecord | None, *, tried: int | None
    ) -> int | None:
        """The subaccount of a resting order that is not the one a write `tried` (None: the
        client's, else 0), if any, by `OrderContext.subaccount_of` over a read of the order."""
        try:
            order = self._context.client.orders.get_order(order_id)
        except (ApiError, TransportError):
            return None
        if order.status != "resting":
            return None
        number = self._context.subaccount_of(order_id, local, order)
        if number is None:
            return None
        return None if number == (tried if tried is not None else 0) else number

    def _read_after_refusal(self, order_id: str, *, refused_at: float) -> Order:
        """The order once a read can reflect the write that made it stop resting."""
        order = self._context.client.orders.get_order(order_id)
        if order.status != "resting":
            return order  # cancelled and executed are final: no lag can undo them
        wait = refused_at + self._context.read_lag_s - self._context.now()
        if wait > 0:
            self._context.sleep(wait)
        return self._context.client.orders.get_order(order_id)

    def decrease(
        self, order_id: str, *, by: Decimal | None = None, to: Decimal | None = None
    ) -> ChangeMade:
        """Take contracts off a resting order, `by` so many or `to` so many left (0 cancels
        it); it keeps its place in the queue. Answered, the decrease is made and booked from
        its answer (`OrderAmends.made`); its answer lost, it is never sent again, and the order
        read once says whether it was made (`OrderAmends.resolve_change`, an amend's rule)."""
        if (by is None) == (to is None):
            raise ValidationError("give exactly one of --by or --to", code="DECREASE_ARGS")
        amount = by if by is not None else to
        assert amount is not None
        if amount < 0 or (by is not None and by == 0):
            raise ValidationError(
                f"decrease amount must be positive, got {amount}", code="COUNT_NOT_POSITIVE"
            )
        order = self._context.resting(order_id, "decreased")
        subaccount = self._context.subaccount_of(order_id, self._context.local(order_id), order)
        try:
            result = self._context.client.orders.decrease_order(
                order_id, reduce_by=by, reduce_to=to, ticker=order.ticker, subaccount=subaccount
            )
        except AmendOutcomeUnknown as exc:
            # made, the order keeps its price and its total comes down by what was taken off
            # (fills move contracts from resting to filled, never out of the total)
            left = order.remaining_count - by if by is not None else amount
            return self._amends.resolve_change(
                "decrease", exc, order.yes_price, order.fill_count + left
            )
        book = partial(self._book_decrease, order_id, result.remaining_count, order.fill_count)
        return self._amends.made("decrease", order_id, _as_decreased(order, result), book)

    def _book_decrease(self, order_id: str, remaining: Decimal, filled: Decimal) -> None:
        """A decrease the exchange applied, in the state file, as a read of the order after it
        would book it: what rests is the answer's, and the total what filled (the row's, or
        the read before the decrease, `filled`, if more: fills not read yet) plus that; none
        left, the order is cancelled (a decrease to none cancels it) and keeps its total, as a
        cancel booked does. A row that no longer rests (fills or a cancel booked meanwhile
        ended it) stays ended; an order the state file does not hold is left to the read after
        it."""
        orders = self._context.store.orders
        with self._context.store.transaction():
            row = orders.row(order_id)
            if row is None or row.status != RESTING:
                return
            if remaining <= 0:
                orders.mark_cancelled(order_id)
            else:
                orders.update_order(
                    order_id=order_id,
                    remaining_count=remaining,
                    count=max(row.filled_count, filled) + remaining,
                    row=row,
                )


def _name_cancelled(
    exc: KalshiError, cancelled: dict[str, Decimal], not_recorded: list[str]
) -> None:
    """`exc` (the key refused midway through a market's cancels) naming the orders it did
    cancel before it, and those of them the state file does not record: the trader is told
    what is off the book, not only what failed."""
    if cancelled:
        exc.message = f"{exc.message}; cancelled before it: {', '.join(cancelled)}"
    if not_recorded:
        exc.message = (
            f"{exc.message} (not recorded in the state file: {', '.join(not_recorded)}; "
            "`kalshi reconcile` records them)"
        )
