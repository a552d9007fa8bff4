"""Placing orders: never twice, never lost. Every path that writes an order goes through the same
steps on the same `OrderService`: validate locally, record the intent with the trading state
checked in the same transaction, send once, record the answer; a lost answer leaves the order
`unknown`, looked up and never sent again. Its components: `limits`, `amend`, `cancel`;
`reconcile()` runs `services.reconcile`. docs/orders.md "Never twice, never lost".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.services.orders.amend import OrderAmends
from kalshi_cli.services.orders.cancel import OrderCancels
from kalshi_cli.services.orders.context import (
    OrderContext,
    open_market,
    recording_allowed,
)
from kalshi_cli.services.orders.limits import MarketReads, PreTradeChecks
from kalshi_cli.services.pretrade.holdings import order_subaccount
from kalshi_cli.services.reconcile import (
    DEFAULT_READ_LAG_S,
    ReconcileReport,
    book_read,
    listed_subaccounts,
    reconcile,
    sync_account_fills,
    take_found,
)
from kalshi_cli.vocabulary.errors import (
    ApiError,
    OrderOutcomeUnknown,
    TransportError,
    ValidationError,
)
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.order_terms import (
    OrderRequest,
    check_price,
    check_terms,
    check_whole_count,
)
from kalshi_cli.vocabulary.units import (
    ZERO,
    Action,
    Side,
    added_price,
    fmt_count,
    fmt_dollars,
    fmt_exact_dollars,
    side_value,
    to_book,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from kalshi_cli.client.requests import CreateOrder, CreateOrderResult
    from kalshi_cli.services.orders.context import OrderClient
    from kalshi_cli.store import OrderNotRecorded, Store
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.errors import KalshiError


@dataclass(frozen=True)
class PreparedOrder:
    request: OrderRequest
    create: CreateOrder
    cost: Decimal
    exposure_after: Decimal

    def describe(self) -> dict[str, Any]:
        return {
            "ticker": self.request.ticker,
            "side": self.request.side.value,
            "action": self.request.action.value,
            "price": fmt_dollars(self.request.price),
            "count": fmt_count(self.request.count),
            "book_side": self.create.book_side.value,
            "yes_price": fmt_dollars(self.create.price),
            "max_cost": fmt_exact_dollars(self.cost),
            "client_order_id": self.create.client_order_id,
        }


@dataclass
class PlaceOutcome:
    client_order_id: str
    status: str  # resting | executed | canceled | unknown
    order_id: str | None
    fill_count: Decimal
    remaining_count: Decimal
    average_fill_price: Decimal | None = None
    note: str | None = None

    def to_json(self, side: Side | None = None) -> dict[str, Any]:
        """The exchange's answer as `kalshi order place --json` and the assistant show it. The
        exchange reports `average_fill_price` as a YES price (`average_fill_yes_price`); given
        the order's `side`, it is shown in that side's terms too (a NO buy at 0.67 filled at
        0.67)."""
        yes_price = self.average_fill_price
        document: dict[str, Any] = {
            "order_id": self.order_id,
            "status": self.status,
            "fill_count": fmt_count(self.fill_count),
            "remaining_count": fmt_count(self.remaining_count),
        }
        if side is not None:
            price = None if yes_price is None else side_value(side, yes_price)
            document["average_fill_price"] = None if price is None else fmt_dollars(price)
        document["average_fill_yes_price"] = None if yes_price is None else fmt_dollars(yes_price)
        document["note"] = self.note
        return document


@dataclass(frozen=True)
class SentOrder:
    """What one order's request came back with (`OrderService.send`): the exchange's answer
    (`result`), its refusal or a failure before anything left (`refused`), or an answer lost
    (`lost`)."""

    result: CreateOrderResult | None = None
    refused: ApiError | TransportError | None = None
    lost: OrderOutcomeUnknown | None = None


@dataclass(frozen=True)
class LostLookup:
    """What the one lookup of an order whose answer was lost found (`OrderService.look_up_lost`):
    the order, recorded (`found`); the order, which the state file could not record
    (`found` and `unrecorded`, exit 21); none yet (neither, exit 10); or the exchange could not
    be asked (`failed`, exit 10). `note` says which, as every command that looks one up says it."""

    found: Order | None = None
    failed: ApiError | TransportError | None = None
    unrecorded: OrderNotRecorded | None = None

    @property
    def note(self) -> str:
        if self.unrecorded is not None:
            return self.unrecorded.one_line()
        if self.found is not None:
            return "the answer was lost; the order was found on the exchange"
        if self.failed is not None:
            return "the answer was lost and the exchange could not be asked; run `kalshi reconcile`"
        return (
            "the answer was lost and the order is not on the exchange yet; `kalshi reconcile` "
            "will settle it"
        )


def placed_unrecorded(
    client_order_id: str, order_id: str, status: str, remaining: Decimal, exc: KalshiError
) -> OrderNotRecorded:
    """An order the exchange placed that the state file could not record (`exc`): it exists,
    whatever the state file says, and must never read as "not placed" (a person would place it
    again, and the trade loop withdraws what the error names)."""
    from kalshi_cli.store import OrderNotRecorded

    return OrderNotRecorded(
        f"order {client_order_id} WAS PLACED (order id {order_id}, {status}), but the state "
        f"file could not record it: {exc.message}",
        hint="do not place it again; `kalshi reconcile` records it once the state file can be "
        "written",
        client_order_id=client_order_id,
        order_id=order_id,
        remaining=remaining,
    )


def status_after_create(fill: Decimal, remaining: Decimal, create: CreateOrder) -> str:
    """An answered create's status, from what it filled and what rests."""
    if remaining > 0:
        return "resting"
    if fill >= create.count:
        return "executed"
    return "canceled"  # IOC/FOK remainder cancelled


