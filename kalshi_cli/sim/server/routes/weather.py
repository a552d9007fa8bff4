"""The weather index routes (openapi.yaml 3.31.0 `GetWeatherIndex`, `GetWeatherIndexCalibrations`):
Kalshi computes the index and only reports it, so a city's series and calibrations are data a
scenario defines (kind `weather_index`), and the routes apply the spec's window, `detailed` and
`config_version` rules to it. See docs/simulator.md "Event metadata and the weather index".
"""

from __future__ import annotations

from kalshi_cli.sim.core.records import bad_request
from kalshi_cli.sim.server import scenario_data
from kalshi_cli.sim.server.routing import (
    Endpoint,
    InvalidQuery,
    Json,
    RequestContext,
    SimState,
    query_bool,
    query_int,
)

DAY_MS = 24 * 3600 * 1000


def _city(state: SimState, ctx: RequestContext) -> Json:
    city = ctx.path_param("city")
    item = scenario_data.of(state.exchange).find("weather_index", city)
    if item is None:
        raise bad_request(f"unknown city {city}")
    return item


def _window(ctx: RequestContext) -> tuple[int, int]:
    start = query_int(ctx, "from", None)
    end = query_int(ctx, "to", None)
    last_sec = query_int(ctx, "last_sec", None)
    now_ms = int(ctx.now * 1000)
    if last_sec is not None:
        if start is not None or end is not None:
            raise InvalidQuery(ctx.operation, "last_sec: is mutually exclusive with from/to")
        if last_sec < 0:
            raise InvalidQuery(ctx.operation, "last_sec: must not be negative")
        return now_ms - last_sec * 1000, now_ms
    if start is not None and end is None:
        raise InvalidQuery(ctx.operation, "from: must be paired with to")
    end = now_ms if end is None else end
    start = end - DAY_MS if start is None else start
    if start > end:
        raise InvalidQuery(ctx.operation, "from: is after to")
    return start, end


def _ms(entry: Json, name: str) -> int:
    """An entry's time in unix ms (one the scenario gave as anything else sorts first)."""
    t = entry.get(name)
    return t if isinstance(t, int) and not isinstance(t, bool) else -1


def _t(point: Json) -> int:
    return _ms(point, "t")


def handle_weather_index(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    item = _city(state, ctx)
    start, end = _window(ctx)
    detailed = query_bool(ctx, "detailed")
    points = sorted((p for p in item["timeseries"] if start <= _t(p) <= end), key=_t)
    if not detailed:
        points = [p for p in points if p.get("status") != "incomplete"]
    served = [
        {k: v for k, v in p.items() if k != "config_version" and (detailed or k != "stations")}
        for p in points
    ]
    version = str(points[-1].get("config_version", "")) if points else ""
    return 200, {
        "city": item["city"],
        "config_version": version,
        "units": "fahrenheit",
        "timeseries": served,
    }


def handle_calibrations(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    item = _city(state, ctx)
    records = sorted(item["calibrations"], key=lambda r: _ms(r, "effective_at_ms"))
    return 200, {"city": item["city"], "units": "celsius", "calibrations": records}


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/live_data/weather/{city}", handle_weather_index, private=False),
    Endpoint("GET", "/live_data/weather/{city}/calibrations", handle_calibrations, private=False),
)
