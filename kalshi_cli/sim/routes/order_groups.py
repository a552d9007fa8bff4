"""Order groups (openapi.yaml 3.31.0, tag `order-groups`): create, list, get, delete, reset,
trigger and a new limit, each a call into the exchange core (sim/order_groups.py has the
semantics). The simulator has subaccount 0 and shard 0 only: a request for another one finds
no group."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.models import fmt_count
from kalshi_cli.sim import serialize as ser
from kalshi_cli.sim.core import SimOrderGroup, not_found
from kalshi_cli.sim.routes.orders import parse_shard_fields
from kalshi_cli.sim.routing import (
    INT64_MAX,
    Endpoint,
    Json,
    RequestContext,
    SimState,
    bad_request,
    other_shard,
    parse_count,
    query_int,
)


def parse_limit(body: Json) -> Decimal:
    """`contracts_limit` (whole contracts, >= 1; 0 counts as omitted, as Go's `omitempty`
    does) or `contracts_limit_fp`; when both are given they must match."""
    whole = body.get("contracts_limit")
    if whole is not None and (not isinstance(whole, int) or isinstance(whole, bool)):
        raise bad_request("contracts_limit must be an integer")
    if whole is not None and not 0 <= whole <= INT64_MAX:
        raise bad_request("contracts_limit must be at least 1")
    fixed = parse_count(body, "contracts_limit_fp", required=False)
    if not whole and fixed is None:
        raise bad_request("send contracts_limit or contracts_limit_fp", "missing_parameters")
    if whole and fixed is not None and Decimal(whole) != fixed:
        raise bad_request(
            f"contracts_limit {whole} and contracts_limit_fp {fmt_count(fixed)} do not match"
        )
    if fixed is not None:
        return fixed
    assert whole  # one of the two is given (checked above)
    return Decimal(whole)


def _elsewhere(ctx: RequestContext, *, auto_route: bool = False) -> bool:
    """Another shard, or a subaccount other than 0: the simulator keeps order groups on
    subaccount 0 only (docs/simulator.md), so none is found there."""
    elsewhere = other_shard(ctx, auto_route=auto_route)
    return elsewhere or query_int(ctx, "subaccount", None, 0, 63) not in (None, 0)


def _group(state: SimState, ctx: RequestContext) -> SimOrderGroup:
    if _elsewhere(ctx, auto_route=True):
        raise not_found()
    return state.exchange.order_group(ctx.account_id, ctx.path_param("order_group_id"))


def handle_get_order_groups(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    groups = [] if _elsewhere(ctx) else state.exchange.order_groups(ctx.account_id)
    return 200, {"order_groups": [ser.order_group_json(g) for g in groups]}


def handle_create_order_group(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    body = ctx.body
    limit = parse_limit(body)
    parse_shard_fields(body)
    if body.get("subaccount") not in (None, 0):
        raise bad_request("the simulator keeps order groups on subaccount 0 only")
    group = state.exchange.create_order_group(ctx.account_id, limit)
    return 201, {
        "order_group_id": group.order_group_id,
        "subaccount": 0,
        "exchange_index": ser.EXCHANGE_INDEX,
    }


def handle_get_order_group(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    group = _group(state, ctx)
    return 200, {
        "is_auto_cancel_enabled": True,
        "contracts_limit_fp": fmt_count(group.contracts_limit),
        "orders": list(group.order_ids),
        "exchange_index": ser.EXCHANGE_INDEX,
    }


def handle_delete_order_group(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    group = _group(state, ctx)
    state.exchange.delete_order_group(ctx.account_id, group.order_group_id)
    return 200, {}


def handle_reset_order_group(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    group = _group(state, ctx)
    state.exchange.reset_order_group(ctx.account_id, group.order_group_id)
    return 200, {}


def handle_trigger_order_group(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    group = _group(state, ctx)
    state.exchange.trigger_order_group(ctx.account_id, group.order_group_id)
    return 200, {}


def handle_update_order_group_limit(
    state: SimState, ctx: RequestContext
) -> tuple[int, Json | None]:
    group = _group(state, ctx)
    limit = parse_limit(ctx.body)
    state.exchange.set_order_group_limit(ctx.account_id, group.order_group_id, limit)
    return 200, {}


_ONE = "/portfolio/order_groups/{order_group_id}"
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/portfolio/order_groups", handle_get_order_groups, "GetOrderGroups"),
    Endpoint(
        "POST",
        "/portfolio/order_groups/create",
        handle_create_order_group,
        "CreateOrderGroup",
        body="CreateOrderGroupRequest",
    ),
    Endpoint("GET", _ONE, handle_get_order_group, "GetOrderGroup"),
    Endpoint("DELETE", _ONE, handle_delete_order_group, "DeleteOrderGroup"),
    Endpoint("PUT", _ONE + "/reset", handle_reset_order_group, "ResetOrderGroup"),
    Endpoint("PUT", _ONE + "/trigger", handle_trigger_order_group, "TriggerOrderGroup"),
    Endpoint(
        "PUT",
        _ONE + "/limit",
        handle_update_order_group_limit,
        "UpdateOrderGroupLimit",
        body="UpdateOrderGroupLimitRequest",
    ),
)
