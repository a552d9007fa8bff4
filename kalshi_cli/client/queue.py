"""Queue positions of resting orders: how many contracts rest ahead of each at its price."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import msgspec

from kalshi_cli.client.base import ClientBase, Params, not_found_with_hint, path_segment
from kalshi_cli.vocabulary.errors import NotFoundError
from kalshi_cli.vocabulary.models import Order


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
        response = self._request(
            "GET", "/portfolio/orders/queue_positions", params=params, auth=True
        )
        return self._decode(response, _ahead, "queue positions")

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
            response = self._request("GET", path, auth=True)
        except NotFoundError as exc:
            raise not_found_with_hint(
                exc, f"no resting order {order_id}", "`kalshi order list` shows them"
            ) from exc
        return self._decode(response, _one, "queue position")
