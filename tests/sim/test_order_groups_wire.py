"""Order groups over the simulator's HTTP and WebSocket: the spec's paths and shapes (every
answer here is also checked against openapi.yaml by the suite's hook, the WebSocket messages
against asyncapi.yaml), the limit, trigger, reset and delete as a client sees them."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from kalshi_cli.sim.server.announce import AccountInfo
from tests.conftest import SimHarness
from tests.sim.test_spec_audit import ws_problems
from tests.sim.wsutil import Ws
from tests.wire import order_body

T = "KXOG-26JAN01-A"
GROUPS = "/portfolio/order_groups"


order = partial(order_body, T)


def create_group(sim: SimHarness, account: AccountInfo, **body: Any) -> str:
    response = sim.signed(account, "POST", GROUPS + "/create", json=body or {"contracts_limit": 5})
    assert response.status_code == 201, response.text
    assert response.json()["subaccount"] == 0
    group_id: str = response.json()["order_group_id"]
    return group_id


def place(sim: SimHarness, account: AccountInfo, **extra: Any) -> Any:
    return sim.place_order(account, order(**extra))


def status_of(sim: SimHarness, account: AccountInfo, order_id: str) -> str:
    response = sim.signed(account, "GET", f"/portfolio/orders/{order_id}")
    state: str = response.json()["order"]["status"]
    return state


def test_create_list_get_and_the_group_on_its_orders(sim: SimHarness) -> None:
    sim.create_market(T)
    group = create_group(sim, sim.account, contracts_limit_fp="12.00")
    placed = place(sim, sim.account, order_group_id=group)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    plain = place(sim, sim.account).json()["order_id"]

    listed = sim.signed(sim.account, "GET", GROUPS).json()["order_groups"]
    assert listed == [
        {
            "id": group,
            "contracts_limit_fp": "12.00",
            "is_auto_cancel_enabled": True,
            "exchange_index": 0,
        }
    ]
    one = sim.signed(sim.account, "GET", f"{GROUPS}/{group}").json()
    assert one["orders"] == [order_id]
    assert one["contracts_limit_fp"] == "12.00"
    shown = sim.signed(sim.account, "GET", f"/portfolio/orders/{order_id}").json()["order"]
    assert shown["order_group_id"] == group
    other = sim.signed(sim.account, "GET", f"/portfolio/orders/{plain}").json()["order"]
    assert other["order_group_id"] is None
    # a subaccount not created has no groups
    assert sim.signed(sim.account, "GET", GROUPS, params={"subaccount": 1}).json() == {
        "order_groups": []
    }


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_parameters"),
        ({"contracts_limit": 0}, "missing_parameters"),
        ({"contracts_limit": -3}, "invalid_parameters"),
        ({"contracts_limit_fp": "0.00"}, "invalid_count"),
        ({"contracts_limit": 5, "contracts_limit_fp": "6.00"}, "invalid_parameters"),
        ({"contracts_limit": 5, "subaccount": 2}, "invalid_parameters"),
    ],
)
def test_a_bad_limit_is_refused_and_creates_nothing(
    sim: SimHarness, body: dict[str, Any], code: str
) -> None:
    response = sim.signed(sim.account, "POST", GROUPS + "/create", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert sim.signed(sim.account, "GET", GROUPS).json()["order_groups"] == []


def test_a_limit_of_the_wrong_json_type_is_undecodable(sim: SimHarness) -> None:
    response = sim.signed(sim.account, "POST", GROUPS + "/create", json={"contracts_limit": "5"})
    assert response.status_code == 400
    assert "CreateOrderGroupRequest.contracts_limit" in response.json()["details"]


def test_the_limit_hit_cancels_the_group_and_refuses_new_orders_until_reset(
    sim: SimHarness,
) -> None:
    sim.create_market(T)
    other = sim.new_account()
    group = create_group(sim, sim.account, contracts_limit=5)
    resting = place(sim, sim.account, count="10", order_group_id=group).json()["order_id"]
    hit = place(sim, other, side="ask", count="5", time_in_force="immediate_or_cancel")
    assert hit.json()["fill_count"] == "5.00"
    assert status_of(sim, sim.account, resting) == "canceled"

    refused = place(sim, sim.account, order_group_id=group)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "order_group_triggered"

    assert sim.signed(sim.account, "PUT", f"{GROUPS}/{group}/reset").status_code == 200
    again = place(sim, sim.account, order_group_id=group)
    assert again.status_code == 201
    assert status_of(sim, sim.account, again.json()["order_id"]) == "resting"


def test_trigger_cancels_and_a_new_limit_is_kept(sim: SimHarness) -> None:
    sim.create_market(T)
    group = create_group(sim, sim.account, contracts_limit=50)
    resting = place(sim, sim.account, order_group_id=group).json()["order_id"]
    outside = place(sim, sim.account).json()["order_id"]
    assert sim.signed(sim.account, "PUT", f"{GROUPS}/{group}/trigger").status_code == 200
    assert status_of(sim, sim.account, resting) == "canceled"
    assert status_of(sim, sim.account, outside) == "resting"
    assert place(sim, sim.account, order_group_id=group).status_code == 409

    limit = sim.signed(sim.account, "PUT", f"{GROUPS}/{group}/limit", json={"contracts_limit": 7})
    assert limit.status_code == 200
    shown = sim.signed(sim.account, "GET", f"{GROUPS}/{group}").json()
    assert shown["contracts_limit_fp"] == "7.00"
    bad = sim.signed(sim.account, "PUT", f"{GROUPS}/{group}/limit", json={})
    assert bad.status_code == 400


def test_delete_cancels_the_orders_and_the_group_is_gone(sim: SimHarness) -> None:
    sim.create_market(T)
    group = create_group(sim, sim.account)
    resting = place(sim, sim.account, order_group_id=group).json()["order_id"]
    assert sim.signed(sim.account, "DELETE", f"{GROUPS}/{group}").json() == {}
    assert status_of(sim, sim.account, resting) == "canceled"
    assert sim.signed(sim.account, "GET", f"{GROUPS}/{group}").status_code == 404
    refused = place(sim, sim.account, order_group_id=group)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_order_group"


def test_another_accounts_group_is_not_found(sim: SimHarness) -> None:
    sim.create_market(T)
    group = create_group(sim, sim.account)
    other = sim.new_account()
    for method, suffix in (
        ("GET", ""),
        ("DELETE", ""),
        ("PUT", "/reset"),
        ("PUT", "/trigger"),
    ):
        response = sim.signed(other, method, f"{GROUPS}/{group}{suffix}")
        assert response.status_code == 404, (method, suffix)
        assert response.json()["error"]["code"] == "not_found"
    refused = place(sim, other, order_group_id=group)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_order_group")
    assert place(sim, sim.account, order_group_id=group).status_code == 201  # still open


def test_order_group_updates_carry_seq_and_conform_to_asyncapi(sim: SimHarness) -> None:
    sim.create_market(T)
    other = sim.new_account()
    ws = Ws(sim.account)
    (sid,) = ws.subscribe(["order_group_updates"], market_ticker=T)  # the market is ignored
    create_group(sim, other)  # another account's group: not reported here
    group = create_group(sim, sim.account, contracts_limit=3)
    place(sim, sim.account, count="3", order_group_id=group)
    place(sim, other, side="ask", count="3", time_in_force="immediate_or_cancel")
    sim.signed(sim.account, "PUT", f"{GROUPS}/{group}/reset")
    sim.signed(sim.account, "PUT", f"{GROUPS}/{group}/limit", json={"contracts_limit_fp": "4.50"})
    sim.signed(sim.account, "DELETE", f"{GROUPS}/{group}")
    messages = [ws.recv_until(lambda m: m["type"] == "order_group_updates") for _ in range(5)]
    ws.close()
    assert [p for m in messages for p in ws_problems(m)] == []
    assert [m["seq"] for m in messages] == [1, 2, 3, 4, 5]
    assert {m["sid"] for m in messages} == {sid}
    assert {m["msg"]["order_group_id"] for m in messages} == {group}
    events = [(m["msg"]["event_type"], m["msg"].get("contracts_limit_fp")) for m in messages]
    assert events == [
        ("created", "3.00"),
        ("triggered", None),
        ("reset", None),
        ("limit_updated", "4.50"),
        ("deleted", None),
    ]
