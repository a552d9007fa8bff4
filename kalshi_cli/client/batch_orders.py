"""The answer to a batch order creation (V2, `POST /portfolio/events/orders/batched`, sent by
`OrdersApi.batch_create_orders`): several orders in one request, each answered on its own.

Like `create_order`, a batch is never retried: a refusal of the whole request (4xx, 429, a
failure to connect before sending) means none of its orders exists (a 429's hint says to place
it again after a wait, as a single order's: `Connection.write`); a timeout, a dropped
connection or a 5xx after sending means any of them may exist (`OrderOutcomeUnknown`, naming the
first), to be resolved by looking each up by its `client_order_id`, never by sending again.
Within an answered batch, each item is either an order (`BatchItem.result`) or a refusal
(`BatchItem.error`), matched to its request by `client_order_id`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import msgspec

from kalshi_cli.client.requests import CreateOrder, CreateOrderResult, create_answer_problem
from kalshi_cli.vocabulary.errors import order_exists
from kalshi_cli.vocabulary.models import decode_answer


class BatchItem(msgspec.Struct, frozen=True):
    """One order's outcome in a batch."""

    client_order_id: str
    result: CreateOrderResult | None  # the order, when it was created
    error: str | None  # why not, in the exchange's words (or why its outcome is unknown)
    # the item does not say plainly whether the order exists (no order id and no error, both,
    # the exchange's own trouble, named twice): it is looked up, never taken for a refusal
    unknown: bool = False
    # its error is the exchange's own trouble (an internal error, unavailable, a timeout): a 5xx
    # for this one order, which the trade loop's API error guard counts as one
    trouble: bool = False
    # the exchange's error code for this order (None: it named none, or the order was made)
    code: str | None = None


# "The maximum batch size scales with your tier's write budget" (openapi.yaml 3.31.0): the
# largest batch whose cost, 10 tokens an order, the write bucket can hold
BATCH_CREATE_ITEM_COST = 10


# item error codes that are the exchange's own trouble, not a refusal of the order: the order
# may exist (REFERENCE.md: a 5xx is an unknown outcome; an item can carry one too)
_TROUBLE = ("internal", "unavailable", "timeout", "timed_out")


def read_batch_answer(
    answered: list[Any], sent: Mapping[str, CreateOrder] | None = None
) -> list[BatchItem]:
    """The answer's items, one per client order id: an order the answer names twice is unknown
    (which of the two is true cannot be told), and so is one whose counts are not counts of the
    order `sent` under its id (`create_answer_problem`)."""
    items = [_checked(_item(raw), sent or {}) for raw in answered]
    named = Counter(item.client_order_id for item in items)
    out: list[BatchItem] = []
    for item in items:
        times = named.pop(item.client_order_id, 0)
        if times == 1:
            out.append(item)
        elif times > 1:
            why = f"the batch answer named this order {times} times"
            out.append(BatchItem(item.client_order_id, None, why, unknown=True))
    return out


def _checked(item: BatchItem, sent: Mapping[str, CreateOrder]) -> BatchItem:
    request = sent.get(item.client_order_id)
    if item.result is None or request is None:
        return item
    problem = create_answer_problem(item.result, request)
    if problem is None:
        return item
    return BatchItem(item.client_order_id, None, problem, unknown=True)


def _item(raw: Any) -> BatchItem:
    """One item: the order it created, a refusal (an error and no order id), or unknown when it
    says neither plainly (every field of a batch-create item is optional in the spec)."""
    if not isinstance(raw, dict):
        raise TypeError("a batch item is not an object")
    # Read field by field, not as a Struct: every field is optional and `error` an object or a
    # text, and which of them came (however malformed) decides refused or unknown; the order
    # itself is decoded below, as `CreateOrderResult`.
    coid = str(raw.get("client_order_id") or "")
    error, order_id = raw.get("error"), raw.get("order_id")
    inner = error if isinstance(error, dict) else {"message": str(error)} if error else {}
    text = ": ".join(str(inner[k]) for k in ("code", "message", "details") if inner.get(k))
    if error and not order_id:
        code = str(inner.get("code") or "").lower()
        if any(word in code for word in _TROUBLE):
            why = f"the exchange's trouble, not a refusal: {text}"
            return BatchItem(coid, None, why, unknown=True, trouble=True, code=code)
        if order_exists(code):  # ours, under the id this toolkit wrote: looked up
            return BatchItem(coid, None, f"already on the exchange: {text}", unknown=True)
        return BatchItem(coid, None, text or "refused", code=code or None)
    if not order_id:
        return BatchItem(coid, None, "the batch answer gave no order id and no error", True)
    if error:
        return BatchItem(
            coid, None, f"the batch answer gave an order id and an error: {text}", True
        )
    result = decode_answer(CreateOrderResult, raw)
    return BatchItem(coid or (result.client_order_id or ""), result, None)
