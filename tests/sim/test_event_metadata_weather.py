"""Event metadata and the weather index (sim/server/routes/event_metadata.py, weather.py): what
Kalshi only reports, defined by a scenario (admin `PUT /sim/v1/data/{kind}`), served in the spec's
shapes with the spec's window, `detailed` and unknown-city rules. Every answer is also checked
against openapi.yaml by the autouse fixture in conftest.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kalshi_cli.vocabulary.clock import SystemClock
from tests.conftest import SimHarness
from tests.wire import nested_code

MINUTE = 60_000


def put(sim: SimHarness, kind: str, items: list[dict[str, Any]]) -> httpx.Response:
    return sim.http.put(sim.admin_url + f"/data/{kind}", json={"items": items})


def get(sim: SimHarness, path: str, **params: Any) -> httpx.Response:
    return sim.http.get(sim.account.api_base + path, params=params)


# event metadata ------------------------------------------------------------------------------


def test_event_metadata_is_what_the_scenario_defined(sim: SimHarness) -> None:
    sim.create_market("KXRAIN-26JAN01-A")
    meta = {
        "image_url": "/images/rain.png",
        "featured_image_url": "/images/rain-a.png",
        "market_details": [
            {"market_ticker": "KXRAIN-26JAN01-A", "image_url": "/a.png", "color_code": "#00ff00"}
        ],
        "settlement_sources": [{"name": "NWS", "url": "https://weather.gov"}],
        "competition": None,
    }
    assert put(sim, "event_metadata", [{"event_ticker": "KXRAIN-26JAN01", **meta}]).is_success
    answer = get(sim, "/events/KXRAIN-26JAN01/metadata")
    assert (answer.status_code, answer.json()) == (200, meta)


def test_an_event_without_metadata_reports_it_empty(sim: SimHarness) -> None:
    sim.create_market("KXRAIN-26JAN01-A")
    answer = get(sim, "/events/KXRAIN-26JAN01/metadata")
    assert answer.json() == {"image_url": "", "market_details": [], "settlement_sources": []}


def test_metadata_of_an_unknown_event_is_a_404(sim: SimHarness) -> None:
    put(sim, "event_metadata", [_meta("KXGHOST-26")])  # data alone does not make an event
    assert nested_code(get(sim, "/events/KXGHOST-26/metadata")) == (404, "not_found")


def _meta(ticker: str) -> dict[str, Any]:
    return {"event_ticker": ticker, "image_url": "", "settlement_sources": [], "market_details": []}


def test_metadata_needs_the_spec_required_fields(sim: SimHarness) -> None:
    sim.create_market("KXRAIN-26JAN01-A")
    refused = put(sim, "event_metadata", [{"event_ticker": "KXRAIN-26JAN01", "image_url": ""}])
    assert refused.status_code == 400
    no_color = {**_meta("KXRAIN-26JAN01"), "market_details": [{"market_ticker": "A"}]}
    assert put(sim, "event_metadata", [no_color]).status_code == 400
    empty = {"image_url": "", "market_details": [], "settlement_sources": []}
    assert get(sim, "/events/KXRAIN-26JAN01/metadata").json() == empty  # nothing was defined


# weather index -------------------------------------------------------------------------------


def _point(t: int, v: float | None, status: str, version: str) -> dict[str, Any]:
    point: dict[str, Any] = {"t": t, "status": status, "config_version": version}
    if v is not None:
        point |= {"v": v, "contributors": 3}
    point["stations"] = [{"station_id": "KMIA1M", "code": "ok" if v is not None else "pending"}]
    return point


def _calibration(version: str, effective: int) -> dict[str, Any]:
    return {
        "config_version": version,
        "effective_at_ms": effective,
        "city_reference_c": 0.12,
        "stations": [{"station_id": "KMIA1M", "weight": 1.0, "offset_c": 0.12}],
    }


@pytest.fixture
def miami(sim: SimHarness) -> tuple[SimHarness, int]:
    """Miami's index: a point two days old, then four minutes ending a few minutes before now
    (the last one still incomplete), under two configuration versions."""
    base = int(SystemClock().wall() * 1000) - 10 * MINUTE  # the simulator's clock is the system's
    old = _point(base - 2 * 24 * 60 * MINUTE, 79.0, "normal", "miami-v0")
    points = [
        _point(base + MINUTE, 80.25, "degraded", "miami-v1.0"),  # given out of order
        _point(base, 80.1, "normal", "miami-v1.0"),
        _point(base + 2 * MINUTE, 80.3, "normal", "miami-v1.0-cal"),
        _point(base + 3 * MINUTE, None, "incomplete", "miami-v1.0-cal"),
    ]
    item = {
        "city": "miami",
        "timeseries": [old, *points],
        "calibrations": [_calibration("miami-v1.0-cal", base), _calibration("miami-v1.0", 0)],
    }
    assert put(sim, "weather_index", [item]).is_success
    return sim, base


def _ts(answer: httpx.Response) -> list[int]:
    assert answer.status_code == 200, answer.text
    return [p["t"] for p in answer.json()["timeseries"]]


def test_the_default_window_is_the_last_24_hours_without_incomplete_points(
    miami: tuple[SimHarness, int],
) -> None:
    sim, base = miami
    answer = get(sim, "/live_data/weather/miami")
    assert _ts(answer) == [base, base + MINUTE, base + 2 * MINUTE]
    body = answer.json()
    assert (body["city"], body["units"], body["config_version"]) == (
        "miami",
        "fahrenheit",
        "miami-v1.0-cal",
    )
    assert body["timeseries"][0] == {"t": base, "v": 80.1, "status": "normal", "contributors": 3}


def test_detailed_adds_stations_and_incomplete_points(miami: tuple[SimHarness, int]) -> None:
    sim, base = miami
    answer = get(sim, "/live_data/weather/miami", detailed="true")
    assert _ts(answer) == [base, base + MINUTE, base + 2 * MINUTE, base + 3 * MINUTE]
    last = answer.json()["timeseries"][-1]
    assert last == {
        "t": base + 3 * MINUTE,
        "status": "incomplete",
        "stations": [{"station_id": "KMIA1M", "code": "pending"}],
    }


def test_window_parameters(miami: tuple[SimHarness, int]) -> None:
    sim, base = miami
    both = get(sim, "/live_data/weather/miami", **{"from": base, "to": base + MINUTE})
    assert _ts(both) == [base, base + MINUTE]  # inclusive at both ends
    assert both.json()["config_version"] == "miami-v1.0"
    old = base - 2 * 24 * 60 * MINUTE
    assert _ts(get(sim, "/live_data/weather/miami", **{"from": old, "to": old})) == [old]
    only_to = get(sim, "/live_data/weather/miami", to=base)  # from defaults to to - 24 h
    assert _ts(only_to) == [base]
    assert _ts(get(sim, "/live_data/weather/miami", last_sec=3 * 24 * 3600))[0] == old
    empty = get(sim, "/live_data/weather/miami", **{"from": 0, "to": 1})
    assert (empty.json()["timeseries"], empty.json()["config_version"]) == ([], "")


@pytest.mark.parametrize(
    "params",
    [
        {"from": 1},  # from without to
        {"last_sec": 60, "to": 1},  # mutually exclusive
        {"last_sec": 60, "from": 1, "to": 2},
        {"from": 2, "to": 1},
        {"last_sec": -1},
        {"to": "soon"},
        {"detailed": "maybe"},
    ],
)
def test_invalid_windows_are_400(miami: tuple[SimHarness, int], params: dict[str, Any]) -> None:
    sim, _ = miami
    assert get(sim, "/live_data/weather/miami", **params).status_code == 400


def test_an_unknown_city_is_a_400(miami: tuple[SimHarness, int]) -> None:
    sim, _ = miami
    assert get(sim, "/live_data/weather/boston").status_code == 400
    assert get(sim, "/live_data/weather/boston/calibrations").status_code == 400


def test_calibrations_ascend_by_effective_time(miami: tuple[SimHarness, int]) -> None:
    sim, base = miami
    answer = get(sim, "/live_data/weather/miami/calibrations")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["city"], body["units"]) == ("miami", "celsius")
    assert [(c["config_version"], c["effective_at_ms"]) for c in body["calibrations"]] == [
        ("miami-v1.0", 0),
        ("miami-v1.0-cal", base),
    ]


@pytest.mark.parametrize(
    "item",
    [
        {"city": "miami", "timeseries": [{"t": 1}], "calibrations": []},  # a point without status
        {"city": "miami", "timeseries": [], "calibrations": [{"config_version": "v"}]},
        {"city": "miami", "timeseries": "none", "calibrations": []},
        {"city": "miami", "timeseries": []},
    ],
)
def test_weather_data_needs_the_spec_required_fields(sim: SimHarness, item: dict[str, Any]) -> None:
    assert put(sim, "weather_index", [item]).status_code == 400
    assert get(sim, "/live_data/weather/miami").status_code == 400  # nothing was defined
