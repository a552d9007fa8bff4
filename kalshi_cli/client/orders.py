"""Orders (openapi.yaml 3.31.0, tag `orders`): written through the V2 endpoints, read through
`/portfolio/orders`, and the queue positions of resting orders. How each write is retried, and
when its outcome is unknown: client/connection.py and `batch_orders.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from kalshi_cli.client.batch_orders import BATCH_CREATE_ITEM_COST, BatchItem, read_batch_answer
from kalshi_cli.client.connection import (
    Area,
    Connection,
    Params,
    missing_as,
    no_order_reason,
    path_segment,
)
from kalshi_cli.client.ratelimit import request_cost
from kalshi_cli.client.requests import (
    AmendOrder,
    AmendResult,
    CancelResult,
    CreateOrder,
    CreateOrderResult,
    DecreaseResult,
    after_lost_answer,
    check_count,
    check_price,
    create_answer_problem,
    decode_cancel_result,
)
from kalshi_cli.client.retry import Resend, UnknownOutcome, may_have_acted, resent
from kalshi_cli.vocabulary.errors import (
    AmendOutcomeUnknown,
    KalshiError,
    OrderOutcomeUnknown,
    ValidationError,
    refuses_the_key,
)
from kalshi_cli.vocabulary.models import Order, decode_answer
from kalshi_cli.vocabulary.units import (
    ZERO,
    fmt_count,
)

if TYPE_CHECKING:
    import httpx

_ORDERS_LISTED = "`kalshi order list` shows them"
A = TypeVar("A", AmendResult, DecreaseResult)


class _QueuePosition(msgspec.Struct, frozen=True):
    """`GET /portfolio/orders/{id}/queue_position`: the contracts ahead of that order."""

    queue_position: Decimal = msgspec.field(name="queue_position_fp")


class _OrderQueuePosition(_QueuePosition, frozen=True, kw_only=True):
    order_id: str


class _QueuePositions(msgspec.Struct, frozen=True):
    queue_positions: list[_OrderQueuePosition] | None  # required; null when nothing rests


def _ahead(content: bytes) -> dict[str, Decimal]:
    rows = msgspec.json.decode(content, type=_QueuePositions).queue_positions or []
    return {row.order_id: row.queue_position for row in rows}


def _one(content: bytes) -> Decimal:
    return msgspec.json.decode(content, type=_QueuePosition).queue_position


def _each_accounted_for(
    asked: list[str], items: list[CancelResult], *, unnamed: str
) -> list[CancelResult]:
    """One result per order of a batch cancel, in the order asked: the answer's item for it when the
    answer names it exactly once. Any other order is not proven cancelled (an error of its own,
    nothing reduced): left out, unreadable, no `orders` list, or named twice; `unnamed` says
    which (`_cancel_answers`). An item for an order the request did not name is no answer about
    any order."""
    named: dict[str, list[CancelResult]] = {}
    for item in items:
        named.setdefault(item.order_id, []).append(item)
    out: list[CancelResult] = []
    for order_id in asked:
        found = named.get(order_id, [])
        if len(found) == 1:
            out.append(found[0])
            continue
        why = f"the batch cancel's answer named it {len(found)} times" if found else unnamed
        out.append(CancelResult(order_id, ZERO, f"not proven cancelled: {why}; look it up"))
    return out


def _cancel_answers(conn: Connection, response: httpx.Response) -> tuple[list[CancelResult], str]:
    """The items of a batch cancel's answer that can be read, and why an order none of them
    names is not proven cancelled (`_each_accounted_for`). An answer or an item that cannot be
    read is no answer about any order, not the end of the cancels: a cancel is idempotent and
    the next listing decides. Raised, it stopped `kalshi cancel-all` at once, its other
    batches never sent and their orders left resting, where a 503 is tried again."""
    try:
        body = conn.body(response)
    except KalshiError as exc:
        return [], f"the batch cancel's answer could not be read ({exc.message})"
    if "orders" not in body:
        return [], "the batch cancel's answer had no 'orders' list, which the spec requires"
    listed = body["orders"]
    if listed is not None and not isinstance(listed, list):
        return [], "the batch cancel's answer could not be read: its 'orders' is no list"
    read: list[CancelResult] = []
    unread: list[str] = []
    for item in listed or []:
        try:
            read.append(conn.parse(decode_cancel_result, item, "cancel result"))
        except KalshiError as exc:
            unread.append(exc.message)
    if unread:
        return read, (
            f"the batch cancel's answer did not name it readably ({len(unread)} of its items "
            f"could not be read: {unread[0]})"
        )
    return read, "the batch cancel's answer did not name it"


def placed_with(orders: Iterable[Order], client_order_id: str) -> Order | None:
    """The first of `orders` placed with `client_order_id`, or None: the lookup of an order
    whose create answer was lost, by the id sent with it (every client's
    `find_order_by_client_id`)."""
    return next((o for o in orders if o.client_order_id == client_order_id), None)


class OrdersApi(Area):
    """Orders: placed, changed and cancelled; listed and looked up; their places in the queue."""

    def create_order(self, request: CreateOrder) -> CreateOrderResult:
        """Place one order, never retried. A 4xx (a 429 too) is a refusal, nothing created; a
        failure to connect raises `TransportError`; a timeout, a dropped connection or a 5xx
        raises `OrderOutcomeUnknown`."""
        coid = request.client_order_id
        what = f"order {coid}"
        unknown = UnknownOutcome.of_created(
            what, "it may or may not exist", coid, lost=f"{what} may or may not exist"
        )
        response = self._conn.write(
            "POST", "/portfolio/events/orders", unknown, json=request.to_api()
        )
        body = self._conn.written(response, unknown, self._conn.body)
        missing = no_order_reason(response.status_code, body, what)
        if missing:
            raise unknown.error(missing)
        try:
            result = decode_answer(CreateOrderResult, body)
        except (KeyError, TypeError, ValueError) as exc:
            raise OrderOutcomeUnknown(
                f"the exchange accepted {what} but its answer could not be read",
                client_order_id=coid,
            ) from exc
        problem = create_answer_problem(result, request)
        if problem is not None:
            raise OrderOutcomeUnknown(f"{problem}; {what} may rest or not", client_order_id=coid)
        return result

    def cancel_order(
        self, order_id: str, *, ticker: str | None = None, subaccount: int | None = None
    ) -> CancelResult:
        """Cancel one order (retried: cancelling is idempotent). `ticker` lets the exchange
        route the cancel to the right shard; `subaccount` names the order's (default 0)."""
        response = self._conn.request(
            "DELETE",
            f"/portfolio/events/orders/{path_segment(order_id)}",
            params={"market_ticker": ticker, "subaccount": subaccount},
            auth=True,
        )
        result = self._conn.parse(decode_cancel_result, self._conn.body(response), "cancel result")
        if result.error is not None:
            raise KalshiError(f"cancel of order {order_id}: {result.error}")
        return result

    def batch_cancel_size(self) -> int:
        """The most cancels one batch cancel request carries at this client's tier: as many as
        its write budget pays for (openapi.yaml `BatchCancelOrdersV2`: "The maximum batch size
        scales with your tier's write budget", each item billed as one cancel). `batch_cancel`
        splits a longer list into requests of this size, and the kill switch and the trade
        loop's stop send batches of it (services/killswitch/batch_shares.py)."""
        _, per_item = request_cost("DELETE", "/portfolio/events/orders/batched")
        return self._conn.limiter.max_batch_items(per_item=per_item)

    def cancel_all_orders(self) -> None:
        """Cancel every resting order of every subaccount (`DELETE /portfolio/events/orders`)."""
        self._conn.request("DELETE", "/portfolio/events/orders", auth=True)

    def batch_cancel(
        self,
        orders: list[tuple[str, str | None]],
        *,
        subaccounts: dict[str, int] | None = None,
    ) -> list[CancelResult]:
        """Cancel (order_id, ticker) pairs in batches: one result per pair, in their order.
        Per-order failures come back as `CancelResult.error`, not as an exception, and so does
        an order the answer does not account for, an answer that cannot be read included
        (`_each_accounted_for`). `subaccounts` names an order's subaccount (an item without
        one is subaccount 0's, as the exchange reads it).

        Split into several requests (the write budget is smaller than a batch), a request that
        fails keeps no other's answer from its caller: its orders come back not proven
        cancelled (`after_lost_answer` when its answer may have been lost), and the requests
        after it go out, unless it refused the key (the rest are not sent). Raised only when no
        request was answered: the caller judges the failure (tries again, sends the orders
        alone), so the failure raised is a refused key, else one that may have acted when any
        may have (`may_have_acted`: a lost answer), whose orders a later try may find gone."""
        size = self.batch_cancel_size()
        chunks = [orders[start : start + size] for start in range(0, len(orders), size)]
        results: list[CancelResult] = []
        failure: KalshiError | None = None
        answered = False
        for number, chunk in enumerate(chunks):
            try:
                results.extend(self._cancel_request(chunk, subaccounts or {}))
                answered = True
            except KalshiError as exc:
                ends = refuses_the_key(exc)  # every later request would be refused too
                if failure is None or ends or not may_have_acted(failure):
                    failure = exc
                left = chunks[number:] if ends else [chunk]
                why = f"not proven cancelled: its batch cancel request failed ({exc.one_line()})"
                lost = may_have_acted(exc)
                results.extend(
                    CancelResult(oid, ZERO, why, after_lost_answer=lost)
                    for unsent in left
                    for oid, _ in unsent
                )
                if ends:
                    break
        if failure is not None and not answered:
            raise failure
        return results

    def _cancel_request(
        self, chunk: list[tuple[str, str | None]], where: dict[str, int]
    ) -> list[CancelResult]:
        """One batch cancel request: a result for each order of `chunk`, those refused after a
        retried request's answer was lost marked so. Refused whole (a 4xx) after a try whose
        answer was lost, it raises the doubt (`retry.resent`): that try may have cancelled
        them, and the refusal speaks of the last try only."""
        items = [
            {"order_id": oid}
            | ({"market_ticker": t} if t else {})
            | ({"subaccount": where[oid]} if oid in where else {})
            for oid, t in chunk
        ]
        lost: list[KalshiError] = []

        def send(keep: Callable[[KalshiError], object]) -> httpx.Response:
            def seen(exc: KalshiError) -> None:
                lost.append(exc)
                keep(exc)

            return self._conn.request(
                "DELETE", "/portfolio/events/orders/batched", json={"orders": items},
                items=len(chunk), auth=True, on_retry=seen,
            )  # fmt: skip

        unknown = UnknownOutcome.read_by(
            f"the batch cancel of {len(chunk)} order(s)",
            "some of them may have been cancelled",
            "kalshi order list",
        )
        response = resent(send, unknown)
        answers, unnamed = _cancel_answers(self._conn, response)
        told = _each_accounted_for([oid for oid, _ in chunk], answers, unnamed=unnamed)
        return after_lost_answer(told) if any(map(may_have_acted, lost)) else told

    def amend_order(
        self,
        order_id: str,
        terms: AmendOrder,
        *,
        subaccount: int | None = None,
    ) -> AmendResult:
        """Change price, size and/or expiry (`AmendOrder`: `count` is the new total, filled so
        far plus what should rest; an `expiration_time` other than None or 0 must be in the
        future). `subaccount` names the order's (default: the client's, else 0). Retried only
        when the exchange certainly did not act on the first attempt."""
        check_price(terms.price)
        check_count(terms.count)
        expiration_time = terms.expiration_time
        if expiration_time is not None and (
            isinstance(expiration_time, bool)
            or not isinstance(expiration_time, int)
            or expiration_time < 0
        ):
            raise ValidationError(
                "expiration_time must be unix seconds, or 0 to remove the expiry",
                code="bad_expiration",
            )
        return self._change(order_id, "amend", subaccount, terms.to_api(), AmendResult)

    def decrease_order(
        self,
        order_id: str,
        *,
        reduce_by: Decimal | None = None,
        reduce_to: Decimal | None = None,
        ticker: str | None = None,
        subaccount: int | None = None,
    ) -> DecreaseResult:
        """Shrink a resting order by `reduce_by`, or to `reduce_to` (exactly one of them), on
        `subaccount` (the order's; default: the client's, else 0). `ticker`, the order's
        market, routes the decrease to its shard: without it the exchange looks on shard 0.
        Retried only when the exchange certainly did not act; an answer without the order id
        or what rests now (`remaining_count`) is `AmendOutcomeUnknown`: look the order up."""
        if (reduce_by is None) == (reduce_to is None):
            raise ValidationError(
                "give exactly one of reduce_by and reduce_to", code="conflicting_options"
            )
        if reduce_by is not None:
            body = {"reduce_by": fmt_count(check_count(reduce_by, "reduce_by"))}
        else:
            assert reduce_to is not None
            if reduce_to != 0:
                check_count(reduce_to, "reduce_to")
            body = {"reduce_to": fmt_count(reduce_to)}
        if ticker:
            body["market_ticker"] = ticker
        return self._change(order_id, "decrease", subaccount, body, DecreaseResult)

    def _change(
        self, order_id: str, verb: str, subaccount: int | None, body: dict[str, Any], read: type[A]
    ) -> A:
        """The answer of an amend or a decrease (`verb`) of `order_id`, as `read`: sent again
        only when the exchange certainly did not act, and `AmendOutcomeUnknown` whenever it may
        have (a 5xx, a connection lost after sending, an answer that cannot be read, names no
        order or lacks what `read` requires: a decrease's is what rests now, never "0 left"):
        the order is to be read, never the change sent again."""
        what = f"{verb} of order {order_id}"
        unknown = UnknownOutcome(
            f"the {what}",
            "it may or may not have been applied",
            lambda message: AmendOutcomeUnknown(message, order_id=order_id),
            lost=f"the {what} may or may not have been applied",
        )
        response = self._conn.write(
            "POST",
            f"/portfolio/events/orders/{path_segment(order_id)}/{verb}",
            unknown,
            params={"subaccount": subaccount},
            json=body,
            resend=Resend.IF_UNSENT,
        )
        answer = self._conn.written(response, unknown, self._conn.body)
        missing = no_order_reason(response.status_code, answer, unknown.what)
        if missing:
            raise unknown.error(missing)
        try:
            return decode_answer(read, answer)
        except (TypeError, ValueError) as exc:
            raise AmendOutcomeUnknown(
                f"the exchange answered the {what} but its answer could not be read ({exc}); "
                "it may or may not have been applied",
                order_id=order_id,
            ) from exc

    def iter_orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Order]:
        params: Params = {"ticker": ticker, "event_ticker": event_ticker, "status": status}
        return self._conn.listing(
            "/portfolio/orders", "orders", Order, params, limit, private=True,
            cursor_required=True,
        )  # fmt: skip

    def get_order(self, order_id: str) -> Order:
        with missing_as(f"unknown order {order_id}", _ORDERS_LISTED):
            fields = self._conn.get_fields(f"/portfolio/orders/{path_segment(order_id)}", auth=True)
        return self._conn.item(Order, fields, "order", "order")

    def find_order_by_client_id(self, client_order_id: str, ticker: str) -> Order | None:
        """The order placed with `client_order_id` on `ticker`, whatever its status, or None if
        the exchange has none: how an `OrderOutcomeUnknown` is resolved."""
        return placed_with(self.iter_orders(ticker=ticker), client_order_id)

    def get_queue_positions(
        self,
        *,
        market_tickers: list[str] | None = None,
        event_ticker: str | None = None,
        subaccount: int | None = None,
    ) -> dict[str, Decimal]:
        """order id -> contracts ahead of it, for every resting order (of these markets or
        this event) of `subaccount` (the client's own when None; subaccount 0 when that is None
        too, the spec's default)."""
        params: Params = {
            "market_tickers": ",".join(market_tickers) if market_tickers else None,
            "event_ticker": event_ticker,
            "subaccount": subaccount,
        }
        response = self._conn.request(
            "GET", "/portfolio/orders/queue_positions", params=params, auth=True
        )
        return self._conn.decode(response, _ahead, "queue positions")

    def queue_positions_of(
        self, orders: Iterable[Order], *, market_tickers: list[str] | None = None
    ) -> dict[str, Decimal]:
        """`get_queue_positions` for the resting ones of `orders`, whatever their subaccount:
        the read answers for one subaccount (0 unless named), so a client acting on none asks
        once for each subaccount one of them rests on (once for 0 when none rests)."""
        if self._conn.subaccount is not None:
            return self.get_queue_positions(market_tickers=market_tickers)
        numbers = {o.subaccount or 0 for o in orders if o.status == "resting"} or {0}
        ahead: dict[str, Decimal] = {}
        for number in sorted(numbers):
            ahead |= self.get_queue_positions(market_tickers=market_tickers, subaccount=number)
        return ahead

    def get_queue_position(self, order_id: str) -> Decimal:
        """The contracts resting ahead of one resting order at its price."""
        path = f"/portfolio/orders/{path_segment(order_id)}/queue_position"
        with missing_as(f"no resting order {order_id}", _ORDERS_LISTED):
            response = self._conn.request("GET", path, auth=True)
        return self._conn.decode(response, _one, "queue position")

    def batch_size(self) -> int:
        """The most orders one batch may carry at this client's tier."""
        return self._conn.limiter.max_batch_items(per_item=BATCH_CREATE_ITEM_COST)

    def batch_create_orders(
        self, orders: list[CreateOrder], *, subaccount: int | None = None
    ) -> list[BatchItem]:
        """Send `orders` (at most `batch_size()`) in one request, once. See the docstring."""
        path = "/portfolio/events/orders/batched"
        if not orders or len(orders) > self.batch_size():
            raise ValueError(f"a batch holds 1 to {self.batch_size()} orders, not {len(orders)}")
        first = orders[0].client_order_id
        what = f"a batch of {len(orders)} orders ({first}...)"
        extra = {} if subaccount is None else {"subaccount": subaccount}
        items = [o.to_api() | extra for o in orders]
        unknown = UnknownOutcome.of_created(
            what, "any of them may exist", first, lost=f"any order of {what} may exist"
        )
        response = self._conn.write(
            "POST", path, unknown, json={"orders": items}, items=len(orders)
        )

        def outcomes(response: httpx.Response) -> list[BatchItem]:
            answered = self._conn.body(response).get("orders")
            if not isinstance(answered, list):
                raise TypeError("no orders list")
            return read_batch_answer(answered, {o.client_order_id: o for o in orders})

        return self._conn.written(response, unknown, outcomes)
