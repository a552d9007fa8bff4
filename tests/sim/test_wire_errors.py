"""The simulator answers errors as Kalshi was seen to answer them on the real wire.

One test per fact in REFERENCE.md "Observed on the real wire" about status, code and body shape:
nested `{"error": {...}}` for auth, order and exchange errors, flat `{code, message, details}`
for a body that does not decode, bare `{"msg"}` for a query parameter that fails validation.
Every response is also checked by the autouse openapi fixture, which accepts exactly these three
error shapes (see tests/openapi_check.py).
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import httpx
import pytest

from kalshi_cli.vocabulary.keys import generate_private_key, load_private_key, signed_headers
from tests.conftest import SimHarness
from tests.wire import nested, order_body

T = "KXWIRE-26JAN01-A"
ORDERS = "/portfolio/events/orders"


order = partial(order_body, T)


def _nothing_placed(sim: SimHarness) -> None:
    assert sim.signed(sim.account, "GET", "/portfolio/orders").json()["orders"] == []


# --- order errors ------------------------------------------------------------------------------


def test_a_duplicate_client_order_id_is_409_order_already_exists_even_after_a_cancel(
    sim: SimHarness,
) -> None:
    sim.create_market(T)
    me = sim.account
    first = sim.place_order(me, order(client_order_id="coid-1"))
    assert first.status_code == 201
    again = sim.place_order(me, order(client_order_id="coid-1"))
    assert again.status_code == 409
    error = nested(again)
    assert (error["code"], error["message"]) == ("order_already_exists", "order already exists")
    assert sim.signed(me, "DELETE", f"{ORDERS}/{first.json()['order_id']}").status_code == 200
    # client order ids are never freed: the id of a cancelled order is still taken
    after_cancel = sim.place_order(me, order(client_order_id="coid-1"))
    assert after_cancel.status_code == 409
    assert nested(after_cancel)["code"] == "order_already_exists"
    orders = sim.signed(me, "GET", "/portfolio/orders").json()["orders"]
    assert [o["status"] for o in orders] == ["canceled"]


def test_cancel_of_a_cancelled_an_executed_or_an_unknown_order_is_one_identical_404(
    sim: SimHarness,
) -> None:
    sim.create_market(T)
    me, other = sim.account, sim.new_account()
    cancelled = sim.place_order(me, order(count="2")).json()["order_id"]
    assert sim.signed(me, "DELETE", f"{ORDERS}/{cancelled}").status_code == 200
    executed = sim.place_order(me, order(count="2")).json()["order_id"]
    hit = sim.place_order(other, order("ask", count="2", time_in_force="immediate_or_cancel"))
    assert hit.json()["fill_count"] == "2.00"
    mine = sim.signed(me, "GET", f"/portfolio/orders/{executed}").json()["order"]
    assert mine["status"] == "executed"

    answers = [
        sim.signed(me, "DELETE", f"{ORDERS}/{oid}")
        for oid in (cancelled, executed, "00000000-0000-4000-8000-000000000000")
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert answers[0].content == answers[1].content == answers[2].content
    error = nested(answers[0])
    assert (error["code"], error["message"]) == ("not_found", "not found")


def test_a_post_only_order_that_would_cross_is_400_invalid_order_post_only_cross(
    sim: SimHarness,
) -> None:
    sim.create_market(T)
    other = sim.new_account()
    sim.place_order(other, order("ask", "0.45", "3"))
    response = sim.place_order(sim.account, order(price="0.45", post_only=True))
    assert response.status_code == 400
    error = nested(response)
    assert (error["code"], error["details"]) == ("invalid_order", "post only cross")
    _nothing_placed(sim)  # refused at create, not accepted then cancelled


def test_insufficient_balance_is_400_insufficient_balance(sim: SimHarness) -> None:
    sim.create_market(T)
    response = sim.place_order(sim.account, order(price="0.99", count="1100"))
    assert response.status_code == 400
    assert nested(response)["code"] == "insufficient_balance"
    _nothing_placed(sim)


def test_a_price_off_the_grid_is_400_invalid_price(sim: SimHarness) -> None:
    sim.create_market(T)
    response = sim.place_order(sim.account, order(price="0.405"))
    assert response.status_code == 400
    assert nested(response)["code"] == "invalid_price"
    _nothing_placed(sim)


def test_self_trade_taker_at_cross_cancels_the_taker_and_leaves_the_maker(sim: SimHarness) -> None:
    sim.create_market(T)
    me = sim.account
    resting = sim.place_order(me, order("ask", "0.40", "3")).json()["order_id"]
    ioc = sim.place_order(me, order(count="2", time_in_force="immediate_or_cancel"))
    assert ioc.status_code == 201
    assert (ioc.json()["fill_count"], ioc.json()["remaining_count"]) == ("0.00", "0.00")
    maker = sim.signed(me, "GET", f"/portfolio/orders/{resting}").json()["order"]
    assert (maker["status"], maker["remaining_count_fp"]) == ("resting", "3.00")


# --- a body that does not decode: the flat shape ---------------------------------------------


def test_a_numeric_count_is_a_flat_400_bad_request(sim: SimHarness) -> None:
    sim.create_market(T)
    response = sim.place_order(sim.account, order(count=5))
    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_request",
        "message": "bad request",
        "details": "json: cannot unmarshal number into Go struct field "
        "CreateOrderV2Request.count of type string",
    }
    _nothing_placed(sim)


@pytest.mark.parametrize(
    ("path", "body", "details"),
    [
        (ORDERS, [1, 2], "json: cannot unmarshal array into Go value of type CreateOrderV2Request"),
        (
            ORDERS,
            order(post_only="yes"),
            "json: cannot unmarshal string into Go struct field "
            "CreateOrderV2Request.post_only of type bool",
        ),
        (
            ORDERS,
            order(expiration_time=1.5),
            "json: cannot unmarshal number 1.5 into Go struct field "
            "CreateOrderV2Request.expiration_time of type int64",
        ),
        (
            ORDERS + "/batched",
            {"orders": [order(), order(price=0.4)]},
            "json: cannot unmarshal number into Go struct field "
            "BatchCreateOrdersV2Request.orders.price of type string",
        ),
    ],
    ids=["not-an-object", "bool-as-string", "int-as-float", "batch-item"],
)
def test_every_undecodable_body_is_flat_and_changes_nothing(
    sim: SimHarness, path: str, body: Any, details: str
) -> None:
    sim.create_market(T)
    response = sim.signed(sim.account, "POST", path, json=body)
    assert (response.status_code, response.json()) == (
        400,
        {"code": "bad_request", "message": "bad request", "details": details},
    )
    _nothing_placed(sim)  # the first batch item was not placed either


def test_invalid_json_is_a_flat_400(sim: SimHarness) -> None:
    me = sim.account
    key = load_private_key(path=me.private_key_path)[0]
    request = sim.http.build_request("POST", me.api_base + ORDERS, content=b"{not json")
    request.headers.update(
        signed_headers(key, me.key_id, "POST", request.url.path, int(time.time() * 1000))
    )
    response = sim.http.send(request)
    body = response.json()
    assert (response.status_code, body["code"], body["message"]) == (
        400,
        "bad_request",
        "bad request",
    )
    assert set(body) == {"code", "message", "details"}


# --- query validation: the bare shape ------------------------------------------------------------


def test_limit_1001_on_markets_is_a_bare_msg_400(sim: SimHarness) -> None:
    response = httpx.get(sim.account.api_base + "/markets", params={"limit": 1001})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"msg"}
    assert body["msg"].startswith("Parameter validation failed for GetMarkets: ")
    assert body["msg"].endswith("'Limit' failed on the 'lte' tag")


@pytest.mark.parametrize(
    ("path", "params", "operation"),
    [
        ("/markets", {"limit": "ten"}, "GetMarkets"),
        ("/markets", {"min_close_ts": str(2**63)}, "GetMarkets"),
        ("/events", {"min_close_ts": str(-(2**63) - 1)}, "GetEvents"),
        ("/series", {"min_updated_ts": "9" * 30}, "GetSeriesList"),
        ("/events", {"limit": "0"}, "GetEvents"),
        ("/events", {"with_milestones": "maybe"}, "GetEvents"),
    ],
    ids=["not-an-integer", "above-int64", "below-int64", "far-above-int64", "below-min", "bool"],
)
def test_a_query_parameter_failing_validation_is_a_bare_msg_400(
    sim: SimHarness, path: str, params: dict[str, str], operation: str
) -> None:
    response = httpx.get(sim.account.api_base + path, params=params)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"msg"}
    assert body["msg"].startswith(f"Parameter validation failed for {operation}: ")


def test_an_invalid_status_filter_on_markets_is_a_nested_bad_request(sim: SimHarness) -> None:
    response = httpx.get(sim.account.api_base + "/markets", params={"status": "live"})
    assert response.status_code == 400
    error = nested(response)
    assert (error["code"], error["details"]) == ("bad_request", "invalid status filter")


# --- paging ------------------------------------------------------------------------------------


def test_a_garbage_cursor_is_answered_as_if_absent(sim: SimHarness) -> None:
    for i in range(3):
        sim.create_market(f"KXWIRE-26-M{i}")
    base = sim.account.api_base + "/markets"
    first = httpx.get(base, params={"limit": 2})
    garbage = httpx.get(base, params={"limit": 2, "cursor": "not-a-cursor-at-all"})
    assert garbage.status_code == 200
    assert garbage.json() == first.json()
    mine = sim.signed(sim.account, "GET", "/portfolio/orders", params={"cursor": "zzz"})
    assert mine.status_code == 200


def test_the_last_page_carries_an_empty_cursor(sim: SimHarness) -> None:
    for i in range(3):
        sim.create_market(f"KXWIRE-26-M{i}")
    base = sim.account.api_base + "/markets"
    first = httpx.get(base, params={"limit": 2}).json()
    assert first["cursor"] != ""
    last = httpx.get(base, params={"limit": 2, "cursor": first["cursor"]}).json()
    assert len(last["markets"]) == 1
    assert "cursor" in last and last["cursor"] == ""


# --- authentication ----------------------------------------------------------------------------

BALANCE = "/trade-api/v2/portfolio/balance"


def _get_balance(sim: SimHarness, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(sim.account.api_base + "/portfolio/balance", headers=headers)


def _key(sim: SimHarness) -> Any:
    return load_private_key(path=sim.account.private_key_path)[0]


def test_a_bad_signature_is_401_authentication_error(sim: SimHarness) -> None:
    now_ms = int(time.time() * 1000)
    wrong = signed_headers(generate_private_key(), sim.account.key_id, "GET", BALANCE, now_ms)
    response = _get_balance(sim, wrong)
    assert response.status_code == 401
    error = nested(response)
    assert (error["code"], error["details"]) == (
        "authentication_error",
        "INCORRECT_API_KEY_SIGNATURE",
    )


def test_an_unknown_key_is_401_authentication_error(sim: SimHarness) -> None:
    now_ms = int(time.time() * 1000)
    response = _get_balance(sim, signed_headers(_key(sim), "no-such-key", "GET", BALANCE, now_ms))
    assert response.status_code == 401
    assert nested(response)["code"] == "authentication_error"


def test_a_missing_signature_header_is_401_signature_is_missing_from_headers(
    sim: SimHarness,
) -> None:
    headers = signed_headers(_key(sim), sim.account.key_id, "GET", BALANCE, int(time.time() * 1000))
    del headers["KALSHI-ACCESS-SIGNATURE"]
    response = _get_balance(sim, headers)
    assert response.status_code == 401
    assert nested(response)["code"] == "signature_is_missing_from_headers"


@pytest.mark.parametrize("offset_s", [-5, 5])
def test_a_timestamp_within_five_seconds_is_accepted(sim: SimHarness, offset_s: int) -> None:
    ts = int((time.time() + offset_s) * 1000)
    headers = signed_headers(_key(sim), sim.account.key_id, "GET", BALANCE, ts)
    assert _get_balance(sim, headers).status_code == 200


@pytest.mark.parametrize("offset_s", [-30, 300, -300])
def test_a_timestamp_outside_the_window_is_401_header_timestamp_expired(
    sim: SimHarness, offset_s: int
) -> None:
    ts = int((time.time() + offset_s) * 1000)
    headers = signed_headers(_key(sim), sim.account.key_id, "GET", BALANCE, ts)
    response = _get_balance(sim, headers)
    assert response.status_code == 401
    assert nested(response)["code"] == "header_timestamp_expired"
