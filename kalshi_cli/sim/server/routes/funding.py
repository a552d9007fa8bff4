"""The account's money beyond trading: deposit and withdrawal history (scenario data), the total
value of its resting orders (403: no simulated account is an FCM member), its target balance
allocation across exchange indexes (kept and applied by the core's `ShardTransfers`,
sim/core/shard_transfers.py), and its API usage level (computed from its fills). See
docs/simulator.md "Money beyond trading".
"""

from __future__ import annotations

from typing import Any

from kalshi_cli.sim.core.records import ExchangeError, bad_request
from kalshi_cli.sim.server import scenario_data
from kalshi_cli.sim.server.routes.fcm import not_an_fcm_member
from kalshi_cli.sim.server.routing import (
    Endpoint,
    Json,
    RequestContext,
    SimState,
    paginate,
    query_int,
    query_str,
)
from kalshi_cli.vocabulary.units import ZERO, fmt_count

DAYS_30 = 30 * 86_400


def _records(state: SimState, ctx: RequestContext, kind: str) -> tuple[int, Json | None]:
    limit = query_int(ctx, "limit", 100, 1, 500) or 100
    mine = [
        scenario_data.public(kind, i)
        for i in scenario_data.of(state.exchange).get(kind)
        if i.get("account_id") == ctx.account_id
    ]
    page, cursor = paginate(mine, lambda i: str(i["id"]), limit, query_str(ctx, "cursor"))
    body: Json = {kind: page}
    if cursor:
        body["cursor"] = cursor
    return 200, body


def handle_deposits(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    return _records(state, ctx, "deposits")


def handle_withdrawals(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    return _records(state, ctx, "withdrawals")


def handle_resting_order_value(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    raise not_an_fcm_member("the total value of resting orders")


def handle_get_allocation(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    found = state.exchange.shard_transfers.allocation(ctx.account_id)
    return 200, {
        "allocations": [{"exchange_index": s, "percent": p} for s, p in found.allocations],
        "resting_margin_reservation": found.reservation,
    }


def _percent_item(item: Any) -> tuple[int, int]:
    if not isinstance(item, dict):
        raise bad_request("each allocation is an object")
    index, percent = item.get("exchange_index"), item.get("percent")
    for name, value in (("exchange_index", index), ("percent", percent)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"{name} is required and must be an integer")
    assert isinstance(index, int) and isinstance(percent, int)
    return index, percent


def handle_set_allocation(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    body: Json = ctx.body
    raw = body.get("allocations")
    if not isinstance(raw, list):
        raise bad_request("allocations is required", "missing_parameters")
    if len(raw) > 101:
        raise bad_request("at most 101 allocations")
    items = [_percent_item(i) for i in raw]
    reservation = str(body.get("resting_margin_reservation") or "sum")
    state.exchange.shard_transfers.set_allocation(ctx.account_id, items, reservation)
    return 200, {}


def handle_volume_progress(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    now = int(ctx.now)
    # archived fills older than the window are not rebuilt
    fills = state.exchange.history.fills(ctx.account_id, since=now - DAYS_30)
    volume = sum((f.count for f in fills if f.ts > now - DAYS_30), ZERO)
    goals = scenario_data.of(state.exchange).get("api_usage_goals")
    progress = {
        "computed_ts": now,
        "trailing_30d_volume_fp": fmt_count(volume),
        "goals": [scenario_data.public("api_usage_goals", g) for g in goals],
    }
    return 200, {"volume_progress": [progress]}


def handle_upgrade(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    if state.exchange.history.order_tiers(ctx.account_id) == (0, 0):  # no order, live or archived
        raise ExchangeError(
            403, "forbidden", "no API-created order in the account's latest 100 orders"
        )
    return 201, None


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/portfolio/deposits", handle_deposits),
    Endpoint("GET", "/portfolio/withdrawals", handle_withdrawals),
    Endpoint("GET", "/portfolio/summary/total_resting_order_value", handle_resting_order_value),
    Endpoint("GET", "/portfolio/target_balance_allocation", handle_get_allocation),
    Endpoint("POST", "/portfolio/target_balance_allocation", handle_set_allocation),
    Endpoint("GET", "/account/api_usage_level/volume_progress", handle_volume_progress),
    Endpoint("POST", "/account/api_usage_level/upgrade", handle_upgrade),
)