class OrderService:
    """Validated, recorded, never-twice order operations over one client and one state file:
    placing here; its `checks`, `amends` and `cancels` are its components."""

    def __init__(
        self,
        client: OrderClient,
        store: Store,
        *,
        limits: RiskLimits | None = None,
        clock: Clock | None = None,
        read_lag_s: float = DEFAULT_READ_LAG_S,
    ) -> None:
        """`read_lag_s`: how long a read of orders may lag a write (`read_lag`,
        kalshi_cli/services/reconcile.py)."""
        self.client = client
        self.store = store
        self.read_lag_s = read_lag_s
        self.context = OrderContext(client, store, clock, read_lag_s)
        self.checks = PreTradeChecks(self.context, limits or RiskLimits())
        self.amends = OrderAmends(self.context, self.checks)
        self.cancels = OrderCancels(self.context, self.amends)

    def prepare(
        self, request: OrderRequest, *, reads: MarketReads | None = None, dry_run: bool = False
    ) -> PreparedOrder:
        """Every local check; raises ValidationError / TradingHaltedError, sends nothing.
        `reads`: the market reads of orders prepared before this one (a batch's rows), asked
        again of the exchange only for a market none of them named. `dry_run`: the order is
        not to be sent (`MarketReads.dry_run`: the state file is not written)."""
        from kalshi_cli.client.requests import CreateOrder

        reads = reads or MarketReads(dry_run=dry_run)

        check_terms(request, now=self.context.now())
        if request.client_order_id and self.store.orders.get_intent(request.client_order_id):
            raise ValidationError(
                f"client order id {request.client_order_id} is already in the state file",
                code="DUPLICATE_CLIENT_ORDER_ID",
                hint="every order needs a fresh one; leave --client-order-id out for a UUID",
            )
        # the breaker's catch-up goes out beside the market's reads, and is judged first
        with self.checks.may_send(reads, reduce_only=request.reduce_only, what="no new orders"):
            self.checks.check_subaccount(reads)
            market = reads.get(
                "market", request.ticker, lambda: open_market(self.client, request.ticker)
            )
            # from here on the market the exchange named: a ticker it found in another spelling
            # than the one typed is checked, limited and sent as that market's
            request = replace(request, ticker=market.ticker)
            check_price(market, request.price)
            check_whole_count(market.ticker, market.whole_contracts, request.count)
            book = to_book(request.side, request.action, request.price)
            price = added_price(request.action, request.price)
            cost = request.count * price
            # the account's balance first: on an account of one shard it is the shard's too,
            # and its refusal says so in the account's words; spent once every check passed
            spends = self.checks.check_balance(request, market, book.book_side, price, reads)
            exposure_after = self.checks.check_limits(
                request.ticker,
                book.book_side,
                request.count,
                book.yes_price,
                reads,
                reduce_only=request.reduce_only,
                time_in_force=request.time_in_force,
            )
            reads.spent += spends
        create_kwargs: dict[str, Any] = {
            "ticker": market.ticker,
            "book_side": book.book_side,
            "price": book.yes_price,
            "count": request.count,
            "time_in_force": request.time_in_force,
            "post_only": request.post_only,
            "reduce_only": request.reduce_only,
            "expiration_time": request.expiration_time,
        }
        if request.client_order_id:
            create_kwargs["client_order_id"] = request.client_order_id
        create = CreateOrder(**create_kwargs)
        return PreparedOrder(request, create, cost, exposure_after)

    def place(
        self, prepared: PreparedOrder, *, check: Callable[[], None] | None = None
    ) -> PlaceOutcome:
        """Record, send once, record the answer. See the module docstring. `check`: as
        `record_intent` takes it."""
        req = prepared.request
        return self.submit(
            prepared.create,
            side=req.side,
            action=req.action,
            strategy=req.strategy,
            model_fair=req.model_fair,
            reason=req.reason,
            check=check,
        )

    def submit(
        self,
        create: CreateOrder,
        *,
        side: Side,
        action: Action,
        strategy: str | None = None,
        model_fair: Decimal | None = None,
        reason: str | None = None,
        check: Callable[[], None] | None = None,
    ) -> PlaceOutcome:
        """The one path by which an order reaches the exchange (the CLI after `prepare`, the
        trade loop after its risk engine): intent written first, sent once, answer recorded.
        A batch (`kalshi order batch`, the trade loop's) takes the same steps through
        `record_intent`, `record_answer` and `record_unknown`. `check`: as `record_intent`
        takes it."""
        self.record_intent(
            create,
            side=side,
            action=action,
            strategy=strategy,
            model_fair=model_fair,
            reason=reason,
            check=check,
        )
        sent = self.send(create)
        if sent.lost is None:
            return self.book_sent(create, sent)
        self.record_unknown(create, sent.lost.message)
        lookup = self.look_up_lost(create.client_order_id, create.ticker)
        order = lookup.found
        if lookup.unrecorded is not None:
            raise lookup.unrecorded
        if order is None:
            raise OrderOutcomeUnknown(
                f"{sent.lost.message}; {lookup.note}", client_order_id=create.client_order_id
            )
        return PlaceOutcome(
            create.client_order_id,
            order.status,
            order.order_id,
            order.fill_count,
            order.remaining_count,
            note=lookup.note,
        )

    def send(self, create: CreateOrder) -> SentOrder:
        """Step 3 of `submit`, the exchange's part alone (no state file): the request sent
        once. The trade loop makes this call off its deciding path (runner/execution/dispatch.py)
        and books it with `book_sent`."""
        try:
            return SentOrder(result=self.client.orders.create_order(create))
        except OrderOutcomeUnknown as exc:
            return SentOrder(lost=exc)
        except (ApiError, TransportError) as exc:
            return SentOrder(refused=exc)

    def book_sent(self, create: CreateOrder, sent: SentOrder) -> PlaceOutcome:
        """Step 4 of `submit`: what `send` came back with, in the state file. A refusal marks
        the intent rejected and is raised again (ApiError, TransportError: nothing reached the
        exchange, or it said no); an answer lost marks it unknown and is raised again
        (OrderOutcomeUnknown: `submit` then looks the order up once; the trade loop looks it up
        with its other orders of unknown outcome, runner/execution/unknown_orders.py)."""
        if sent.refused is not None:
            self.store.orders.mark_rejected(create.client_order_id, reason=sent.refused.message)
            raise sent.refused
        if sent.lost is not None:
            self.record_unknown(create, sent.lost.message)
            raise sent.lost
        result = sent.result
        assert result is not None  # one of the three is set (SentOrder)
        status = status_after_create(result.fill_count, result.remaining_count, create)
        self._record_accepted(create, status, result)
        return PlaceOutcome(
            create.client_order_id,
            status,
            result.order_id,
            result.fill_count,
            result.remaining_count,
            result.average_fill_price,
        )

    def record_intent(
        self,
        create: CreateOrder,
        *,
        side: Side,
        action: Action,
        strategy: str | None = None,
        model_fair: Decimal | None = None,
        reason: str | None = None,
        subaccount: int | None = None,
        check: Callable[[], None] | None = None,
    ) -> None:
        """Step 2 of `submit`: the intent written as pending, the trading state read in the same
        transaction (TradingHaltedError, and nothing written, unless it allows the order). The
        one path by which a new order enters the state file. `subaccount`: the one the request
        names; None is the client's (`order_subaccount`).

        `check`: a rule of the caller's over `self.store`, asked after the trading state in the same
        transaction, raising to refuse. It holds the write lock, so a limit counted from the state
        file (the assistant's day budget) holds against another process placing at once."""
        from kalshi_cli.store import IntentRecord

        if subaccount is None:
            subaccount = order_subaccount(self.client) or 0
        # the trading state is read in the transaction that records the intent: an order
        # prepared just before HALTED is refused here, never sent after the kill switch's proof
        self.store.record_intent_if_allowed(
            IntentRecord.pending(
                create,
                side=side,
                action=action,
                subaccount=subaccount,
                now=self.context.now(),
                strategy=strategy,
                model_fair=model_fair,
                reason=reason,
            ),
            partial(recording_allowed, reduce_only=create.reduce_only, check=check),
        )

    def _record_accepted(self, create: CreateOrder, status: str, result: CreateOrderResult) -> None:
        """Record the exchange's acceptance. The order exists now, whatever the state file
        says, so a failure here must never read as "not placed" (a person would place it
        again)."""
        from kalshi_cli.store import InvalidTransition, StoreError

        client_order_id, order_id = create.client_order_id, result.order_id
        try:
            try:
                self.store.orders.mark_sent(
                    client_order_id,
                    order_id=order_id,
                    status=status,
                    fill_count=result.fill_count,
                    remaining_count=result.remaining_count,
                )
            except InvalidTransition:
                # the intent was answered while the request was in flight: by another process
                # (a reconcile: perhaps "never placed", the exchange not having it yet), or by
                # a read of the resting orders and the messages that carried the order on
                # since. The answer is booked as any read of the order: never backwards
                self.record_found(
                    Order(
                        order_id=order_id,
                        client_order_id=client_order_id,
                        ticker=create.ticker,
                        book_side=create.book_side,
                        status=status,
                        yes_price=create.price,
                        fill_count=result.fill_count,
                        remaining_count=result.remaining_count,
                    )
                )
        except StoreError as exc:  # the correction's write failing too
            raise placed_unrecorded(
                client_order_id, order_id, status, result.remaining_count, exc
            ) from exc

    def record_unknown(self, create: CreateOrder, reason: str) -> None:
        """Mark the intent unknown. The request was sent, so a state file that cannot take
        the mark must not read as "not placed" either: the order may be on the exchange."""
        from kalshi_cli.store import OrderNotRecorded, StoreError

        try:
            self.store.orders.mark_unknown(create.client_order_id, reason=reason)
        except StoreError as store_exc:
            raise OrderNotRecorded(
                f"order {create.client_order_id} MAY HAVE BEEN PLACED ({reason}), and the "
                f"state file could not record it: {store_exc.message}",
                hint="do not place it again; `kalshi reconcile` finds it once the state file "
                "can be written",
                client_order_id=create.client_order_id,
                order_id=None,
                remaining=create.count,
            ) from store_exc

    def look_up_lost(self, client_order_id: str, ticker: str) -> LostLookup:
        """The one lookup of an order whose answer was lost (`order place`, each row of `order
        batch`, a batch run again): by its client order id, once; found, booked by the rule
        every lookup of a lost order books by (`reconcile.take_found`: the fills copied before
        it was found become its intent's). Each outcome is a `LostLookup`, never raised: a
        state file that cannot record the order found is `unrecorded`, the order named placed."""
        from kalshi_cli.store import StoreError

        try:
            order = self.client.orders.find_order_by_client_id(client_order_id, ticker)
        except (ApiError, TransportError) as exc:
            return LostLookup(failed=exc)
        if order is None:
            return LostLookup()
        try:
            take_found(
                self.store,
                self.store.orders.get_intent(client_order_id),
                order,
                now=self.context.now(),
                subaccount=self.context.subaccount,
            )
        except StoreError as store_exc:
            status = f"{order.status}, found after its answer was lost"
            remaining = order.remaining_count if order.status == "resting" else ZERO
            unrecorded = placed_unrecorded(
                client_order_id, order.order_id, status, remaining, store_exc
            )
            unrecorded.__cause__ = store_exc
            return LostLookup(found=order, unrecorded=unrecorded)
        return LostLookup(found=order)

    # ---------------------------------------------------------------------------- reconcile

    def reconcile(self, *, since_ts: int | None = None, grace_s: float = 0.0) -> ReconcileReport:
        """Bring orders, fills and settlements from the exchange into the state file: the four
        steps of `kalshi_cli.services.reconcile`."""
        return reconcile(
            self.client,
            self.store,
            clock=self.context.clock,
            since_ts=since_ts,
            grace_s=grace_s,
            read_lag_s=self.read_lag_s,
            unnamed=lambda: order_subaccount(self.client),
        )

    def sync_fills(self, *, since_ts: int | None = None) -> int:
        """Copy the exchange's fills into the state file, listed as a reconcile lists them
        (`sync_account_fills`: on no subaccount, each subaccount's on its own); returns how
        many were new."""
        numbers = listed_subaccounts(self.client)
        return sync_account_fills(self.client, self.store, since_ts=since_ts, numbers=numbers)[0]

    # `kalshi order batch` (orders/batch.py) records its rows' intents, sends them in one
    # request, and records each answer through these, in the order `submit` keeps for one.

    def record_answer(self, create: CreateOrder, result: CreateOrderResult) -> str:
        """Record the exchange's acceptance of `create`, as `submit` does; returns the status
        recorded (resting, executed or canceled)."""
        status = status_after_create(result.fill_count, result.remaining_count, create)
        self._record_accepted(create, status, result)
        return status

    def record_found(self, order: Order) -> None:
        """Record an order read back from the exchange, or an answer booked as one (its fills,
        status and order id): an answer that came once another process had answered its intent,
        an amend's order (one found after its create's answer was lost is `look_up_lost`'s,
        booked by `reconcile.take_found`). A read that shows less than the row
        already knows (fewer contracts filled, or resting where the row is executed or
        cancelled: `moves_backwards`) lags a write the row learned from since (reads lag
        writes), and is not copied in: fills only grow and an ended order never rests again."""
        book_read(self.store, order, now=self.context.now(), subaccount=self.context.subaccount)
