"""A base for the fake exchanges the kill-switch tests hand to `KillSwitch`: every call the kill
switch can make (its `CancelsOrders` protocol) fails the test unless the fake overrides it, so a
fake states which calls it expects and type-checks as an exchange without an ignore. A fake is
every area the kill switch reads (`orders`, `portfolio`, `order_groups`) itself. `resting_order`
is an order such a fake lists."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Self

from kalshi_cli.client.requests import CancelResult
from kalshi_cli.client.subaccounts import SubaccountBalance
from kalshi_cli.vocabulary.models import Fill, Order, decode_answer
from tests.fakes import EveryAreaItself

# the cancels one batch cancel request of a fake exchange carries (`batch_cancel_size`), as the
# real client's write budget sets it: 25 resting orders go in two batches
BATCH_CANCEL_SIZE = 20


class UnexpectedCalls(EveryAreaItself):
    subaccount: int | None = None  # the client acts on every subaccount

    def batch_cancel_size(self) -> int:
        return BATCH_CANCEL_SIZE

    def on_subaccount(self, subaccount: int | None) -> Self:
        raise AssertionError("this fake exchange did not expect a handle on a subaccount")

    def subaccount_balances(self) -> list[SubaccountBalance]:
        """An account of one subaccount, the primary: an order listed naming none is its."""
        return [SubaccountBalance(0, Decimal(0), 0)]

    def iter_orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
    ) -> Iterator[Order]:
        raise AssertionError("this fake exchange did not expect an order listing")

    def iter_fills(self, *, min_ts: int | None = None) -> Iterator[Fill]:
        raise AssertionError("this fake exchange did not expect a fill listing")

    def cancel_all_orders(self) -> None:
        raise AssertionError("this fake exchange did not expect a cancel-all")

    def get_order(self, order_id: str) -> Order:
        raise AssertionError("this fake exchange did not expect an order read by its id")

    def batch_cancel(
        self,
        orders: list[tuple[str, str | None]],
        *,
        subaccounts: dict[str, int] | None = None,
    ) -> list[CancelResult]:
        raise AssertionError("this fake exchange did not expect a batch cancel")

    def trigger_order_group(
        self,
        order_group_id: str,
        *,
        subaccount: int | None = None,
        exchange_index: int | None = None,
    ) -> None:
        raise AssertionError("this fake exchange did not expect an order-group trigger")


def resting_order(
    order_id: str,
    ticker: str = "KXT-EV-M00",
    *,
    count: str = "2.00",
    created: str | None = "2026-11-22T10:00:00Z",
    client_order_id: str | None = None,
    subaccount: int | None = None,
) -> Order:
    """A resting bid at 0.20 YES of `count` contracts, nothing filled, as the exchange lists it
    (`created` None: the listing gives no creation time)."""
    body: dict[str, object] = {
        "order_id": order_id,
        "ticker": ticker,
        "book_side": "bid",
        "status": "resting",
        "yes_price_dollars": "0.2000",
        "fill_count_fp": "0.00",
        "remaining_count_fp": count,
    }
    if created is not None:
        body["created_time"] = created
    if client_order_id is not None:
        body["client_order_id"] = client_order_id
    if subaccount is not None:
        body["subaccount_number"] = subaccount
    return decode_answer(Order, body)
