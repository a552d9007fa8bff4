"""Order writes (V2): create, cancel, cancel all, batch cancel, amend, decrease."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kalshi_cli.client.base import (
    BATCH_CANCEL_MAX,
    ClientBase,
    no_order_reason,
    path_segment,
)
from kalshi_cli.client.requests import (
    CancelResult,
    CreateOrder,
    CreateOrderResult,
    check_count,
    check_price,
    decode_cancel_result,
)
from kalshi_cli.client.retry import Resend, nothing_sent
from kalshi_cli.vocabulary.errors import (
    AmendOutcomeUnknown,
    KalshiError,
    OrderOutcomeUnknown,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)
from kalshi_cli.vocabulary.models import decode_answer
from kalshi_cli.vocabulary.units import (
    BookSide,
    fmt_count,
    fmt_dollars,
    parse_count,
)


class TradingApi(ClientBase):
    """Order writes (V2): create, cancel, cancel all, batch cancel, amend, decrease."""

    def create_order(self, request: CreateOrder) -> CreateOrderResult:
        """Place one order. Never retried: see the module docstring.

        A 4xx is a refusal (nothing was created) and raises its `ApiError`; a 429 raises
        `RateLimitedError` (refused, nothing created; try again later only after checking); a
        failure to connect raises `TransportError` (nothing reached the exchange); a timeout,
        a dropped connection or a 5xx raises `OrderOutcomeUnknown`.
        """
        path = "/portfolio/events/orders"
        coid = request.client_order_id
        what = f"order {coid}"
        self._require_key(f"placing {what}")
        try:
            response = self._send_once("POST", path, json=request.to_api(), what=what)
        except RateLimitedError as exc:
            exc.hint = "the exchange refused it before placing it; wait, then place it again"
            raise
        except ServerError as exc:
            raise OrderOutcomeUnknown(
                f"the exchange answered HTTP {exc.status} to {what}; it may or may not exist",
                client_order_id=coid,
            ) from exc
        except TransportError as exc:
            if nothing_sent(exc):
                raise
            raise OrderOutcomeUnknown(
                f"{exc.message}; {what} may or may not exist", client_order_id=coid
            ) from exc
        try:
            body = self._body(response)
        except KalshiError as exc:
            raise OrderOutcomeUnknown(
                f"the exchange answered HTTP {response.status_code} to {what} but its answer "
                "could not be read; it may or may not exist",
                client_order_id=coid,
            ) from exc
        missing = no_order_reason(response.status_code, body, what)
        if missing:
            raise OrderOutcomeUnknown(missing, client_order_id=coid)
        try:
            return decode_answer(CreateOrderResult, body)
        except (KeyError, TypeError, ValueError) as exc:
            raise OrderOutcomeUnknown(
                f"the exchange accepted {what} but its answer could not be read",
                client_order_id=coid,
            ) from exc

    def cancel_order(
        self, order_id: str, *, ticker: str | None = None, subaccount: int | None = None
    ) -> CancelResult:
        """Cancel one order (retried: cancelling is idempotent). `ticker` lets the exchange
        route the cancel to the right shard; `subaccount` names the order's (default 0)."""
        response = self._request(
            "DELETE",
            f"/portfolio/events/orders/{path_segment(order_id)}",
            params={"market_ticker": ticker, "subaccount": subaccount},
            auth=True,
        )
        result = self._parse(decode_cancel_result, self._body(response), "cancel result")
        if result.error is not None:
            raise KalshiError(f"cancel of order {order_id}: {result.error}")
        return result

    def cancel_all_orders(self) -> None:
        """Cancel every resting order of every subaccount (`DELETE /portfolio/events/orders`)."""
        self._request("DELETE", "/portfolio/events/orders", auth=True)

    def batch_cancel(
        self,
        orders: list[tuple[str, str | None]],
        *,
        subaccounts: dict[str, int] | None = None,
    ) -> list[CancelResult]:
        """Cancel (order_id, ticker) pairs in batches; per-order failures come back as
        `CancelResult.error`, not as an exception. `subaccounts` names an order's subaccount
        (an item without one is subaccount 0's, as the exchange reads it)."""
        path = "/portfolio/events/orders/batched"
        size = min(BATCH_CANCEL_MAX, self._limiter.max_batch_items(per_item=2))
        results: list[CancelResult] = []
        for start in range(0, len(orders), size):
            chunk = orders[start : start + size]
            where = subaccounts or {}
            items = [
                {"order_id": oid}
                | ({"market_ticker": t} if t else {})
                | ({"subaccount": where[oid]} if oid in where else {})
                for oid, t in chunk
            ]
            response = self._request(
                "DELETE", path, json={"orders": items}, items=len(chunk), auth=True
            )
            body = self._body(response)
            results.extend(
                self._parse(decode_cancel_result, item, "cancel result")
                for item in body.get("orders") or []
            )
        return results

    def amend_order(
        self,
        order_id: str,
        *,
        ticker: str,
        book_side: BookSide,
        price: Decimal,
        count: Decimal,
        updated_client_order_id: str | None = None,
        expiration_time: int | None = None,
    ) -> dict[str, Any]:
        """Change price, size and/or expiry. `count` is the new total: filled so far plus what
        should rest. `expiration_time` (unix seconds): None keeps the expiry, 0 removes it,
        anything else must be in the future. Retried only when the exchange certainly did not
        act on the first attempt."""
        check_price(price)
        check_count(count)
        if expiration_time is not None and (
            isinstance(expiration_time, bool)
            or not isinstance(expiration_time, int)
            or expiration_time < 0
        ):
            raise ValidationError(
                "expiration_time must be unix seconds, or 0 to remove the expiry",
                code="bad_expiration",
            )
        body: dict[str, Any] = {
            "ticker": ticker,
            "side": BookSide(book_side).value,
            "price": fmt_dollars(price),
            "count": fmt_count(count),
        }
        if updated_client_order_id:
            body["updated_client_order_id"] = updated_client_order_id
        if expiration_time is not None:
            body["expiration_time"] = expiration_time
        what = f"amend of order {order_id}"
        try:
            response = self._request(
                "POST",
                f"/portfolio/events/orders/{path_segment(order_id)}/amend",
                json=body,
                mode=Resend.IF_UNSENT,
                auth=True,
            )
        except ServerError as exc:
            raise AmendOutcomeUnknown(
                f"the exchange answered HTTP {exc.status} to the {what}; it may or may not "
                "have been applied",
                order_id=order_id,
            ) from exc
        except TransportError as exc:
            if nothing_sent(exc):
                raise
            raise AmendOutcomeUnknown(
                f"{exc.message}; the {what} may or may not have been applied", order_id=order_id
            ) from exc
        try:
            answer = self._body(response)
        except KalshiError as exc:
            raise AmendOutcomeUnknown(
                f"the {what} was answered HTTP {response.status_code} with a body that could "
                "not be read; it may or may not have been applied",
                order_id=order_id,
            ) from exc
        missing = no_order_reason(response.status_code, answer, f"the {what}")
        if missing:
            raise AmendOutcomeUnknown(missing, order_id=order_id)
        return answer

    def decrease_order(
        self,
        order_id: str,
        *,
        reduce_by: Decimal | None = None,
        reduce_to: Decimal | None = None,
    ) -> dict[str, Any]:
        """Shrink a resting order by `reduce_by`, or to `reduce_to` (exactly one of them).
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
        response = self._request(
            "POST",
            f"/portfolio/events/orders/{path_segment(order_id)}/decrease",
            json=body,
            mode=Resend.IF_UNSENT,
            auth=True,
        )
        answer = self._body(response)
        what = f"the decrease of order {order_id}"
        missing = no_order_reason(response.status_code, answer, what)
        if missing:
            raise AmendOutcomeUnknown(missing, order_id=order_id)
        try:
            parse_count(answer["remaining_count"])
        except (KeyError, TypeError, ValueError):
            # what rests now is what the answer is for: without it, unknown (never "0 left")
            raise AmendOutcomeUnknown(
                f"the exchange answered {what} without what rests now (remaining_count "
                f"{answer.get('remaining_count', 'missing')!r}); it may or may not have been "
                "applied",
                order_id=order_id,
            ) from None
        return answer
