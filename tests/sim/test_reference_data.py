"""Data a scenario defines (admin `PUT /sim/v1/data/{kind}`, sim/server/scenario_data.py) served by
the public reference routes (sim/server/routes/reference_data.py) with the spec's filters and
paging; every answer also passes the suite's openapi.yaml check."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import SimHarness


def put(sim: SimHarness, kind: str, items: list[dict[str, Any]]) -> httpx.Response:
    return sim.http.put(sim.admin_url + f"/data/{kind}", json={"items": items})


def get(sim: SimHarness, path: str, **params: Any) -> httpx.Response:
    return sim.http.get(sim.account.api_base + path, params=params)


def milestone(ident: str, start: str, competition: str, updated: str) -> dict[str, Any]:
    return {
        "id": ident,
        "category": "Sports",
        "type": "football_game",
        "start_date": start,
        "related_event_tickers": [f"KXGAME-{ident}"],
        "title": f"Game {ident}",
        "notification_message": "",
        "details": {"competition": competition},
        "primary_event_tickers": [f"KXGAME-{ident}"],
        "last_updated_ts": updated,
    }


def test_milestones_filter_page_and_find(sim: SimHarness) -> None:
    items = [
        milestone("m1", "2026-01-01T18:00:00Z", "NFL", "2026-01-01T00:00:00Z"),
        milestone("m2", "2026-02-01T18:00:00Z", "NFL", "2026-02-01T00:00:00Z"),
        milestone("m3", "2026-03-01T18:00:00Z", "NBA", "2026-03-01T00:00:00Z"),
    ]
    put(sim, "milestones", items).raise_for_status()
    first = get(sim, "/milestones", limit=2).json()
    assert [m["id"] for m in first["milestones"]] == ["m1", "m2"] and first["cursor"] == "m2"
    rest = get(sim, "/milestones", limit=2, cursor="m2").json()
    assert [m["id"] for m in rest["milestones"]] == ["m3"] and rest["cursor"] == ""
    nfl = get(sim, "/milestones", limit=10, competition="NFL").json()["milestones"]
    assert [m["id"] for m in nfl] == ["m1", "m2"]
    later = get(sim, "/milestones", limit=10, minimum_start_date="2026-01-15T00:00:00Z")
    assert [m["id"] for m in later.json()["milestones"]] == ["m2", "m3"]
    related = get(sim, "/milestones", limit=10, related_event_ticker="KXGAME-m3").json()
    assert [m["id"] for m in related["milestones"]] == ["m3"]
    assert get(sim, "/milestones").status_code == 400  # limit is required
    assert get(sim, "/milestones/m2").json()["milestone"] == items[1]
    assert get(sim, "/milestones/m9").status_code == 404


def test_structured_targets_and_incentive_programs(sim: SimHarness) -> None:
    targets: list[dict[str, Any]] = [
        {"id": "t1", "name": "Team A", "type": "team", "details": {"competition": "NFL"}},
        {"id": "t2", "name": "Team B", "type": "team", "details": {"competition": "NBA"}},
        {"id": "t3", "name": "Player C", "type": "player"},
    ]
    put(sim, "structured_targets", targets).raise_for_status()
    teams = get(sim, "/structured_targets", type="team", page_size=1).json()
    assert teams["structured_targets"] == [targets[0]] and teams["cursor"] == "t1"
    by_ids = get(sim, "/structured_targets", ids=["t1", "t3"]).json()["structured_targets"]
    assert [t["id"] for t in by_ids] == ["t1", "t3"]
    assert get(sim, "/structured_targets/t2").json() == {"structured_target": targets[1]}
    program = {
        "id": "p1",
        "market_id": "mid-1",
        "market_ticker": "KXA-26-A",
        "incentive_type": "liquidity",
        "incentive_description": "Liquidity rewards",
        "start_date": "2020-01-01T00:00:00Z",
        "end_date": "2099-01-01T00:00:00Z",
        "period_reward": 10000,
        "paid_out": False,
    }
    done = {**program, "id": "p2", "end_date": "2021-01-01T00:00:00Z"}
    put(sim, "incentive_programs", [program, done]).raise_for_status()
    active = get(sim, "/incentive_programs", status="active").json()["incentive_programs"]
    assert [p["id"] for p in active] == ["p1"]
    closed = get(sim, "/incentive_programs", status="closed").json()["incentive_programs"]
    assert [p["id"] for p in closed] == ["p2"]
    assert get(sim, "/incentive_programs", status="nope").status_code == 400
    assert get(sim, "/incentive_programs", type="volume").json()["incentive_programs"] == []


def test_search_and_live_data(sim: SimHarness) -> None:
    put(
        sim, "tags_by_categories", [{"category": "Sports", "tags": ["Football"]}]
    ).raise_for_status()
    assert get(sim, "/search/tags_by_categories").json() == {
        "tags_by_categories": {"Sports": ["Football"]}
    }
    sport = {
        "sport": "Football",
        "scopes": ["Games"],
        "competitions": {"NFL": {"scopes": ["Games"]}},
    }
    put(sim, "filters_by_sport", [sport]).raise_for_status()
    filters = get(sim, "/search/filters_by_sport").json()
    assert filters["sport_ordering"] == ["Football"]
    assert filters["filters_by_sports"]["Football"]["scopes"] == ["Games"]
    live = {"type": "football", "details": {"score": "7-3"}, "milestone_id": "m1"}
    put(sim, "live_data", [live]).raise_for_status()
    assert get(sim, "/live_data/milestone/m1").json() == {"live_data": live}
    assert get(sim, "/live_data/football/milestone/m1").json() == {"live_data": live}
    assert get(sim, "/live_data/basketball/milestone/m1").status_code == 404
    batch = get(sim, "/live_data/batch", milestone_ids=["m1", "m2"]).json()
    assert batch == {"live_datas": [live]}
    put(sim, "game_stats", [{"milestone_id": "m1", "pbp": {"periods": []}}]).raise_for_status()
    assert get(sim, "/live_data/milestone/m1/game_stats").json() == {"pbp": {"periods": []}}
    event = {"event_ticker": "KXBTC-26", "type": "crypto", "details": {"price": "1"}}
    put(sim, "event_live_data", [event]).raise_for_status()
    assert get(sim, "/live_data/events/KXBTC-26").json() == {
        "live_data": {"type": "crypto", "details": {"price": "1"}}
    }


@pytest.mark.parametrize(
    ("kind", "items"),
    [
        ("milestones", [{"id": "m1"}]),  # lacks the required fields
        ("structured_targets", [{"id": "t"}, {"id": "t"}]),  # an id twice
        ("no_such_kind", []),
        ("live_data", "not a list"),
    ],
)
def test_the_admin_refuses_data_off_the_spec(sim: SimHarness, kind: str, items: Any) -> None:
    answer = sim.http.put(sim.admin_url + f"/data/{kind}", json={"items": items})
    assert answer.status_code in (400, 404), answer.text
