"""Queue positions of resting orders: how many contracts rest ahead of each at its price."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.client.base import ClientBase, Params, not_found_with_hint, path_segment
from kalshi_cli.errors import NotFoundError
from kalshi_cli.units import parse_count

if TYPE_CHECKING:
    from kalshi_cli.models import Order  # loaded by the call that returns one


class QueueApi(ClientBase):
    """`GET /portfolio/orders/queue_positions` and `/portfolio/orders/{id}/queue_position`."""

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
        body = self._get("/portfolio/orders/queue_positions", params=params, auth=True)
        return self._parse(
            lambda b: {
                str(row["order_id"]): parse_count(row["queue_position_fp"])
                for row in b["queue_positions"] or []
            },
            body,
            "queue positions",
        )

    def queue_positions_of(
        self, orders: Iterable[Order], *, market_tickers: list[str] | None = None
    ) -> dict[str, Decimal]:
        """`get_queue_positions` for the resting ones of `orders`, whatever their subaccount:
        the read answers for one subaccount (0 unless named), so a client acting on none asks
        once for each subaccount one of them rests on (once for 0 when none rests)."""
        if self.subaccount is not None:
            return self.get_queue_positions(market_tickers=market_tickers)
        numbers = {o.subaccount or 0 for o in orders if o.status == "resting"} or {0}
        ahead: dict[str, Decimal] = {}
        for number in sorted(numbers):
            ahead |= self.get_queue_positions(market_tickers=market_tickers, subaccount=number)
        return ahead

    def get_queue_position(self, order_id: str) -> Decimal:
        """The contracts resting ahead of one resting order at its price."""
        path = f"/portfolio/orders/{path_segment(order_id)}/queue_position"
        try:
            body = self._get(path, auth=True)
        except NotFoundError as exc:
            raise not_found_with_hint(
                exc, f"no resting order {order_id}", "`kalshi order list` shows them"
            ) from exc
        return self._parse(lambda b: parse_count(b["queue_position_fp"]), body, "queue position")
