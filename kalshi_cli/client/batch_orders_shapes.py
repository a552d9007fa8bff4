"""One order's outcome in a batch as `client/batch_orders.py` returns it (`BatchItem`),
re-exported by that module and loaded on first use, so a client that never sends a batch does
not generate its dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kalshi_cli.client.requests import CreateOrderResult


@dataclass(frozen=True)
class BatchItem:
    client_order_id: str
    result: CreateOrderResult | None  # the order, when it was created
    error: str | None  # why not, in the exchange's words (or why its outcome is unknown)
    # the item does not say plainly whether the order exists (no order id and no error, both,
    # the exchange's own trouble, named twice): it is looked up, never taken for a refusal
    unknown: bool = False
    # its error is the exchange's own trouble (an internal error, unavailable, a timeout): a 5xx
    # for this one order, which the trade loop's API error guard counts as one
    trouble: bool = False
