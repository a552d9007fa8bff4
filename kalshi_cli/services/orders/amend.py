"""Amending a resting order (a new price, total or expiry), and the rule every change of an
order the exchange made (an amend, a decrease) is booked by: recorded in flight before it
leaves, sent once, its answer booked; an answer lost, the order is read once and never sent
again."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

import msgspec

from kalshi_cli.client.requests import AmendOrder
from kalshi_cli.services.orders.context import recording_allowed
from kalshi_cli.services.pretrade.account import MarketReads, breaker_refusal
from kalshi_cli.services.reconcile import AMEND_READ, amend_settled_by
from kalshi_cli.store.records import CANCELED, EXECUTED, RESTING
from kalshi_cli.vocabulary.clock import parse_iso
from kalshi_cli.vocabulary.documents import traders_terms
from kalshi_cli.vocabulary.errors import (
    AmendOutcomeUnknown,
    ApiError,
    KalshiError,
    TransportError,
    ValidationError,
)
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.order_terms import check_count, check_price, check_whole_count
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import (
    ZERO,
    BookSide,
    Side,
    fmt_count,
    fmt_dollars,
    side_value,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from kalshi_cli.client.requests import AmendResult
    from kalshi_cli.services.orders.context import OrderContext
    from kalshi_cli.services.orders.limits import PreTradeChecks
    from kalshi_cli.store import IntentRecord


@dataclass(frozen=True)
class Amend:
    """An amend of one resting order, as the trade loop sends it: the order, its market and
    book side, the new YES price and the new total (filled so far plus what is to rest, the
    exchange's `count`), and the id of its record in flight in the state file, which what
    settles the amend clears (`OrderRepository.settle_amend`)."""

    order_id: str
    ticker: str
    book_side: BookSide
    yes_price: Decimal
    total: Decimal
    record: int


@dataclass(frozen=True)
class PreparedAmend:
    """An amend of one resting order with every local check passed (`OrderAmends.prepare`): the
    order as the exchange showed it, the side it trades (`traders_terms`, as `order list` reads
    it: the state file's, else its outcome side), and the YES price, total and expiry it would
    be sent with.
    What a preview shows is what is sent: both read it from here."""

    order: Order
    side: Side
    yes_price: Decimal
    total: Decimal
    expiration_time: int | None
    local: IntentRecord | None
    # the order's subaccount, where the amend goes (`OrderContext.subaccount_of`)
    subaccount: int | None = None

    @property
    def price(self) -> Decimal:
        """The new price of the side the order trades, as the trader gave it."""
        return side_value(self.side, self.yes_price)


@dataclass(frozen=True)
class SentAmend:
    """What an amend's request came back with (`OrderAmends.send`): the exchange's
    answer, its refusal or a failure before anything left, or an answer lost."""

    result: AmendResult | None = None
    refused: ApiError | TransportError | ValidationError | None = None
    lost: AmendOutcomeUnknown | None = None


@dataclass(frozen=True)
class ChangeMade:
    """An amend or a decrease the exchange answered (`OrderAmends.submit`, `OrderCancels.decrease`):
    the order read back after it, or, when that read failed, the order as the change's own
    answer tells it, with `note` saying so. The change is made either way: a failed read after
    it must not read as a failed change, which a trader or the assistant would take to mean
    the old terms still stand (and might send it again)."""

    order: Order
    note: str | None = None


# how often an amend waiting for an earlier one of its order reads that order
AMEND_POLL_S = 0.25
# the refusal of an amend whose order changed since it was read (another amend recorded)
ORDER_CHANGED = "ORDER_CHANGED"

# what a change of an order is called, and what it is once made
_MADE = {"amend": "amended", "decrease": "decreased"}


def _as_answered(prepared: PreparedAmend, result: AmendResult) -> Order:
    """The order as an amend's answer tells it, when it cannot be read back after: the order
    as read before the amend, under the ids the answer names, at the amend's price, total and
    expiry. What rests is the answer's when it says (it says when the amend filled or changed
    what rests), else the new total less what had filled before."""
    from kalshi_cli.vocabulary.clock import iso_utc

    order, sent = prepared.order, prepared.expiration_time
    # as the amend was sent: None keeps the expiry, 0 removes it
    expiry = order.expiration_time if sent is None else iso_utc(sent) if sent else None
    remaining = result.remaining_count
    if remaining is None:
        remaining = prepared.total - order.fill_count
    remaining = max(remaining, ZERO)
    # each written as the exchange writes it (0.2200, 5.00), as a read would show it
    return msgspec.structs.replace(
        order,
        order_id=result.order_id or order.order_id,
        client_order_id=result.client_order_id or order.client_order_id,
        status=RESTING if remaining > 0 else EXECUTED,
        yes_price=Decimal(fmt_dollars(prepared.yes_price)),
        fill_count=Decimal(fmt_count(prepared.total - remaining)),
        remaining_count=Decimal(fmt_count(remaining)),
        expiration_time=expiry,
    )


def _terms(order: Order) -> str:
    """An order's state after a change, for a person: what rests and at what YES price."""
    if order.status != RESTING:
        return order.status
    return f"{RESTING}, {fmt_count(order.remaining_count)} at YES {fmt_dollars(order.yes_price)}"


def _adds_risk(
    order: Order, yes_price: Decimal, growth: Decimal, expiration_time: int | None
) -> bool:
    """Whether an amend of resting `order` to `yes_price`, `growth` more contracts and
    `expiration_time` (None keeps it, 0 removes it) adds risk, which the daily circuit breaker
    refuses on its day (docs/risk.md "no order that is not reduce-only passes"): more
    contracts, a new price (a buy moved up may cross the book and open a position at once), or
    a later expiry, or none (the order rests at risk longer). Fewer contracts at the same price,
    or an earlier expiry, only take risk away."""
    if growth > 0 or yes_price != order.yes_price:
        return True
    if expiration_time is None:
        return False
    if order.expiration_time is None:
        return False  # it rested without end: any expiry shortens it; 0 changes nothing
    ends = parse_iso(order.expiration_time).timestamp()
    return expiration_time == 0 or expiration_time > ends


@dataclass(frozen=True)
class AmendOutcome:
    """An amend the exchange applied, as booked: the order's status after it, what rests
    (None: the answer left it as it was), what the amend itself filled, and whether the order
    rests again after fills booked meanwhile had ended it against its old total (`reopened`:
    the loop's view, which dropped it then, takes it back)."""

    status: str
    remaining: Decimal | None
    filled: Decimal
    reopened: bool = False


class OrderAmends:
    """The amends of an `OrderService`: a person's (`amend`: `prepare`, then `submit`) and the
    trade loop's (`record`, `send`, then one of the `book*` calls), and the rule both books a
    change of an order by (`made`, `resolve_change`), a decrease's too."""

    def __init__(self, context: OrderContext, checks: PreTradeChecks) -> None:
        self._context = context
        self._checks = checks

    def record(
        self,
        order_id: str,
        *,
        ticker: str,
        book_side: BookSide,
        yes_price: Decimal,
        rest: Decimal,
        post_only: bool | None,
        check: Callable[[], None] | None = None,
    ) -> Amend | None:
        """An amend's first step: recorded in flight (and in the order's history) before it is sent,
        the trading state read in the same transaction (TradingHaltedError, nothing written,
        unless it allows adding exposure), then `check`, as `record_intent` takes it. The new
        total is what the state file says filled plus `rest`; None when there is no resting order
        by that id, or (with `post_only`: a requote) none on the terms an amend keeps. In doubt
        from here until a `book*` call or `settle_amends` settles it."""
        recorded = self._context.store.record_amend_if_allowed(
            order_id,
            price=yes_price,
            rest=rest,
            post_only=post_only,
            allowed=partial(recording_allowed, reduce_only=False, check=check),
        )
        if recorded is None:
            return None
        return Amend(order_id, ticker, book_side, yes_price, recorded.total, recorded.id)

    def send(self, amend: Amend) -> SentAmend:
        """An amend's exchange part alone (no state file): the request sent once (the client
        resends it only when it certainly did not leave). The trade loop makes this call off
        its deciding path and books it with `book`."""
        try:
            result = self._context.client.orders.amend_order(
                amend.order_id,
                AmendOrder(
                    ticker=amend.ticker,
                    book_side=amend.book_side,
                    price=amend.yes_price,
                    count=amend.total,
                ),
            )
        except AmendOutcomeUnknown as exc:
            return SentAmend(lost=exc)
        # a ValidationError is the client's refusal before anything left: a refusal too
        except (ApiError, TransportError, ValidationError) as exc:
            return SentAmend(refused=exc)
        return SentAmend(result=result)

    def book_refused(self, amend: Amend, exc: KalshiError) -> None:
        """An amend refused (by the exchange, or by the client before anything left): settled,
        the order as it was, and its history says so after the row `record` wrote before
        it was to leave."""
        what = "refused" if isinstance(exc, ApiError) else "not sent"
        self._context.store.orders.settle_amend(amend.record, f"amend {what}: {exc.message}")

    def book_unsent(self, amend: Amend, why: str) -> None:
        """An amend dropped before it was sent (the loop stopping): settled as
        `book_refused` settles a refusal."""
        self._context.store.orders.settle_amend(amend.record, f"amend not sent: {why}")

    def book_read(self, amend: Amend, note: str) -> None:
        """An amend whose answer was lost, settled by a read of its order (the trade loop's
        lookups, runner/execution/amends.py; `amend`'s read after a lost answer): the read is
        booked already; `note` says in the order's history what it showed."""
        self._context.store.orders.settle_amend(amend.record, note)

    def book(self, amend: Amend, result: AmendResult) -> AmendOutcome:
        """An amend the exchange applied, in the state file: settled; the order keeps its row and
        ids and takes the new price and total, and what rests when the answer says. Its fills
        come with the next fill read. A row ended meanwhile (cancelled, or executed for the whole
        new total) stays ended; fills booked meanwhile count against the new total, and a row
        they ended short of it rests again."""
        remaining = result.remaining_count
        filled = result.fill_count or ZERO
        orders = self._context.store.orders
        # one transaction, its writes plain statements of it (no savepoint each): nothing here
        # catches an error, so any one undoes the whole booking, the record's settling with it
        with self._context.store.transaction():
            # whatever the answer changes of the row (perhaps nothing it did not show already)
            orders.settle_amend(amend.record, savepoint=False)
            # read once: `update_order` is handed the row rather than reading it again (nor
            # does a replay nobody keeps when nothing was written since the record read it)
            row = orders.row(amend.order_id, amend=amend.record)
            was, known_filled = (None, ZERO) if row is None else (row.status, row.filled_count)
            if was == CANCELED or (was == EXECUTED and known_filled >= amend.total):
                orders.update_order(
                    order_id=amend.order_id,
                    price=amend.yes_price,
                    count=amend.total,
                    savepoint=False,
                    row=row,
                )
                return AmendOutcome(was, ZERO, filled)
            reopened = was == EXECUTED
            if row is not None and (remaining is not None or reopened):
                left = amend.total - known_filled
                remaining = left if remaining is None else min(remaining, left)
            # what rests, when known: none left is executed; else the status is what the row
            # says (a fill read booked meanwhile may have moved it on)
            status = None if remaining is None else EXECUTED if remaining <= 0 else RESTING
            orders.update_order(
                order_id=amend.order_id,
                price=amend.yes_price,
                count=amend.total,
                remaining_count=remaining,
                status=status,
                savepoint=False,
                row=row,
            )
        return AmendOutcome(status or RESTING, remaining, filled, reopened and status == RESTING)

    def amend(
        self,
        order_id: str,
        *,
        price: Decimal | None = None,
        count: Decimal | None = None,
        expiration_time: int | None = None,
    ) -> ChangeMade:
        """New price (of the side the order trades, as the trader placed it), new total count
        and/or new expiry (unix seconds; None keeps it, 0 removes it, else in the future):
        `prepare`'s checks, then `submit`. The order keeps its queue position only
        when the amend changes just the expiry or lowers the count at the same price (Kalshi's
        rule, API 3.31.0). An earlier amend of the order still in doubt is waited for first
        (`await_earlier`), and the order read afresh: two amends never race."""
        while True:
            self.await_earlier(order_id)
            prepared = self.prepare(
                order_id, price=price, count=count, expiration_time=expiration_time
            )
            try:
                return self.submit(prepared)
            except ValidationError as exc:
                if exc.code != ORDER_CHANGED:  # another amend recorded since the wait
                    raise

    def await_earlier(self, order_id: str) -> None:
        """Wait while the state file records an amend of this order in doubt (sent by another
        process, or its answer lost): until it is answered, a read of the order shows it, or
        it can no longer land, which reconcile's rule for amends in doubt settles
        (`settle_amends`, every `AMEND_POLL_S`; at most the landing wait). The exchange applies
        amends in the order they reach it, so one sent now could be overtaken by the earlier."""
        from kalshi_cli.services.reconcile import settle_amends
        from kalshi_cli.vocabulary.clock import SystemClock

        context = self._context
        local = context.local(order_id)
        if local is None:
            return
        clock = context.clock or SystemClock()

        def in_doubt() -> bool:
            doubts = context.store.orders.amends_in_doubt()
            return any(intent.client_order_id == local.client_order_id for intent, _ in doubts)

        while in_doubt():
            settle_amends(
                context.client, context.store, now=clock.wall(), read_lag_s=context.read_lag_s
            )
            if in_doubt():
                clock.sleep(AMEND_POLL_S)

    def prepare(
        self,
        order_id: str,
        *,
        price: Decimal | None = None,
        count: Decimal | None = None,
        expiration_time: int | None = None,
        reads: MarketReads | None = None,
    ) -> PreparedAmend:
        """Every local check of an amend, sending nothing: validated against the market's grid
        and the clock, and the limits a new order meets. A new price can cross the book and a
        new count can grow the order, so it needs trading to be ACTIVE, and on a day the daily
        circuit breaker holds only an amend that adds nothing goes: fewer contracts at the same
        price, or an earlier expiry (a later one, or none, keeps the order at risk longer).
        The breaker reads the account's fills only for an amend that adds (`_adds_risk`): one
        that only takes risk away never waits on or fails by that read. `reads`: what was read for
        it already (the breaker's answer)."""
        if expiration_time is not None and (
            expiration_time < 0 or 0 < expiration_time <= self._context.now()
        ):
            raise ValidationError(
                f"expiration time {expiration_time} is not in the future",
                code="EXPIRY_IN_THE_PAST",
                hint="give a future time, or 0 to remove the expiry",
            )
        # the breaker first, of the state file alone: its REDUCING of a day before is lifted
        # before the state is read, and its REDUCING of the day (no amend goes) is refused as its
        # own, saying when it ends; the fills it reads are asked below, of an amend that adds
        reads = reads or MarketReads()
        holds = self._checks.account.breaker_day(reads, adds=False)
        state = self._context.store.trading.trading_state().state
        if holds is not None and state == TradingState.REDUCING:
            raise breaker_refusal(holds)
        self._context.check_trading(reduce_only=False, what="no order can be amended")
        order = self._context.resting(order_id, "amended")
        local = self._context.local(order_id)
        subaccount = self._context.subaccount_of(order_id, local, order)
        side, _, _ = traders_terms(order.book_side, order.yes_price, local)  # as listed
        market = self._context.client.markets.get_market(order.ticker)
        yes_price = order.yes_price
        if price is not None:
            check_price(market, price)
            yes_price = side_value(side, price)
        total = order.fill_count + order.remaining_count if count is None else count
        check_count(total)
        check_whole_count(market.ticker, market.whole_contracts, total, what="new total count")
        if total <= order.fill_count:
            raise ValidationError(
                f"new total count {total} must exceed the {order.fill_count} already filled",
                code="COUNT_TOO_LOW",
                hint="use `kalshi order decrease` or `cancel` to shrink an order",
            )
        # the same limits as a new order: a higher price or a bigger count commits more money
        growth = total - order.fill_count - order.remaining_count
        if _adds_risk(order, yes_price, growth, expiration_time):
            self._checks.check_breaker(reads)
        # counted where the order rests: another subaccount than the client's holds other
        # positions and orders, and a limit over the client's would pass what one there refuses
        checks = self._checks if subaccount is None else self._checks.on_subaccount(subaccount)
        checks.check_limits(
            order.ticker,
            order.book_side,
            total,
            yes_price,
            growth=growth,
            amending=(order.order_id, total - order.fill_count),
        )
        return PreparedAmend(order, side, yes_price, total, expiration_time, local, subaccount)

    def submit(
        self, prepared: PreparedAmend, *, check: Callable[[], None] | None = None
    ) -> ChangeMade:
        """Record, send once, record the answer, of an amend `prepare` checked. `check`:
        as `record` takes it. Every amend is recorded on its order's row before it leaves, which
        counts it in the day it was sent (`amend_sent_at`, the assistant's budget): an order the
        state file does not hold resting (placed elsewhere, or its answer not booked here) is
        copied in first from the read `prepare` made, which shows it resting."""
        order, local = prepared.order, prepared.local
        order_id, yes_price, total = order.order_id, prepared.yes_price, prepared.total
        filled = local.filled if local is not None and local.status == RESTING else None
        if filled is None:
            self._context.copy_in(order)
            filled = order.fill_count
        recorded = self.record(
            order_id,
            ticker=order.ticker,
            book_side=order.book_side,
            yes_price=yes_price,
            rest=total - filled,
            post_only=None,  # whatever its terms: the person amends this order
            check=check,
        )
        if recorded is None:
            raise ValidationError(
                f"order {order_id} took another amend, or stopped resting, since it was "
                "read: nothing sent",
                code=ORDER_CHANGED,
                hint=f"read it again (kalshi order show {order_id}) and amend it then",
            )
        try:
            result = self._context.client.orders.amend_order(
                order_id,
                AmendOrder(
                    ticker=order.ticker,
                    book_side=order.book_side,
                    price=yes_price,
                    count=total,
                    expiration_time=prepared.expiration_time,
                ),
                subaccount=prepared.subaccount,
            )
        except AmendOutcomeUnknown as exc:
            return self.resolve_change("amend", exc, yes_price, total, recorded)
        except (ApiError, TransportError, ValidationError) as exc:
            # refused, or certainly not sent: the order is as it was, and its history says so
            self.book_refused(recorded, exc)
            raise
        # booked as the trade loop books its amends' answers
        return self.made(
            "amend", order_id, _as_answered(prepared, result), partial(self.book, recorded, result)
        )

    def made(
        self,
        change: str,
        order_id: str,
        answered: Order,
        book: Callable[[], object],
        *,
        read: bool = True,
    ) -> ChangeMade:
        """The one rule for a change the exchange made (an amend, a decrease): it is made, whatever
        comes after. `book` books it; the order is then read back and copied in (`read`). A
        failed read leaves the order as `answered` tells it, with a note. A state file that
        cannot take it raises OrderNotRecorded saying the change WAS MADE."""
        from kalshi_cli.store import OrderNotRecorded, StoreError

        shown = answered
        try:
            book()
            if not read:
                return ChangeMade(shown)
            try:
                shown = self._context.client.orders.get_order(order_id)
            except (ApiError, TransportError) as exc:
                return ChangeMade(
                    answered,
                    f"{_MADE[change]}; could not read the order back: {exc.message} (the order "
                    f"shown is the {change}'s own answer)",
                )
            self._context.copy_in(shown)
        except StoreError as exc:
            raise OrderNotRecorded(
                f"{change} of order {order_id} WAS MADE ({_terms(shown)}), but the state file "
                f"could not record it: {exc.message}",
                hint=f"do not {change} it again; `kalshi reconcile` records it once the state "
                "file can be written",
                client_order_id=shown.client_order_id,
                order_id=shown.order_id,
                remaining=shown.remaining_count if shown.status == RESTING else ZERO,
            ) from exc
        return ChangeMade(shown)

    def resolve_change(
        self,
        change: str,
        exc: AmendOutcomeUnknown,
        price: Decimal,
        total: Decimal,
        recorded: Amend | None = None,
    ) -> ChangeMade:
        """An amend or a decrease (`change`) without a clear answer is never sent again: the order
        is read once. Showing the new price and total, it is done; otherwise it stays unknown and
        the person is told what it shows now. An amend's record in flight is settled as reconcile
        settles one (`amend_settled_by`), else stays in doubt for that step."""
        from kalshi_cli.store import StoreError

        try:
            order = self._context.client.orders.get_order(exc.order_id)
        except (ApiError, TransportError):
            raise exc from None

        def book() -> None:
            self._context.copy_in(order)
            if recorded is not None and amend_settled_by(order, price, total):
                self.book_read(recorded, AMEND_READ)

        if order.yes_price == price and order.fill_count + order.remaining_count == total:
            # made, and the read that found it is the one after it
            return self.made(change, exc.order_id, order, book, read=False)
        shown = order.fill_count + order.remaining_count
        message = (
            f"{exc.message}; the exchange now shows {order.status} at "
            f"{fmt_dollars(order.yes_price)} for {fmt_count(shown)}"
        )
        try:
            book()
        except StoreError as unrecorded:
            # still unknown, whatever the state file does: its own error ("locked; try
            # again") would read as the change refused, which a person would send again
            message += f", and the state file could not record that: {unrecorded.message}"
        raise AmendOutcomeUnknown(message, order_id=exc.order_id) from exc
