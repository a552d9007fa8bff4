"""A market created before its open time is listed `initialized` and refuses orders until the
exchange opens it at that time (openapi.yaml `Market.status` `initialized` then `active`,
`open_time`; asyncapi.yaml `market_lifecycle_v2`: `created` with its `open_ts`, then
`activated`). The admin API creates one with `open_time` in the future."""

from __future__ import annotations

from typing import Any

from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import SimHarness
from tests.sim.wsutil import Ws
from tests.waiting import wait_until
from tests.wire import order_body

T = "KXLATER-26JAN01-A"
WAIT_S = 600


def _market(sim: SimHarness) -> dict[str, Any]:
    answer = sim.signed(sim.account, "GET", f"/markets/{T}")
    answer.raise_for_status()
    market: dict[str, Any] = answer.json()["market"]
    return market


def _bid(sim: SimHarness) -> Any:
    bid = order_body(T, count="1")  # fmt: skip
    return sim.place_order(sim.account, bid)


def test_a_market_created_before_its_open_time_opens_then_and_says_activated(
    manual_sim: SimHarness, manual_clock: ManualClock
) -> None:
    sim = manual_sim
    opens = int(manual_clock.wall()) + WAIT_S
    ws = Ws(sim.account, now_ms=int(manual_clock.wall() * 1000))
    try:
        ws.subscribe(["market_lifecycle_v2"])
        sim.create_market(T, open_time=opens)
        created = ws.recv_until(lambda m: m.get("msg", {}).get("event_type") == "created")
        assert created["msg"]["open_ts"] == opens, created
        market = _market(sim)
        assert market["status"] == "initialized", market
        refused = _bid(sim)
        assert refused.status_code == 409 and "market_not_open" in refused.text, refused.text
        listed = sim.signed(sim.account, "GET", "/markets", params={"status": "open"}).json()
        assert T not in {m["ticker"] for m in listed["markets"]}
        manual_clock.advance(WAIT_S)  # the exchange's tick opens it
        activated = ws.recv_until(lambda m: m.get("msg", {}).get("event_type") == "activated")
        assert activated["msg"] == {
            "event_type": "activated", "market_ticker": T, "is_deactivated": False
        }, activated  # fmt: skip
    finally:
        ws.close()
    wait_until(lambda: _market(sim)["status"] == "active", f"{T} open")
    assert _bid(sim).status_code == 201


def test_a_market_opened_by_hand_before_its_open_time_says_it_opened_then(
    sim: SimHarness,
) -> None:
    created = sim.create_market(T, open_time=int(sim.running.state.clock.wall()) + 3600)
    assert created["status"] == "initialized", created
    sim.set_status(T, "open")
    market = _market(sim)
    assert market["status"] == "active"
    assert market["open_time"] <= market["updated_time"], market
