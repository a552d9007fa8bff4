"""The portfolio: balance, positions, fills, settlements, orders and the account's limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kalshi_cli.client.base import Params, not_found_with_hint, path_segment
from kalshi_cli.client.listing import Listings
from kalshi_cli.vocabulary.errors import (
    NotFoundError,
)
from kalshi_cli.vocabulary.models import ZERO, Balance, Fill, Order, Position, Settlement


class PortfolioApi(Listings):
    """The portfolio: balance, positions, fills, settlements, orders and the account's limits."""

    def get_balance(self) -> Balance:
        response = self._request("GET", "/portfolio/balance", auth=True)
        return self._answer(Balance, response, "balance")

    def get_positions(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        include_flat: bool = False,
    ) -> list[Position]:
        """Every market position that is not flat, across all pages; with `include_flat`, also
        the markets traded and since closed out (for cross-checking realized P&L and fees)."""
        count_filter = "total_traded" if include_flat else "position"
        params: Params = {
            "ticker": ticker,
            "event_ticker": event_ticker,
            "count_filter": count_filter,
        }
        positions = self._listing(
            "/portfolio/positions", "market_positions", Position, params, private=True
        )
        return [p for p in positions if include_flat or p.position != ZERO]

    def iter_fills(
        self,
        *,
        ticker: str | None = None,
        order_id: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        limit: int | None = None,
    ) -> Iterator[Fill]:
        params: Params = {
            "ticker": ticker,
            "order_id": order_id,
            "min_ts": min_ts,
            "max_ts": max_ts,
        }
        return self._listing("/portfolio/fills", "fills", Fill, params, limit, private=True)

    def iter_settlements(
        self, *, ticker: str | None = None, limit: int | None = None, subaccount: int | None = None
    ) -> Iterator[Settlement]:
        """The settlements of `subaccount` (the client's own when None; every subaccount's when
        that is None too, the spec's default). The Settlement names no subaccount: list one
        subaccount at a time to know whose each is."""
        params: Params = {"ticker": ticker, "subaccount": subaccount}
        return self._listing(
            "/portfolio/settlements",
            "settlements",
            Settlement,
            params,
            limit,
            private=True,
        )

    def iter_orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Order]:
        params: Params = {"ticker": ticker, "event_ticker": event_ticker, "status": status}
        return self._listing("/portfolio/orders", "orders", Order, params, limit, private=True)

    def get_order(self, order_id: str) -> Order:
        try:
            fields = self._get_fields(f"/portfolio/orders/{path_segment(order_id)}", auth=True)
        except NotFoundError as exc:
            raise not_found_with_hint(
                exc, f"unknown order {order_id}", "`kalshi order list` shows them"
            ) from exc
        return self._item(Order, fields, "order", "order")

    def find_order_by_client_id(self, client_order_id: str, ticker: str) -> Order | None:
        """The order placed with `client_order_id` on `ticker`, whatever its status, or None if
        the exchange has none: how an `OrderOutcomeUnknown` is resolved."""
        for order in self.iter_orders(ticker=ticker):
            if order.client_order_id == client_order_id:
                return order
        return None

    def get_account_limits(self) -> dict[str, Any]:
        body: dict[str, Any] = self._get("/account/limits", auth=True)
        return body
