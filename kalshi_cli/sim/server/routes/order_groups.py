"""Order groups (openapi.yaml 3.31.0, tag `order-groups`): create, list, get, delete, reset, trigger
and a new limit, each a call into the exchange core (sim/core/order_groups.py).

A group belongs to one subaccount, with the spec's defaults (routes/subaccounts.py): create acts on
the body's `subaccount`, else 0; the listing and the single read default to all subaccounts; delete,
reset, trigger and limit to 0, so a group elsewhere is not found unless named.

A group lives on the exchange shard it was created on (the create body's `exchange_index`,
"Defaults to 0"), and each answer names it; delete, reset, trigger and limit find it only on the
shard their `exchange_index` query names (the spec's `ExchangeIndexQuery`, "Defaults to 0"), as
a shard's engine knows its own groups alone. The list and the single read declare no
`exchange_index`: they cover every shard.
"""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.order_groups import SimOrderGroup
from kalshi_cli.sim.core.records import bad_request, not_found, owner
from kalshi_cli.sim.server.routes.subaccounts import (
    body_shard,
    lookup_ledger,
    read_ledgers,
    write_ledger,
)
from kalshi_cli.sim.server.routing import (
    INT64_MAX,
    Endpoint,
    Json,
    RequestContext,
    SimState,
    parse_count,
    shard_query,
)
from kalshi_cli.vocabulary.units import fmt_count


def parse_limit(body: Json) -> Decimal:
    """`contracts_limit` (whole contracts, >= 1; 0 counts as omitted, as Go's `omitempty`
    does) or `contracts_limit_fp`; when both are given they must match."""
    whole = body.get("contracts_limit")  # an integer when given: the body decoded as int64
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


def _read_ledgers(state: SimState, ctx: RequestContext) -> list[str]:
    """The ledgers a read covers: every subaccount unless the query names one."""
    return read_ledgers(state, ctx, all_by_default=True)


def _group(state: SimState, ctx: RequestContext) -> SimOrderGroup:
    """The group of the path on the subaccount (the query's `subaccount`, else 0) and the shard
    (its `exchange_index`, else 0) a write acts on. A group of another subaccount or shard, a
    subaccount not created, a shard the exchange does not run: 404, the only error these
    operations document besides 401 and 500."""
    shard = shard_query(ctx, auto_route=True)
    group = state.exchange.groups.order_group(lookup_ledger(ctx), ctx.path_param("order_group_id"))
    if group.exchange_index != (shard if shard is not None and shard >= 0 else 0):
        raise not_found()
    return group


def handle_get_order_groups(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    groups = state.exchange.groups.order_groups(*_read_ledgers(state, ctx))
    return 200, {"order_groups": [ser.order_group_json(g) for g in groups]}


def handle_create_order_group(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    body = ctx.body
    limit = parse_limit(body)
    shard = body_shard(state, body)
    ledger = write_ledger(state, ctx, body.get("subaccount"))
    group = state.exchange.groups.create_order_group(ledger, limit, shard)
    return 201, {
        "order_group_id": group.order_group_id,
        "subaccount": owner(ledger)[1],
        "exchange_index": group.exchange_index,
    }


def handle_get_order_group(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    group_id = ctx.path_param("order_group_id")
    found = state.exchange.groups.order_groups(*_read_ledgers(state, ctx))
    group = next((g for g in found if g.order_group_id == group_id), None)
    if group is None:
        raise not_found()
    return 200, {
        "is_auto_cancel_enabled": True,
        "contracts_limit_fp": fmt_count(group.contracts_limit),
        "orders": list(group.order_ids),
        "exchange_index": group.exchange_index,
    }


def handle_delete_order_group(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    group = _group(state, ctx)
    state.exchange.groups.delete_order_group(group.account_id, group.order_group_id)
    return 200, {}


def handle_reset_order_group(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    group = _group(state, ctx)
    state.exchange.groups.reset_order_group(group.account_id, group.order_group_id)
    return 200, {}


def handle_trigger_order_group(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    group = _group(state, ctx)
    state.exchange.groups.trigger_order_group(group.account_id, group.order_group_id)
    return 200, {}


def handle_update_order_group_limit(
    state: SimState, ctx: RequestContext
) -> tuple[int, Json | None]:
    group = _group(state, ctx)
    limit = parse_limit(ctx.body)
    state.exchange.groups.set_order_group_limit(group.account_id, group.order_group_id, limit)
    return 200, {}


_ONE = "/portfolio/order_groups/{order_group_id}"
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/portfolio/order_groups", handle_get_order_groups),
    Endpoint("POST", "/portfolio/order_groups/create", handle_create_order_group),
    Endpoint("GET", _ONE, handle_get_order_group),
    Endpoint("DELETE", _ONE, handle_delete_order_group),
    Endpoint("PUT", _ONE + "/reset", handle_reset_order_group),
    Endpoint("PUT", _ONE + "/trigger", handle_trigger_order_group),
    Endpoint("PUT", _ONE + "/limit", handle_update_order_group_limit),
)
