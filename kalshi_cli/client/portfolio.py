"""The portfolio (openapi.yaml 3.31.0, tag `portfolio`): balance, positions, fills and
settlements. Orders are their own area (orders.py), and so are subaccounts (subaccounts.py)."""

from __future__ import annotations

from collections.abc import Iterator

from kalshi_cli.client.connection import Area, Params
from kalshi_cli.vocabulary.models import Balance, EventPosition, Fill, Position, Settlement
from kalshi_cli.vocabulary.units import ZERO


class PortfolioApi(Area):
    """Balance, positions, fills and settlements."""

    def get_balance(self) -> Balance:
        response = self._conn.request("GET", "/portfolio/balance", auth=True)
        return self._conn.answer(Balance, response, "balance")

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
        positions = self._conn.listing(
            "/portfolio/positions",
            "market_positions",
            Position,
            params,
            private=True,
            cursor_required=False,
        )
        return [p for p in positions if include_flat or p.position != ZERO]

    def get_event_positions(self, *, event_ticker: str | None = None) -> list[EventPosition]:
        """Each event's line of the positions listing, across all pages."""
        params: Params = {"event_ticker": event_ticker, "count_filter": "position"}
        listed = self._conn.listing(
            "/portfolio/positions",
            "event_positions",
            EventPosition,
            params,
            private=True,
            cursor_required=False,
        )
        return list(listed)

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
        # a fill lacking a field the spec requires is quarantined, never listed (models.Fill)
        listed = self._conn.listing(
            "/portfolio/fills", "fills", self._conn.fill_quarantine.fill_or_none, params, limit,
            private=True, cursor_required=True,
        )  # fmt: skip
        return (fill for fill in listed if fill is not None)

    def iter_settlements(
        self, *, ticker: str | None = None, limit: int | None = None, subaccount: int | None = None
    ) -> Iterator[Settlement]:
        """The settlements of `subaccount` (the client's own when None; every subaccount's when
        that is None too, the spec's default). The Settlement names no subaccount: list one
        subaccount at a time to know whose each is."""
        params: Params = {"ticker": ticker, "subaccount": subaccount}
        return self._conn.listing(
            "/portfolio/settlements",
            "settlements",
            Settlement,
            params,
            limit,
            private=True,
            cursor_required=False,
        )
