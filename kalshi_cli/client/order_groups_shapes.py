"""An order group as `client/order_groups.py` returns it (`OrderGroup`), re-exported by that
module and loaded on first use, so a client that never asks for one does not generate its
dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kalshi_cli.units import parse_count


@dataclass(frozen=True)
class OrderGroup:
    """A group as the exchange shows it. `orders` (the ids of the orders placed in it) comes
    with `get_order_group` only; a listing leaves it empty."""

    order_group_id: str
    contracts_limit: Decimal | None
    auto_cancel: bool
    orders: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any], order_group_id: str | None = None) -> OrderGroup:
        limit = data.get("contracts_limit_fp")
        orders = data.get("orders") or []
        if not isinstance(orders, list):
            raise TypeError("orders must be a list")
        return cls(
            order_group_id=str(order_group_id or data["id"]),
            contracts_limit=None if limit is None else parse_count(limit),
            auto_cancel=bool(data.get("is_auto_cancel_enabled", False)),
            orders=tuple(str(o) for o in orders),
            raw=data,
        )
