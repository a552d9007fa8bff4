"""Order groups on subaccounts, over the simulator's HTTP and WebSocket: a group belongs to the
subaccount it was created on (the create body's `subaccount`, 0 by default), the listing and
the single read cover every subaccount unless one is named (`SubaccountQuery`), delete, reset,
trigger and limit act on subaccount 0's group unless the query names another
(`SubaccountQueryDefaultPrimary`), an order may join only a group of its own subaccount, and a
restart keeps it all. Every answer is checked against openapi.yaml by the suite's hook, every
WebSocket message against asyncapi.yaml."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.embed import start_simulator
from tests.conftest import SimHarness
from tests.openapi_check import RECORDER
from tests.sim.test_spec_audit import ws_problems
from tests.sim.test_subaccounts_server import generated_key
from tests.sim.wsutil import Ws
from tests.wire import nested, nested_code, order_body

T = "KXOGS-26JAN01-A"
GROUPS = "/portfolio/order_groups"


def _harness(path: Path) -> SimHarness:
    # subaccounts need the Advanced tier (CreateSubaccount)
    return SimHarness(
        start_simulator(path, scenario="empty", tier="advanced", response_hook=RECORDER.hook)
    )


def _subaccounts(sim: SimHarness, me: AccountInfo, count: int) -> None:
    for number in range(1, count + 1):
        made = sim.signed(me, "POST", "/portfolio/subaccounts")
        assert made.json() == {"subaccount_number": number}
        moved = sim.signed(
            me,
            "POST",
            "/portfolio/subaccounts/transfer",
            json={
                "client_transfer_id": str(uuid.uuid4()),
                "from_subaccount": 0,
                "to_subaccount": number,
                "amount_cents": 100_00,
            },
        )
        assert moved.status_code == 200, moved.text


@pytest.fixture
def adv(tmp_path: Path) -> Iterator[SimHarness]:
    harness = _harness(tmp_path / "sim")
    harness.create_market(T)
    _subaccounts(harness, harness.account, 2)
    yield harness
    harness.close()


order = partial(order_body, T)


def create_group(sim: SimHarness, me: AccountInfo, limit: int = 50, **body: Any) -> str:
    made = sim.signed(me, "POST", GROUPS + "/create", json={"contracts_limit": limit, **body})
    assert made.status_code == 201, made.text
    assert made.json()["subaccount"] == body.get("subaccount", 0)
    group_id: str = made.json()["order_group_id"]
    return group_id


def place(sim: SimHarness, me: AccountInfo, **extra: Any) -> Any:
    return sim.place_order(me, order(**extra))


def status_of(sim: SimHarness, me: AccountInfo, order_id: str) -> str:
    state: str = sim.signed(me, "GET", f"/portfolio/orders/{order_id}").json()["order"]["status"]
    return state


def listed(sim: SimHarness, me: AccountInfo, **params: Any) -> list[str]:
    answer = sim.signed(me, "GET", GROUPS, params=params or None)
    assert answer.status_code == 200, answer.text
    return [g["id"] for g in answer.json()["order_groups"]]


def test_a_group_is_created_on_the_subaccount_the_body_names(adv: SimHarness) -> None:
    me = adv.account
    primary = create_group(adv, me)
    second = create_group(adv, me, subaccount=2)
    explicit_primary = create_group(adv, me, subaccount=0)

    assert listed(adv, me) == [primary, second, explicit_primary]  # every subaccount
    assert listed(adv, me, subaccount=2) == [second]
    assert listed(adv, me, subaccount=0) == [primary, explicit_primary]
    assert listed(adv, me, subaccount=1) == []
    # a subaccount not created: a write is a 400, a listing is empty (as for orders)
    refused = adv.signed(
        me, "POST", GROUPS + "/create", json={"contracts_limit": 5, "subaccount": 3}
    )
    assert nested_code(refused) == (400, "invalid_parameters")
    assert listed(adv, me, subaccount=3) == []


def test_the_single_read_finds_the_group_on_any_subaccount_unless_one_is_named(
    adv: SimHarness,
) -> None:
    me = adv.account
    group = create_group(adv, me, subaccount=2)
    assert adv.signed(me, "GET", f"{GROUPS}/{group}").status_code == 200
    assert adv.signed(me, "GET", f"{GROUPS}/{group}", params={"subaccount": 2}).status_code == 200
    elsewhere = adv.signed(me, "GET", f"{GROUPS}/{group}", params={"subaccount": 0})
    assert nested_code(elsewhere) == (404, "not_found")


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PUT", "/trigger", None),
        ("PUT", "/reset", None),
        ("PUT", "/limit", {"contracts_limit": 9}),
        ("DELETE", "", None),
    ],
)
def test_the_writes_act_on_subaccount_0_unless_the_query_names_another(
    adv: SimHarness, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    me = adv.account
    group = create_group(adv, me, subaccount=2)
    path = f"{GROUPS}/{group}{suffix}"
    assert nested_code(adv.signed(me, method, path, json=body)) == (404, "not_found")
    wrong = adv.signed(me, method, path, json=body, params={"subaccount": 1})
    assert nested_code(wrong) == (404, "not_found")
    assert listed(adv, me, subaccount=2) == [group]  # untouched
    assert adv.signed(me, method, path, json=body, params={"subaccount": 2}).status_code == 200


def test_trigger_and_delete_cancel_only_that_subaccounts_group(adv: SimHarness) -> None:
    me = adv.account
    on_zero = create_group(adv, me)
    on_two = create_group(adv, me, subaccount=2)
    zero_order = place(adv, me, order_group_id=on_zero).json()["order_id"]
    two_order = place(adv, me, order_group_id=on_two, subaccount=2).json()["order_id"]

    triggered = adv.signed(me, "PUT", f"{GROUPS}/{on_two}/trigger", params={"subaccount": 2})
    assert triggered.status_code == 200
    assert status_of(adv, me, two_order) == "canceled"
    assert status_of(adv, me, zero_order) == "resting"
    again = place(adv, me, order_group_id=on_two, subaccount=2)
    assert nested_code(again) == (409, "order_group_triggered")
    assert place(adv, me, order_group_id=on_zero).status_code == 201

    reset = adv.signed(me, "PUT", f"{GROUPS}/{on_two}/reset", params={"subaccount": 2})
    assert reset.status_code == 200
    back = place(adv, me, order_group_id=on_two, subaccount=2)
    assert back.status_code == 201
    assert adv.signed(me, "DELETE", f"{GROUPS}/{on_two}", params={"subaccount": 2}).json() == {}
    assert status_of(adv, me, back.json()["order_id"]) == "canceled"
    assert status_of(adv, me, zero_order) == "resting"
    assert listed(adv, me) == [on_zero]


def test_the_15s_limit_counts_only_the_groups_own_orders(adv: SimHarness) -> None:
    me = adv.account
    other = adv.new_account()
    on_zero = create_group(adv, me, limit=5)
    on_two = create_group(adv, me, limit=5, subaccount=2)
    place(adv, me, count="4", order_group_id=on_zero)  # bid 0.40 on subaccount 0
    plain_two = place(adv, me, price="0.35", count="10", subaccount=2).json()["order_id"]
    in_two = place(adv, me, price="0.30", count="10", order_group_id=on_two, subaccount=2)
    in_two_id = in_two.json()["order_id"]

    def sell(price: str, count: str) -> None:
        body = order(side="ask", price=price, count=count, time_in_force="immediate_or_cancel")
        hit = adv.place_order(other, body)
        assert hit.json()["fill_count"] == f"{count}.00", hit.text

    # 4 matched in subaccount 0's group, 8 by subaccount 2's order outside any group: no group
    # reaches 5 (subaccount 2's group counts neither)
    sell("0.35", "12")
    assert status_of(adv, me, in_two_id) == "resting"
    # 2 more outside the groups, then 5 in subaccount 2's group: it triggers; subaccount 0's
    # group still counts its own 4 only and takes orders
    sell("0.30", "7")
    assert status_of(adv, me, plain_two) == "executed"
    assert status_of(adv, me, in_two_id) == "canceled"
    refused = place(adv, me, price="0.20", order_group_id=on_two, subaccount=2)
    assert nested_code(refused) == (409, "order_group_triggered")
    assert place(adv, me, price="0.20", order_group_id=on_zero).status_code == 201


def test_an_order_may_join_only_a_group_of_its_own_subaccount(adv: SimHarness) -> None:
    me = adv.account
    on_two = create_group(adv, me, subaccount=2)
    on_zero = create_group(adv, me)
    for refused in (
        place(adv, me, order_group_id=on_two),  # subaccount 0 by default
        place(adv, me, order_group_id=on_two, subaccount=1),
        place(adv, me, order_group_id=on_zero, subaccount=2),
    ):
        error = nested(refused)
        assert (refused.status_code, error["code"]) == (400, "invalid_order_group")
        assert "subaccount" in error["message"]
    placed = place(adv, me, order_group_id=on_two, subaccount=2)
    assert placed.status_code == 201
    shown = adv.signed(me, "GET", f"{GROUPS}/{on_two}").json()
    assert shown["orders"] == [placed.json()["order_id"]]
    assert adv.signed(me, "GET", f"{GROUPS}/{on_zero}").json()["orders"] == []


def test_a_key_restricted_to_a_subaccount_makes_and_sees_only_its_groups(
    adv: SimHarness, tmp_path: Path
) -> None:
    me = adv.account
    primary = create_group(adv, me)
    locked = generated_key(adv, me, tmp_path, subaccount=1)
    made = adv.signed(locked, "POST", GROUPS + "/create", json={"contracts_limit": 5})
    assert made.json()["subaccount"] == 1
    own = made.json()["order_group_id"]
    assert listed(adv, locked) == [own]
    assert listed(adv, me, subaccount=1) == [own]
    assert nested_code(adv.signed(locked, "GET", f"{GROUPS}/{primary}")) == (404, "not_found")
    assert adv.signed(locked, "PUT", f"{GROUPS}/{own}/trigger").status_code == 200


def test_order_group_updates_of_every_subaccount_reach_the_user(adv: SimHarness) -> None:
    me = adv.account
    ws = Ws(me)
    (sid,) = ws.subscribe(["order_group_updates"])
    group = create_group(adv, me, limit=3, subaccount=2)
    adv.signed(me, "PUT", f"{GROUPS}/{group}/trigger", params={"subaccount": 2})
    adv.signed(me, "DELETE", f"{GROUPS}/{group}", params={"subaccount": 2})
    messages = [ws.recv_until(lambda m: m["type"] == "order_group_updates") for _ in range(3)]
    ws.close()
    assert [p for m in messages for p in ws_problems(m)] == []
    assert [m["seq"] for m in messages] == [1, 2, 3]
    assert {m["sid"] for m in messages} == {sid}
    # asyncapi's message names no subaccount: the fields are the spec's, no more
    assert [m["msg"]["event_type"] for m in messages] == ["created", "triggered", "deleted"]
    assert all(
        set(m["msg"]) <= {"event_type", "order_group_id", "contracts_limit_fp", "ts_ms"}
        for m in messages
    )
    assert {m["msg"]["order_group_id"] for m in messages} == {group}


def test_a_restart_keeps_each_group_on_its_subaccount(tmp_path: Path) -> None:
    first = _harness(tmp_path / "sim")
    me = first.account
    try:
        first.create_market(T)
        _subaccounts(first, me, 2)
        on_two = create_group(first, me, limit=7, subaccount=2)
        on_zero = create_group(first, me)
        in_two = place(first, me, order_group_id=on_two, subaccount=2).json()["order_id"]
    finally:
        first.close()

    second = _harness(tmp_path / "sim")
    me = second.account  # the same key, at the new address
    try:
        assert listed(second, me, subaccount=2) == [on_two]
        assert listed(second, me, subaccount=0) == [on_zero]
        shown = second.signed(me, "GET", f"{GROUPS}/{on_two}", params={"subaccount": 2}).json()
        assert (shown["contracts_limit_fp"], shown["orders"]) == ("7.00", [in_two])
        assert nested_code(place(second, me, order_group_id=on_two)) == (
            400,
            "invalid_order_group",
        )
        trigger = second.signed(me, "PUT", f"{GROUPS}/{on_two}/trigger", params={"subaccount": 2})
        assert trigger.status_code == 200
        assert status_of(second, me, in_two) == "canceled"
    finally:
        second.close()
