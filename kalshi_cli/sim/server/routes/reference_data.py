"""Milestones, structured targets, incentive programs, search filters and live data: public reads of
scenario data (sim/server/scenario_data.py), in the spec's shapes, filters and paging. An
incentive program's `status` follows the simulator's clock.
"""

from __future__ import annotations

from typing import Any

from kalshi_cli.sim.core.records import ExchangeError
from kalshi_cli.sim.server import scenario_data
from kalshi_cli.sim.server.routing import (
    Endpoint,
    InvalidQuery,
    Json,
    RequestContext,
    SimState,
    found,
    paginate,
    query_bool,
    query_int,
    query_list,
    query_str,
)
from kalshi_cli.vocabulary.clock import parse_iso


def _data(state: SimState) -> scenario_data.ScenarioData:
    return scenario_data.of(state.exchange)


def seconds_of(text: Any) -> float | None:
    """An RFC 3339 time as Unix seconds, or None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        return parse_iso(text).timestamp()
    except ValueError:
        return None


def _detail(item: Json, name: str) -> Any:
    details = item.get("details")
    return item.get(name, details.get(name) if isinstance(details, dict) else None)


def _page(
    ctx: RequestContext, items: list[Json], key: str, size_name: str, *, default: int, hi: int
) -> tuple[list[Json], str]:
    size = query_int(ctx, size_name, default, 1, hi)
    assert size is not None
    return paginate(items, lambda i: str(i.get(key)), size, query_str(ctx, "cursor"))


# milestones -----------------------------------------------------------------------------------


def handle_milestones(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    if query_str(ctx, "limit") is None:
        raise InvalidQuery(ctx.operation, "limit: is required")
    start = query_str(ctx, "minimum_start_date")
    start_ts = seconds_of(start) if start is not None else None
    if start is not None and start_ts is None:
        raise InvalidQuery(ctx.operation, "minimum_start_date: is not an RFC 3339 time")
    exact = {n: query_str(ctx, n) for n in ("category", "type", "source_id", "competition")}
    related = query_str(ctx, "related_event_ticker")
    min_updated = query_int(ctx, "min_updated_ts", None)
    rows = []
    for item in _data(state).get("milestones"):
        if any(v is not None and _detail(item, n) != v for n, v in exact.items()):
            continue
        if related is not None and related not in (item.get("related_event_tickers") or []):
            continue
        if start_ts is not None and (seconds_of(item.get("start_date")) or 0) < start_ts:
            continue
        if min_updated is not None and (seconds_of(item.get("last_updated_ts")) or 0) < min_updated:
            continue
        rows.append(item)
    page, cursor = _page(ctx, rows, "id", "limit", default=100, hi=500)
    return 200, {"milestones": page, "cursor": cursor}


def handle_milestone(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    item = found(_data(state).find("milestones", ctx.path_param("milestone_id")), "milestone")
    return 200, {"milestone": item}


# structured targets ---------------------------------------------------------------------------


def handle_structured_targets(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    ids = ctx.request.query_params.getlist("ids")
    wanted = {i for raw in ids for i in raw.split(",") if i}
    kind, competition = query_str(ctx, "type"), query_str(ctx, "competition")
    rows = [
        i
        for i in _data(state).get("structured_targets")
        if (not wanted or str(i.get("id")) in wanted)
        and (kind is None or i.get("type") == kind)
        and (competition is None or _detail(i, "competition") == competition)
    ]
    page, cursor = _page(ctx, rows, "id", "page_size", default=100, hi=2000)
    return 200, {"structured_targets": page, "cursor": cursor}


def handle_structured_target(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    item = found(
        _data(state).find("structured_targets", ctx.path_param("structured_target_id")),
        "structured target",
    )
    return 200, {"structured_target": item}


# incentive programs ---------------------------------------------------------------------------

_PROGRAM_STATUSES = ("all", "active", "upcoming", "closed", "paid_out")
_PROGRAM_TYPES = ("all", "liquidity", "volume", "margin_maker_volume", "margin_taker_volume")


def _program_status(item: Json, now: float) -> str:
    if item.get("paid_out"):
        return "paid_out"
    start, end = seconds_of(item.get("start_date")), seconds_of(item.get("end_date"))
    if start is not None and now < start:
        return "upcoming"
    if end is not None and now >= end:
        return "closed"
    return "active"


def _enum(ctx: RequestContext, name: str, allowed: tuple[str, ...]) -> str | None:
    value = query_str(ctx, name)
    if value is not None and value not in allowed:
        raise InvalidQuery(ctx.operation, f"{name}: value is not one of {list(allowed)}")
    return None if value in (None, "all") else value


def handle_incentive_programs(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    status = _enum(ctx, "status", _PROGRAM_STATUSES)
    kind = _enum(ctx, "type", _PROGRAM_TYPES)
    description = query_str(ctx, "incentive_description")
    rows = [
        i
        for i in _data(state).get("incentive_programs")
        if (status is None or _program_status(i, ctx.now) == status)
        and (kind is None or i.get("incentive_type") == kind)
        and (description is None or i.get("incentive_description") == description)
    ]
    page, cursor = _page(ctx, rows, "id", "limit", default=100, hi=10000)
    body: Json = {"incentive_programs": page}
    if cursor:
        body["next_cursor"] = cursor
    return 200, body


# search ---------------------------------------------------------------------------------------


def handle_tags_by_categories(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    items = _data(state).get("tags_by_categories")
    return 200, {"tags_by_categories": {str(i["category"]): i["tags"] for i in items}}


def handle_filters_by_sport(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    items = _data(state).get("filters_by_sport")
    return 200, {
        "filters_by_sports": {
            str(i["sport"]): scenario_data.public("filters_by_sport", i) for i in items
        },
        "sport_ordering": [str(i["sport"]) for i in items],
    }


# live data ------------------------------------------------------------------------------------


def _live(state: SimState, milestone_id: str) -> Json:
    return found(_data(state).find("live_data", milestone_id), "live data")


def handle_live_data(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    query_bool(ctx, "include_player_stats")
    item = _live(state, ctx.path_param("milestone_id"))
    if "type" in ctx.request.path_params and item.get("type") != ctx.path_param("type"):
        raise ExchangeError(404, "not_found", "live data not found")
    return 200, {"live_data": item}


def handle_live_datas(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    query_bool(ctx, "include_player_stats")
    ids = [i for raw in ctx.request.query_params.getlist("milestone_ids") for i in raw.split(",")]
    ids = [i for i in ids if i] or (query_list(ctx, "milestone_ids") or [])
    if not ids:
        raise InvalidQuery(ctx.operation, "milestone_ids: is required")
    items = [_data(state).find("live_data", i) for i in ids]
    return 200, {"live_datas": [i for i in items if i is not None]}


def handle_game_stats(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    item = found(_data(state).find("game_stats", ctx.path_param("milestone_id")), "game stats")
    return 200, scenario_data.public("game_stats", item)


def handle_event_live_data(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    query_str(ctx, "range")
    item = found(_data(state).find("event_live_data", ctx.path_param("event_ticker")), "live data")
    return 200, {"live_data": scenario_data.public("event_live_data", item)}


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/milestones", handle_milestones, private=False),
    Endpoint("GET", "/milestones/{milestone_id}", handle_milestone, private=False),
    Endpoint("GET", "/structured_targets", handle_structured_targets, private=False),
    Endpoint(
        "GET", "/structured_targets/{structured_target_id}", handle_structured_target, private=False
    ),
    Endpoint("GET", "/incentive_programs", handle_incentive_programs, private=False),
    Endpoint("GET", "/search/tags_by_categories", handle_tags_by_categories, private=False),
    Endpoint("GET", "/search/filters_by_sport", handle_filters_by_sport, private=False),
    Endpoint("GET", "/live_data/milestone/{milestone_id}", handle_live_data, private=False),
    Endpoint("GET", "/live_data/{type}/milestone/{milestone_id}", handle_live_data, private=False),
    Endpoint("GET", "/live_data/batch", handle_live_datas, private=False),
    Endpoint(
        "GET", "/live_data/milestone/{milestone_id}/game_stats", handle_game_stats, private=False
    ),
    Endpoint("GET", "/live_data/events/{event_ticker}", handle_event_live_data, private=False),
)
