"""Data a scenario defines for the areas of the API the exchange core has no behaviour for
(milestones, structured targets, live data, deposits, the weather index and the like). The admin
API sets a kind as a whole (`PUT /sim/v1/data/{kind}` with `{"items": [...]}`) and reads it back;
the route modules serve it in the spec's shapes, filters and paging.

Each item is an object in the spec's schema for that kind (`KINDS`, its required fields checked here
so a scenario cannot make the simulator answer off the spec); per-account kinds carry their owner's
`account_id`, never served. Items keep their order. The data lives in memory beside the exchange
(`of(exchange)`), not in its journal.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import ExchangeError, bad_request
from kalshi_cli.sim.server.routing import SimState, loads_body

Json = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    schema: str  # the spec's schema of one item
    key: str  # the field that identifies an item
    required: tuple[str, ...]
    per_account: bool = False
    hidden: tuple[str, ...] = ()  # fields the simulator keys by but the schema does not have
    # lists of objects inside an item, each with the fields its schema requires
    nested: tuple[tuple[str, tuple[str, ...]], ...] = ()


KINDS: dict[str, Kind] = {
    "milestones": Kind(
        "Milestone",
        "id",
        (
            "id",
            "category",
            "type",
            "start_date",
            "related_event_tickers",
            "title",
            "notification_message",
            "details",
            "primary_event_tickers",
            "last_updated_ts",
        ),
    ),
    "structured_targets": Kind("StructuredTarget", "id", ("id",)),
    "incentive_programs": Kind(
        "IncentiveProgram",
        "id",
        (
            "id",
            "market_id",
            "market_ticker",
            "incentive_type",
            "incentive_description",
            "start_date",
            "end_date",
            "period_reward",
            "paid_out",
        ),
    ),
    "live_data": Kind("LiveData", "milestone_id", ("type", "details", "milestone_id")),
    "game_stats": Kind(
        "GetGameStatsResponse", "milestone_id", ("milestone_id",), hidden=("milestone_id",)
    ),
    "event_live_data": Kind(
        "EventLiveData",
        "event_ticker",
        ("event_ticker", "type", "details"),
        hidden=("event_ticker",),
    ),
    "tags_by_categories": Kind("tags of a series category", "category", ("category", "tags")),
    "filters_by_sport": Kind(
        "SportFilterDetails", "sport", ("sport", "scopes", "competitions"), hidden=("sport",)
    ),
    "deposits": Kind(
        "Deposit",
        "id",
        ("id", "status", "type", "amount_cents", "fee_cents", "created_ts"),
        per_account=True,
    ),
    "withdrawals": Kind(
        "Withdrawal",
        "id",
        ("id", "status", "type", "amount_cents", "fee_cents", "created_ts"),
        per_account=True,
    ),
    "api_usage_goals": Kind(
        "AccountApiUsageLevelVolumeGoal",
        "level",
        ("level", "earn_volume_goal_fp", "keep_volume_goal_fp"),
    ),
    "multivariate_event_collections": Kind(
        "MultivariateEventCollection",
        "collection_ticker",
        (
            "collection_ticker",
            "series_ticker",
            "title",
            "description",
            "open_date",
            "close_date",
            "associated_events",
            "associated_event_tickers",
            "is_ordered",
            "is_single_market_per_event",
            "is_all_yes",
            "size_min",
            "size_max",
            "functional_description",
        ),
    ),
    # event metadata and the weather index (sim/server/routes/event_metadata.py, weather.py)
    "event_metadata": Kind(
        "GetEventMetadataResponse",
        "event_ticker",
        ("event_ticker", "image_url", "settlement_sources", "market_details"),
        hidden=("event_ticker",),
        nested=(("market_details", ("market_ticker", "image_url", "color_code")),),
    ),
    "weather_index": Kind(
        "WeatherIndexPoint[] and WeatherIndexCalibration[] of a city",
        "city",
        ("city", "timeseries", "calibrations"),
        nested=(
            ("timeseries", ("t", "status")),
            ("calibrations", ("config_version", "effective_at_ms", "city_reference_c", "stations")),
        ),
    ),
}


@dataclass
class ScenarioData:
    items: dict[str, list[Json]] = field(default_factory=dict)

    def get(self, kind: str) -> list[Json]:
        return self.items.get(kind, [])

    def find(self, kind: str, key: str) -> Json | None:
        field_name = KINDS[kind].key
        return next((i for i in self.get(kind) if str(i.get(field_name)) == key), None)

    def put(self, kind: str, items: Any) -> None:
        spec = KINDS.get(kind)
        if spec is None:
            raise ExchangeError(
                404, "not_found", f"unknown data kind {kind}; one of {', '.join(KINDS)}"
            )
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise bad_request("items must be a list of objects")
        seen: set[str] = set()
        for item in items:
            needed = (*spec.required, "account_id") if spec.per_account else spec.required
            missing = [name for name in needed if name not in item]
            if missing:
                raise bad_request(f"a {spec.schema} lacks {', '.join(missing)}")
            for name, fields in spec.nested:
                entries = item[name]
                if not isinstance(entries, list) or not all(
                    isinstance(e, dict) and all(f in e for f in fields) for e in entries
                ):
                    raise bad_request(f"{name} must be a list of objects with {', '.join(fields)}")
            key = str(item[spec.key])
            if key in seen:
                raise bad_request(f"{spec.key} {key} repeats")
            seen.add(key)
        self.items[kind] = [dict(i) for i in items]


_BY_EXCHANGE: weakref.WeakKeyDictionary[Exchange, ScenarioData] = weakref.WeakKeyDictionary()


def of(exchange: Exchange) -> ScenarioData:
    return _BY_EXCHANGE.setdefault(exchange, ScenarioData())


def public(kind: str, item: Json) -> Json:
    """An item as served: without the simulator's own keys (`account_id`, `hidden`)."""
    hidden = {"account_id", *KINDS[kind].hidden}
    return {k: v for k, v in item.items() if k not in hidden}


# admin handlers (sim/server/admin.py routes them) -------------------------------------------------


def _owner_by_key(exchange: Exchange, item: Any) -> Any:
    """A per-account item may name its owner by `key_id` (what `AccountInfo` carries)."""
    if not isinstance(item, dict) or "key_id" not in item:
        return item
    account = exchange.subaccounts.account_by_key(str(item["key_id"]))
    if account is None:
        raise bad_request(f"no account has key {item['key_id']}")
    return {**{k: v for k, v in item.items() if k != "key_id"}, "account_id": account.account_id}


async def handle_put_data(state: SimState, request: Request) -> Response:
    kind = str(request.path_params["kind"])
    body = loads_body(await request.body() or b"{}")
    if not isinstance(body, dict):
        raise bad_request('the body is {"items": [...]}')
    items = body.get("items")
    spec = KINDS.get(kind)
    if spec is not None and spec.per_account and isinstance(items, list):
        items = [_owner_by_key(state.exchange, i) for i in items]
    of(state.exchange).put(kind, items)
    return JSONResponse({"kind": kind, "items": of(state.exchange).get(kind)})


async def handle_get_data(state: SimState, request: Request) -> Response:
    kind = str(request.path_params["kind"])
    if kind not in KINDS:
        raise ExchangeError(404, "not_found", f"unknown data kind {kind}")
    return JSONResponse({"kind": kind, "items": of(state.exchange).get(kind)})
