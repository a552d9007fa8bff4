"""The subaccount a client acts on: `Connection.subaccount`, applied to each request.

Set to N, every portfolio and order call acts on subaccount N: the `subaccount` query parameter of
the portfolio reads, the archived reads, cancel-all and the single-order writes, the field of a
created order and each batch item, and the order-group calls. Left at None, each call gets the
exchange's defaults (openapi.yaml 3.31.0): writes, positions, the balance and queue positions act on
subaccount 0; the order and fill listings, settlements and cancel-all cover every subaccount. `GET
/portfolio/orders/{id}` takes no subaccount.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_LISTINGS = frozenset(
    {
        "/portfolio/balance",
        "/portfolio/positions",
        "/portfolio/fills",
        "/portfolio/settlements",
        "/portfolio/orders",
        "/portfolio/orders/queue_positions",
        # the archive takes a subaccount as the live reads do (openapi.yaml 3.31.0): fills and
        # orders SubaccountQuery (omitted: all), positions SubaccountQueryDefaultPrimary (0)
        "/historical/fills",
        "/historical/orders",
        "/historical/positions",
    }
)
_CREATE = "/portfolio/events/orders"
_BATCHED = "/portfolio/events/orders/batched"
_ONE_ORDER = r"^/portfolio/events/orders/[^/]+(/amend|/decrease)?$"
_GROUP_CREATE = "/portfolio/order_groups/create"
_GROUPS = r"^/portfolio/order_groups(/[^/]+(/reset|/trigger|/limit)?)?$"


def scope_request(
    method: str, path: str, params: Mapping[str, Any] | None, json: Any, subaccount: int
) -> tuple[Mapping[str, Any] | None, Any]:
    """`params` and `json` of a request, naming `subaccount` where the path takes one. A
    `subaccount` query parameter the call names itself is kept, and so is an order group
    create body's; a created order and every batch item take `subaccount` whatever they named
    (the package's order requests never name one: the client's scope is where they go)."""
    if params and params.get("subaccount") is not None:
        return params, json
    query = {**(params or {}), "subaccount": subaccount}
    if path == _BATCHED:
        if isinstance(json, dict) and isinstance(json.get("orders"), list):
            items = [i | {"subaccount": subaccount} for i in json["orders"]]
            json = json | {"orders": items}
        return params, json
    if path == _CREATE:
        if method == "POST" and isinstance(json, dict):
            return params, json | {"subaccount": subaccount}
        return query, json  # DELETE: cancel all
    if (method == "GET" and path in _LISTINGS) or (method != "GET" and re.match(_ONE_ORDER, path)):
        return query, json
    if path == _GROUP_CREATE:
        if isinstance(json, dict) and json.get("subaccount") is None:
            return params, json | {"subaccount": subaccount}
        return params, json
    if re.match(_GROUPS, path):
        return query, json
    return params, json
