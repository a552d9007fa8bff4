"""Subaccounts and API keys over the simulator's REST API: creation, balances, idempotent
transfers, netting, `subaccount` on the order and portfolio paths with the spec's defaults, and
scopes and subaccount restrictions enforced on every call (403). Every answer is also checked
against openapi.yaml by the autouse fixture in conftest.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.sim.server.admin import write_private_key
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.vocabulary.keys import generate_private_key, public_key_pem
from tests.conftest import SimHarness
from tests.openapi_check import RECORDER
from tests.waiting import poll_until
from tests.wire import flat_code, nested_code, order_body

T = "KXSIM-26JAN01-A"


def _harness(path: Path, tier: str) -> SimHarness:
    return SimHarness(
        start_simulator(path, scenario="empty", tier=tier, response_hook=RECORDER.hook)
    )


@pytest.fixture
def adv(tmp_path: Path) -> Iterator[SimHarness]:
    harness = _harness(tmp_path / "sim", "advanced")
    harness.create_market(T)
    yield harness
    harness.close()


order = partial(order_body, T)


def transfer(sim: SimHarness, me: AccountInfo, cents: int, to: int = 1, **kw: Any) -> Any:
    body = {
        "client_transfer_id": kw.pop("client_transfer_id", str(uuid.uuid4())),
        "from_subaccount": kw.pop("from_subaccount", 0),
        "to_subaccount": to,
        "amount_cents": cents,
    }
    return sim.signed(me, "POST", "/portfolio/subaccounts/transfer", json=body)


def balances(sim: SimHarness, me: AccountInfo) -> dict[int, str]:
    rows = sim.signed(me, "GET", "/portfolio/subaccounts/balances").json()["subaccount_balances"]
    return {r["subaccount_number"]: r["balance"] for r in rows}


def generated_key(sim: SimHarness, me: AccountInfo, tmp: Path, **body: Any) -> AccountInfo:
    made = sim.signed(me, "POST", "/api_keys/generate", json={"name": "k", **body})
    assert made.status_code == 201, made.text
    answer = made.json()
    path = tmp / f"{answer['api_key_id']}.pem"
    write_private_key(path, answer["private_key"].encode())
    return AccountInfo(
        api_base=me.api_base,
        ws_url=me.ws_url,
        key_id=answer["api_key_id"],
        private_key_path=str(path),
        key_type=answer["key_type"],
    )


# subaccounts ---------------------------------------------------------------------------------


def test_create_subaccounts_and_see_their_balances(adv: SimHarness) -> None:
    me = adv.account
    made = adv.signed(me, "POST", "/portfolio/subaccounts")
    assert (made.status_code, made.json()) == (201, {"subaccount_number": 1})
    made = adv.signed(me, "POST", "/portfolio/subaccounts", json={"exchange_index": 0})
    assert made.json() == {"subaccount_number": 2}
    assert balances(adv, me) == {0: "1000.0000", 1: "0.0000", 2: "0.0000"}


def test_basic_tier_cannot_create_subaccounts(sim: SimHarness) -> None:
    refused = sim.signed(sim.account, "POST", "/portfolio/subaccounts")
    assert nested_code(refused) == (400, "invalid_parameters")


def test_a_transfer_moves_cash_once_per_client_transfer_id(adv: SimHarness) -> None:
    me = adv.account
    adv.signed(me, "POST", "/portfolio/subaccounts")
    tid = str(uuid.uuid4())
    first = transfer(adv, me, 2500, client_transfer_id=tid)
    assert (first.status_code, first.json()) == (200, {})
    assert transfer(adv, me, 2500, client_transfer_id=tid).status_code == 200
    assert balances(adv, me) == {0: "975.0000", 1: "25.0000"}
    listed = adv.signed(me, "GET", "/portfolio/subaccounts/transfers").json()
    assert [
        (t["from_subaccount"], t["to_subaccount"], t["amount_cents"]) for t in listed["transfers"]
    ] == [(0, 1, 2500)]
    other = transfer(adv, me, 1, client_transfer_id=tid)
    assert nested_code(other) == (400, "invalid_parameters")
    assert nested_code(transfer(adv, me, 1, to=5)) == (400, "invalid_parameters")
    assert nested_code(transfer(adv, me, 100_001_00)) == (400, "insufficient_balance")
    assert nested_code(transfer(adv, me, 1, client_transfer_id="not-a-uuid")) == (
        400,
        "invalid_parameters",
    )
    # an amount sent as a string, deliberately: the wire refuses it
    assert flat_code(transfer(adv, me, "1")) == (400, "bad_request")  # type: ignore[arg-type]
    # an amount sent as null is missing
    missing = transfer(adv, me, None)  # type: ignore[arg-type]
    assert nested_code(missing) == (400, "missing_parameters")
    assert missing.json()["error"]["message"] == "amount_cents is required"
    assert balances(adv, me) == {0: "975.0000", 1: "25.0000"}


def test_netting_settings(adv: SimHarness) -> None:
    me = adv.account
    adv.signed(me, "POST", "/portfolio/subaccounts")
    put = adv.signed(
        me, "PUT", "/portfolio/subaccounts/netting", json={"subaccount_number": 1, "enabled": True}
    )
    assert (put.status_code, put.content) == (200, b"")
    configs = adv.signed(me, "GET", "/portfolio/subaccounts/netting").json()["netting_configs"]
    assert [(c["subaccount_number"], c["enabled"]) for c in configs] == [(0, False), (1, True)]
    bad = adv.signed(
        me, "PUT", "/portfolio/subaccounts/netting", json={"subaccount_number": 7, "enabled": True}
    )
    assert nested_code(bad) == (400, "invalid_parameters")


def test_orders_positions_and_fills_live_in_their_subaccount(adv: SimHarness) -> None:
    me, other = adv.account, adv.new_account()
    adv.signed(me, "POST", "/portfolio/subaccounts")
    transfer(adv, me, 100_00)
    placed = adv.place_order(me, order(subaccount=1))
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    primary = adv.place_order(me, order(price="0.30"))
    assert primary.status_code == 201
    # the counterparty sells YES into both bids
    adv.place_order(other, order("ask", "0.30", "10"))

    def listed(path: str, name: str, **params: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = adv.signed(me, "GET", path, params=params).json()[name]
        return result

    every = listed("/portfolio/orders", "orders")
    assert sorted(o["subaccount_number"] for o in every) == [0, 1]
    only_1 = listed("/portfolio/orders", "orders", subaccount=1)
    assert [o["order_id"] for o in only_1] == [order_id]
    assert listed("/portfolio/orders", "orders", subaccount=9) == []
    fills = listed("/portfolio/fills", "fills")
    assert sorted(f["subaccount_number"] for f in fills) == [0, 1]
    assert [f["order_id"] for f in listed("/portfolio/fills", "fills", subaccount=1)] == [order_id]
    # positions default to the primary account
    assert [p["position_fp"] for p in listed("/portfolio/positions", "market_positions")] == [
        "5.00"
    ]
    sub_positions = listed("/portfolio/positions", "market_positions", subaccount=1)
    assert [p["position_fp"] for p in sub_positions] == ["5.00"]
    # the balance defaults to the primary account; subaccount 1 paid $2.00 (a maker: no fee)
    sub_balance = adv.signed(me, "GET", "/portfolio/balance", params={"subaccount": 1}).json()
    assert sub_balance["balance_dollars"] == balances(adv, me)[1]
    assert sub_balance["balance"] == 98_00
    missing = adv.signed(me, "GET", "/portfolio/balance", params={"subaccount": 4})
    assert nested_code(missing) == (400, "invalid_parameters")
    # GET one order needs no subaccount
    one = adv.signed(me, "GET", f"/portfolio/orders/{order_id}").json()["order"]
    assert one["subaccount_number"] == 1


def test_single_order_writes_default_to_subaccount_0(adv: SimHarness) -> None:
    me = adv.account
    adv.signed(me, "POST", "/portfolio/subaccounts")
    transfer(adv, me, 100_00)
    order_id = adv.place_order(me, order(subaccount=1)).json()["order_id"]
    path = f"/portfolio/events/orders/{order_id}"
    assert nested_code(adv.signed(me, "DELETE", path)) == (404, "not_found")
    amend = {"ticker": T, "side": "bid", "price": "0.41", "count": "5"}
    assert adv.signed(me, "POST", path + "/amend", json=amend).status_code == 404
    amended = adv.signed(me, "POST", path + "/amend", json=amend, params={"subaccount": 1})
    assert amended.status_code == 200, amended.text
    decreased = adv.signed(
        me, "POST", path + "/decrease", json={"reduce_by": "1"}, params={"subaccount": 1}
    )
    assert decreased.json()["remaining_count"] == "4.00"
    cancelled = adv.signed(me, "DELETE", path, params={"subaccount": 1})
    assert cancelled.json()["reduced_by"] == "4.00"


def test_cancel_all_covers_every_subaccount_unless_one_is_named(adv: SimHarness) -> None:
    me = adv.account
    adv.signed(me, "POST", "/portfolio/subaccounts")
    transfer(adv, me, 100_00)

    def resting(subaccount: int | None = None) -> int:
        params: dict[str, Any] = {"status": "resting"}
        if subaccount is not None:
            params["subaccount"] = subaccount
        return len(adv.signed(me, "GET", "/portfolio/orders", params=params).json()["orders"])

    for sub in (0, 1, 1):
        adv.place_order(me, order(subaccount=sub))
    assert (
        adv.signed(me, "DELETE", "/portfolio/events/orders", params={"subaccount": 1}).status_code
        == 204
    )
    assert (resting(0), resting(1)) == (1, 0)
    adv.place_order(me, order(subaccount=1))
    assert adv.signed(me, "DELETE", "/portfolio/events/orders").status_code == 204
    assert resting() == 0


def test_batch_items_name_their_subaccount(adv: SimHarness) -> None:
    me = adv.account
    adv.signed(me, "POST", "/portfolio/subaccounts")
    transfer(adv, me, 100_00)
    made = adv.signed(
        me,
        "POST",
        "/portfolio/events/orders/batched",
        json={"orders": [order(subaccount=1), order(subaccount=2), order()]},
    ).json()["orders"]
    assert [("order_id" in r, r.get("error", {}).get("code")) for r in made] == [
        (True, None),
        (False, "invalid_parameters"),
        (True, None),
    ]
    cancelled = adv.signed(
        me,
        "DELETE",
        "/portfolio/events/orders/batched",
        json={
            "orders": [
                {"order_id": made[0]["order_id"]},
                {"order_id": made[0]["order_id"], "subaccount": 1},
            ]
        },
    ).json()["orders"]
    assert [c.get("error", {}).get("code") for c in cancelled] == ["not_found", None]


# API keys and scopes -------------------------------------------------------------------------


def test_generate_list_use_and_delete_a_key(sim: SimHarness, tmp_path: Path) -> None:
    me = sim.account
    key = generated_key(sim, me, tmp_path, key_type="ed25519", scopes=["read"])
    listed = sim.signed(me, "GET", "/api_keys").json()["api_keys"]
    assert [(k["api_key_id"], k["scopes"]) for k in listed][-1] == (key.key_id, ["read"])
    assert all("private_key" not in k for k in listed)
    assert sim.signed(key, "GET", "/portfolio/balance").status_code == 200
    assert sim.signed(me, "DELETE", f"/api_keys/{key.key_id}").status_code == 204
    assert nested_code(sim.signed(key, "GET", "/portfolio/balance")) == (
        401,
        "authentication_error",
    )
    assert nested_code(sim.signed(me, "DELETE", f"/api_keys/{key.key_id}")) == (404, "not_found")


def test_a_read_only_key_is_refused_every_write(sim: SimHarness, tmp_path: Path) -> None:
    sim.create_market(T)
    reader = generated_key(sim, sim.account, tmp_path, scopes=["read"])
    assert sim.signed(reader, "GET", "/portfolio/orders").status_code == 200
    refused = sim.place_order(reader, order())
    assert nested_code(refused) == (403, "forbidden")
    assert nested_code(sim.signed(reader, "DELETE", "/portfolio/events/orders")) == (
        403,
        "forbidden",
    )
    assert nested_code(sim.signed(reader, "POST", "/api_keys/generate", json={"name": "x"})) == (
        403,
        "forbidden",
    )
    assert sim.signed(sim.account, "GET", "/portfolio/orders").json()["orders"] == []


def test_write_trade_allows_orders_but_not_other_writes(adv: SimHarness, tmp_path: Path) -> None:
    trader = generated_key(adv, adv.account, tmp_path, scopes=["write::trade"])
    adv.placed(trader, order())
    assert nested_code(adv.signed(trader, "GET", "/portfolio/orders")) == (403, "forbidden")
    assert nested_code(adv.signed(trader, "POST", "/portfolio/subaccounts")) == (403, "forbidden")
    balance_only = generated_key(adv, adv.account, tmp_path, scopes=["read::portfolio_balance"])
    assert adv.signed(balance_only, "GET", "/portfolio/balance").status_code == 200
    assert nested_code(adv.signed(balance_only, "GET", "/portfolio/fills")) == (403, "forbidden")


def test_a_key_restricted_to_a_subaccount_reads_and_trades_only_there(
    adv: SimHarness, tmp_path: Path
) -> None:
    me = adv.account
    adv.signed(me, "POST", "/portfolio/subaccounts")
    transfer(adv, me, 50_00)
    adv.place_order(me, order())  # on the primary account
    locked = generated_key(adv, me, tmp_path, subaccount=1)
    placed = adv.place_order(locked, order(price="0.20"))
    assert placed.status_code == 201
    orders = adv.signed(locked, "GET", "/portfolio/orders").json()["orders"]
    assert [(o["subaccount_number"], o["yes_price_dollars"]) for o in orders] == [(1, "0.2000")]
    balance = adv.signed(locked, "GET", "/portfolio/balance").json()
    assert balance["balance"] == 50_00 - 5 * 20 and "balance_breakdown" not in balance
    assert nested_code(
        adv.signed(locked, "GET", "/portfolio/orders", params={"subaccount": 0})
    ) == (403, "forbidden")
    assert nested_code(adv.place_order(locked, order(subaccount=0))) == (403, "forbidden")
    assert nested_code(transfer(adv, locked, 1, from_subaccount=1, to=0)) == (403, "forbidden")
    assert nested_code(adv.signed(locked, "POST", "/portfolio/subaccounts")) == (403, "forbidden")
    # cancel-all by the locked key leaves the primary account's order resting
    assert adv.signed(locked, "DELETE", "/portfolio/events/orders").status_code == 204
    left = adv.signed(me, "GET", "/portfolio/orders", params={"status": "resting"}).json()
    assert [o["subaccount_number"] for o in left["orders"]] == [0]


def test_an_orders_queue_position_is_read_on_any_subaccount_the_key_may_read(
    adv: SimHarness, tmp_path: Path
) -> None:
    """GetOrderQueuePosition names no `subaccount` (as GetOrder): the order is found on any
    subaccount the key may read, and a key restricted to a subaccount finds only its own."""
    me = adv.account
    adv.signed(me, "POST", "/portfolio/subaccounts")
    transfer(adv, me, 50_00)
    primary = adv.place_order(me, order()).json()["order_id"]
    placed = adv.place_order(me, order(subaccount=1))
    on_one = placed.json()["order_id"]  # behind the primary's 5 at the same price

    def queue(key: AccountInfo, order_id: str) -> Any:
        return adv.signed(key, "GET", f"/portfolio/orders/{order_id}/queue_position")

    assert queue(me, primary).json() == {"queue_position_fp": "0.00"}
    assert queue(me, on_one).json() == {"queue_position_fp": "5.00"}
    locked = generated_key(adv, me, tmp_path, subaccount=1)
    assert queue(locked, on_one).json() == {"queue_position_fp": "5.00"}
    assert nested_code(queue(locked, primary)) == (404, "not_found")


def test_a_subaccount_query_parameter_counts_only_where_the_operation_declares_it(
    adv: SimHarness,
) -> None:
    """Kalshi's server binds the query parameters an operation declares and no others. Create,
    batch create and batch cancel take their subaccount in the body, and GetOrder takes none:
    a `subaccount` query parameter sent to them is ignored, whatever its value, so an order
    whose body names none is placed on subaccount 0."""
    me = adv.account
    adv.signed(me, "POST", "/portfolio/subaccounts")
    transfer(adv, me, 50_00)
    elsewhere = {"subaccount": "1"}

    def send(method: str, path: str, body: Any, params: dict[str, str]) -> Any:
        answer = adv.signed(me, method, path, json=body, params=params)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    one = send("POST", "/portfolio/events/orders", order(), elsewhere)["order_id"]
    batch = send("POST", "/portfolio/events/orders/batched", {"orders": [order()]}, elsewhere)
    two = batch["orders"][0]["order_id"]
    for order_id in (one, two):
        for params in (elsewhere, {"subaccount": "not a number"}):
            read = adv.signed(me, "GET", f"/portfolio/orders/{order_id}", params=params)
            assert read.status_code == 200, read.text
            assert read.json()["order"]["subaccount_number"] == 0
    cancel = {"orders": [{"order_id": one}, {"order_id": two}]}
    cancelled = send("DELETE", "/portfolio/events/orders/batched", cancel, elsewhere)
    assert [o["reduced_by"] for o in cancelled["orders"]] == ["5.00", "5.00"]
    on_one = adv.signed(me, "GET", "/portfolio/orders", params=elsewhere).json()["orders"]
    assert on_one == []


def test_create_a_key_from_a_public_key_needs_premier(sim: SimHarness, tmp_path: Path) -> None:
    pem = public_key_pem(generate_private_key("ed25519"))
    refused = sim.signed(sim.account, "POST", "/api_keys", json={"name": "x", "public_key": pem})
    assert nested_code(refused) == (403, "forbidden")
    premier = _harness(tmp_path / "premier", "premier")
    try:
        private = generate_private_key("ed25519")
        made = premier.signed(
            premier.account,
            "POST",
            "/api_keys",
            json={"name": "mine", "public_key": public_key_pem(private), "scopes": ["read"]},
        )
        assert made.status_code == 201, made.text
        path = tmp_path / "mine.pem"
        from kalshi_cli.vocabulary.keys import private_key_pem

        write_private_key(path, private_key_pem(private))
        mine = AccountInfo(
            api_base=premier.account.api_base,
            ws_url=premier.account.ws_url,
            key_id=made.json()["api_key_id"],
            private_key_path=str(path),
            key_type="ed25519",
        )
        assert premier.signed(mine, "GET", "/portfolio/balance").status_code == 200
        bad = premier.signed(
            premier.account, "POST", "/api_keys", json={"name": "x", "public_key": "nope"}
        )
        assert nested_code(bad) == (400, "invalid_parameters")
    finally:
        premier.close()


def test_bad_key_requests(sim: SimHarness) -> None:
    me = sim.account
    for body in (
        {"name": "x", "scopes": ["write"]},
        {"name": "x", "scopes": ["admin"]},
        {"name": "x", "key_type": "dsa"},
        {"name": "x", "subaccount": 3},
    ):
        answer = sim.signed(me, "POST", "/api_keys/generate", json=body)
        assert nested_code(answer) == (400, "invalid_parameters"), body
    assert flat_code(
        sim.signed(me, "POST", "/api_keys/generate", json={"name": "x", "scopes": "read"})
    ) == (
        400,
        "bad_request",
    )
    assert nested_code(
        sim.signed(me, "POST", "/api_keys/generate", json={"name": "x", "fcm_subtrader_id": "a_b"})
    ) == (403, "forbidden")
    assert len(sim.signed(me, "GET", "/api_keys").json()["api_keys"]) == 1


def test_websocket_reports_a_subaccounts_fills_orders_and_positions_to_its_user(
    adv: SimHarness,
) -> None:
    """The private channels are the user's: a subaccount's fill, order and position reach the
    user's connection, naming the subaccount (asyncapi `fill.subaccount`,
    `user_order.subaccount_number`, `market_position.subaccount`, `orderbook_delta.subaccount`)."""

    from tests.sim.test_spec_audit import ws_problems
    from tests.sim.wsutil import Ws

    me = adv.account
    adv.signed(me, "POST", "/portfolio/subaccounts")
    transfer(adv, me, 100_00)
    ws = Ws(me)
    ws.subscribe(["orderbook_delta"], market_ticker=T)
    seen: list[dict[str, Any]] = [ws.recv()]
    ws.subscribe(["fill", "user_orders", "market_positions"], market_ticker=T)
    placed = adv.place_order(me, order(subaccount=1, client_order_id="s1")).json()
    taker = order("ask", "0.40", "2", time_in_force="immediate_or_cancel")
    adv.place_order(adv.new_account(), taker)
    wanted = {"fill", "user_order", "market_position", "orderbook_delta"}

    def every_kind_wanted() -> bool:
        seen.append(ws.recv())
        return wanted <= {m["type"] for m in seen}

    if not wanted <= {m["type"] for m in seen}:
        poll_until(every_kind_wanted, between=lambda: None)
    ws.close()
    by_type = {m["type"]: m["msg"] for m in seen}
    assert by_type["fill"]["order_id"] == placed["order_id"]
    assert by_type["fill"]["subaccount"] == 1
    assert by_type["user_order"]["subaccount_number"] == 1
    assert by_type["user_order"]["user_id"] != placed["order_id"]
    assert (
        by_type["market_position"]["subaccount"],
        by_type["market_position"]["position_fp"],
    ) == (
        1,
        "2.00",
    )
    own_delta = next(
        m["msg"] for m in seen if m["type"] == "orderbook_delta" and "client_order_id" in m["msg"]
    )
    assert (own_delta["client_order_id"], own_delta["subaccount"]) == ("s1", 1)
    assert [p for m in seen for p in ws_problems(m)] == []


def test_a_keys_scopes_do_not_restrict_public_paths(sim: SimHarness, tmp_path: Path) -> None:
    """A public path needs no key at all: one signed by a key without `read` is answered as an
    anonymous one would be (a client signing every request must not lose market data)."""
    sim.create_market(T)
    trader = generated_key(sim, sim.account, tmp_path, scopes=["write::trade"])
    assert sim.signed(trader, "GET", f"/markets/{T}").status_code == 200
    assert sim.signed(trader, "GET", "/exchange/status").status_code == 200
    assert nested_code(sim.signed(trader, "GET", "/portfolio/balance")) == (403, "forbidden")
