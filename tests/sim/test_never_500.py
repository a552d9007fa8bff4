"""The simulator never answers 500 to a client's input: whatever the body of an order request,
it is accepted or refused with a 4xx in Kalshi's error shape, and nothing it accepted can break a
later read. And every served operation (each `Endpoint` of sim/server/server.py, so a new route is
fuzzed as soon as it exists), given any path ids, any values of the spec's query parameters and any
JSON body, answers without a 500 and with an answer openapi.yaml allows."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from functools import cache
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.sim.server.server import ENDPOINTS
from kalshi_cli.vocabulary.keys import load_private_key, signed_headers
from tests.conftest import SimHarness
from tests.openapi_check import RECORDER, check_response, raw_spec

T = "KXSIM-26JAN01-A"
ORDERS = "/portfolio/events/orders"
# 9999-12-31T23:59:59Z, the last second an RFC 3339 date-time can name
LAST_DATE_TIME_S = 253_402_300_799


def order(**extra: Any) -> dict[str, Any]:
    return {
        "ticker": T,
        "side": "bid",
        "price": "0.40",
        "count": "1",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
        **extra,
    }


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The error object, nested (`{"error": {...}}`) or flat; both are Kalshi's shapes."""
    body = response.json()
    assert isinstance(body, dict), body
    inner = body.get("error")
    found: dict[str, Any] = inner if isinstance(inner, dict) else body
    assert isinstance(found.get("code"), str) and isinstance(found.get("message"), str), body
    return found


_KEYS: dict[str, Any] = {}


def post_raw(sim: SimHarness, path: str, raw: bytes, method: str = "POST") -> httpx.Response:
    me = sim.account
    request = sim.http.build_request(
        method, me.api_base + path, content=raw, headers={"Content-Type": "application/json"}
    )
    key = _KEYS.get(me.key_id)
    if key is None:
        key = _KEYS[me.key_id] = load_private_key(path=me.private_key_path)[0]
    request.headers.update(
        signed_headers(
            key, me.key_id, method, request.url.raw_path.decode(), int(time.time() * 1000)
        )
    )
    return sim.http.send(request)


@pytest.mark.parametrize(
    "expiration",
    [10**20, 2**63, 2**63 - 1, -(2**63) - 1, LAST_DATE_TIME_S + 1],
    ids=["1e20", "2^63", "int64-max", "below-int64", "year-10000"],
)
def test_an_expiration_time_that_cannot_be_a_date_time_is_a_400(
    sim: SimHarness, expiration: int
) -> None:
    sim.create_market(T)
    me = sim.account
    refused = sim.place_order(me, order(expiration_time=expiration))
    assert refused.status_code == 400, refused.text
    assert "expiration_time" in json.dumps(error_of(refused))
    batch = sim.signed(
        me, "POST", ORDERS + "/batched", json={"orders": [order(expiration_time=expiration)]}
    )
    assert batch.status_code in (201, 400), batch.text
    if batch.status_code == 201:
        assert "error" in batch.json()["orders"][0]
    listing = sim.signed(me, "GET", "/portfolio/orders")
    assert listing.status_code == 200 and listing.json()["orders"] == []


@pytest.mark.parametrize("expiration", [2**63, 10**20, LAST_DATE_TIME_S + 1])
def test_an_amend_to_an_expiration_time_that_cannot_be_a_date_time_is_a_400(
    sim: SimHarness, expiration: int
) -> None:
    """Amend took `expiration_time` (3.31.0) without the create path's checks: 2^63 was
    accepted, and every later order listing of the account answered 500."""
    sim.create_market(T)
    me = sim.account
    placed = sim.place_order(me, order()).json()
    body = {
        "ticker": T,
        "side": "bid",
        "price": "0.3000",
        "count": "1.00",
        "expiration_time": expiration,
    }
    refused = sim.signed(me, "POST", f"{ORDERS}/{placed['order_id']}/amend", json=body)
    assert refused.status_code == 400, refused.text
    assert "expiration_time" in json.dumps(error_of(refused))
    listing = sim.signed(me, "GET", "/portfolio/orders")
    assert listing.status_code == 200, listing.text
    [listed] = listing.json()["orders"]
    assert "expiration_time" not in listed or listed["expiration_time"] is None


def test_the_last_second_a_date_time_can_name_is_accepted_and_listed(sim: SimHarness) -> None:
    sim.create_market(T)
    me = sim.account
    sim.placed(me, order(expiration_time=LAST_DATE_TIME_S))
    listing = sim.signed(me, "GET", "/portfolio/orders")
    assert listing.status_code == 200
    [listed] = listing.json()["orders"]
    assert listed["expiration_time"].startswith("9999-12-31T23:59:59")


@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_a_deeply_nested_body_is_a_400(sim: SimHarness, depth: int) -> None:
    sim.create_market(T)
    for raw in (
        b"[" * depth + b"]" * depth,
        b'{"ticker": ' + b"[" * depth + b"]" * depth + b"}",
        b'{"orders": [' + b'{"a":' * depth + b"1" + b"}" * depth + b"]}",
    ):
        for path in (ORDERS, ORDERS + "/batched"):
            answer = post_raw(sim, path, raw)
            assert answer.status_code == 400, answer.text[:200]
            error_of(answer)
    assert sim.signed(sim.account, "GET", "/portfolio/orders").json()["orders"] == []


# --------------------------------------------------------------------------------------------
# Fuzz: any JSON body to any order endpoint


@pytest.fixture(scope="module")
def fuzz_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimHarness]:
    # the top tier, so the fuzzer meets validation rather than the token bucket
    running = start_simulator(
        tmp_path_factory.mktemp("sim-fuzz"),
        scenario="empty",
        tier="prime",
        response_hook=RECORDER.hook,
    )
    harness = SimHarness(running)
    harness.create_market(T)
    yield harness
    harness.close()


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", "0", "1", "0.40", "1e20", "NaN", "-1", T, "bid", "ask", "yes"])
)
# the edges of int64 and of a date-time (in Unix seconds), and of a double's exact integers
edges = st.sampled_from([2**63, 2**63 - 1, -(2**63) - 1, 10**20, LAST_DATE_TIME_S + 1, 2**53 + 1])
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ORDER_FIELDS = sorted(
    {
        *order(),
        "expiration_time",
        "client_order_id",
        "post_only",
        "reduce_only",
        "subaccount",
        "exchange_index",
        "cancel_order_on_pause",
        "order_group_id",
        "updated_client_order_id",
        "reduce_to",
        "reduce_by",
    }
)
# A right order with one or two fields replaced (or added): it gets past the first check and
# reaches the ones behind it, so each field meets every kind of value.
mutated_orders = st.builds(
    lambda changes: {**order(), **changes},
    st.dictionaries(
        st.sampled_from(ORDER_FIELDS), edges | scalars | json_values, min_size=1, max_size=2
    ),
)
bodies = (
    mutated_orders
    | json_values
    | st.builds(lambda items: {"orders": items}, st.lists(mutated_orders | json_values, max_size=3))
)
endpoints = st.sampled_from(
    [
        ("POST", ORDERS),
        ("POST", ORDERS + "/batched"),
        ("DELETE", ORDERS + "/batched"),
        ("POST", ORDERS + "/{order_id}/amend"),
        ("POST", ORDERS + "/{order_id}/decrease"),
    ]
)


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(endpoint=endpoints, body=bodies)
@example(endpoint=("POST", ORDERS), body=order(expiration_time=2**63))
@example(endpoint=("POST", ORDERS + "/batched"), body={"orders": [order(expiration_time=10**20)]})
def test_no_json_body_gets_a_500_from_an_order_endpoint(
    fuzz_sim: SimHarness, endpoint: tuple[str, str], body: Any
) -> None:
    method, template = endpoint
    path = template
    if "{order_id}" in template:
        placed = fuzz_sim.place_order(fuzz_sim.account, order())
        order_id = placed.json()["order_id"] if placed.status_code == 201 else "none"
        path = template.replace("{order_id}", order_id)
    raw = json.dumps(body).encode()  # NaN and Infinity too: Python's json reads them
    answer = post_raw(fuzz_sim, path, raw, method)
    assert answer.status_code < 500, (answer.status_code, answer.text[:300], raw[:300])
    if answer.status_code >= 400:
        error_of(answer)
    if answer.status_code < 300 or "{order_id}" in template:
        # whatever was accepted must not break a later read
        listing = fuzz_sim.signed(fuzz_sim.account, "GET", "/portfolio/orders")
        assert listing.status_code == 200, listing.text[:300]
        fuzz_sim.signed(fuzz_sim.account, "DELETE", ORDERS)  # a clean book for the next one


@FUZZ
@given(expiration=st.integers() | edges)
def test_any_integer_expiration_time_is_accepted_or_refused_never_a_500(
    fuzz_sim: SimHarness, expiration: int
) -> None:
    body = json.dumps(order(expiration_time=expiration)).encode()
    answer = post_raw(fuzz_sim, ORDERS, body)
    assert answer.status_code in (201, 400), answer.text[:300]
    if answer.status_code == 400:
        error_of(answer)
    listing = fuzz_sim.signed(fuzz_sim.account, "GET", "/portfolio/orders")
    assert listing.status_code == 200, listing.text[:300]
    fuzz_sim.signed(fuzz_sim.account, "DELETE", ORDERS)


# --------------------------------------------------------------------------------------------
# Fuzz: every served operation, any path ids, the spec's query parameters with any values, any
# JSON body. No answer is a 500, and every answer is one openapi.yaml allows (checked here, per
# example, so a failure shrinks to the request that caused it).


@cache
def _spec_parameters() -> dict[tuple[str, str], list[str]]:
    """(method, template) -> the names of its query parameters, from openapi.yaml."""
    spec = raw_spec()
    shared = spec["components"].get("parameters", {})
    found: dict[tuple[str, str], list[str]] = {}
    for template, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            names = []
            for declared in operation.get("parameters", []):
                parameter = declared
                if "$ref" in declared:
                    parameter = shared[declared["$ref"].rsplit("/", 1)[1]]
                if parameter.get("in") == "query":
                    names.append(parameter["name"])
            found[(method.upper(), template)] = names
    return found


SERVED = sorted((ep.method, ep.template) for ep in ENDPOINTS)
ORDER_ID = "@order"  # in a path: the id of a resting order of the account, placed for it
query_values = st.one_of(
    st.sampled_from(["", "0", "1", "-1", "100", "1001", "true", "false", T, "KXSIM", "open"]),
    st.sampled_from(["resting", "executed", "canceled", "unsettled", "settled", "position"]),
    st.sampled_from([str(2**63), str(-(2**63) - 1), "1e3", "0.5", "NaN", "a,b", ","]),
    st.integers(min_value=-(2**64), max_value=2**64).map(str),
    st.text(max_size=10),
)
ids = st.one_of(
    st.sampled_from([ORDER_ID, T, "KXSIM", T.rsplit("-", 1)[0], "x", "0", "-1"]),
    st.text(min_size=1, max_size=12),
)


@st.composite
def requests(draw: st.DrawFn, method: str, template: str) -> tuple[str, dict[str, str], Any]:
    path = template
    for name in re.findall(r"\{([^}]+)\}", template):
        path = path.replace("{" + name + "}", quote(draw(ids), safe=""), 1)
    names = _spec_parameters().get((method, template), [])
    params = draw(st.dictionaries(st.sampled_from(names), query_values)) if names else {}
    body = draw(bodies) if method in ("POST", "PUT", "DELETE") else None
    return path, params, body


@pytest.mark.parametrize(("method", "template"), SERVED, ids=[f"{m} {t}" for m, t in SERVED])
def test_no_request_to_any_served_operation_gets_a_500_or_an_answer_off_the_spec(
    fuzz_sim: SimHarness, method: str, template: str
) -> None:
    @settings(FUZZ, max_examples=30)
    @given(request=requests(method, template))
    def fuzz(request: tuple[str, dict[str, str], Any]) -> None:
        _one_request(fuzz_sim, method, *request)

    fuzz()


def _one_request(
    fuzz_sim: SimHarness, method: str, path: str, params: dict[str, str], body: Any
) -> None:
    me = fuzz_sim.account
    if quote(ORDER_ID, safe="") in path:
        placed = fuzz_sim.place_order(me, order())
        order_id = placed.json()["order_id"] if placed.status_code == 201 else "none"
        path = path.replace(quote(ORDER_ID, safe=""), order_id)
    raw = b"" if body is None else json.dumps(body).encode()
    request_ = fuzz_sim.http.build_request(
        method,
        me.api_base + path,
        params=params,
        content=raw,
        headers={"Content-Type": "application/json"} if raw else {},
    )
    key = _KEYS.get(me.key_id)
    if key is None:
        key = _KEYS[me.key_id] = load_private_key(path=me.private_key_path)[0]
    request_.headers.update(
        signed_headers(
            key, me.key_id, method, request_.url.raw_path.decode(), int(time.time() * 1000)
        )
    )
    answer = fuzz_sim.http.send(request_)
    assert answer.status_code < 500, (method, path, params, answer.status_code, answer.text[:300])
    RECORDER.drain_violations()  # this test checks its own answer, below
    problem = check_response(
        method,
        answer.request.url.path,
        answer.request.url.query.decode(),
        answer.status_code,
        answer.headers.get("content-type", ""),
        answer.content,
    )
    assert problem is None, problem
    if method != "GET":
        fuzz_sim.signed(me, "DELETE", ORDERS)  # a clean book for the next one


# --------------------------------------------------------------------------------------------
# Bodies Python's decoder takes badly: too deep, a lone surrogate, an integer too long to convert

DEEP = 100_000
LONE_SURROGATE = b'"\\ud800"'
LONG_INTEGER = b"1" * 4_301  # past Python's 4,300-digit limit on converting an int


def admin_write_routes(sim: SimHarness) -> list[tuple[str, str]]:
    """Every (method, path) of the admin API that takes a body, path ids filled in."""
    from starlette.routing import Route

    from kalshi_cli.sim.server.admin import admin_routes

    found = []
    for route in admin_routes(sim.running.state):
        assert isinstance(route, Route)
        ticker = (
            T.split("-", maxsplit=1)[0]
            if route.path.startswith("/series/")
            else T.rsplit("-", 1)[0]
            if route.path.startswith("/events/")
            else T
        )
        path = route.path.replace("{ticker}", ticker).replace("{kind}", "incentive_programs")
        path = path.replace("{index}", "0")
        found += [(m, path) for m in sorted(route.methods or ()) if m in ("POST", "PUT")]
    return found


@pytest.mark.parametrize(
    "raw",
    [
        b'{"ticker": ' + b"[" * DEEP + b"]" * DEEP + b"}",
        b'{"ticker": ' + LONE_SURROGATE + b"}",
        b'{"ticker": ' + LONG_INTEGER + b"}",
    ],
    ids=["nested", "lone-surrogate", "long-integer"],
)
def test_no_admin_write_route_answers_500_to_a_body_python_decodes_badly(
    sim: SimHarness, raw: bytes
) -> None:
    sim.create_market(T)
    routes = admin_write_routes(sim)
    assert len(routes) == 13
    for method, path in routes:
        answer = sim.http.request(method, sim.admin_url + path, content=raw)
        assert answer.status_code == 400, (method, path, answer.text[:200])
        error_of(answer)


@pytest.mark.parametrize(
    "field", ["ticker", "client_order_id", "price", "count", "time_in_force", "subaccount"]
)
def test_a_lone_surrogate_in_an_order_or_amend_is_a_400(sim: SimHarness, field: str) -> None:
    sim.create_market(T)
    placed = sim.place_order(sim.account, order())
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    amend = {"ticker": T, "side": "bid", "price": "0.41", "count": "1"}
    for path, body in ((ORDERS, order()), (f"{ORDERS}/{order_id}/amend", amend)):
        fields = {**body, field: "x"}
        raw = json.dumps(fields).replace('"x"', LONE_SURROGATE.decode()).encode()
        answer = post_raw(sim, path, raw)
        assert answer.status_code == 400, (path, answer.text[:200])
        assert error_of(answer)["code"] == "bad_request"
    orders = sim.signed(sim.account, "GET", "/portfolio/orders").json()["orders"]
    assert [(o["order_id"], o["yes_price_dollars"]) for o in orders] == [(order_id, "0.4000")]


def test_a_paired_surrogate_escape_is_one_character_not_a_refusal(sim: SimHarness) -> None:
    sim.create_market(T)
    raw = json.dumps(order(client_order_id="x")).replace('"x"', '"a\\ud83d\\ude00"').encode()
    answer = post_raw(sim, ORDERS, raw)
    assert answer.status_code == 201, answer.text
    assert answer.json()["client_order_id"] == "a\U0001f600"


@pytest.mark.parametrize("path", [ORDERS, ORDERS + "/batched"])
def test_an_integer_too_long_to_convert_is_a_400(sim: SimHarness, path: str) -> None:
    sim.create_market(T)
    for raw in (
        b'{"ticker": "' + T.encode() + b'", "count": ' + LONG_INTEGER + b"}",
        b'{"orders": [{"expiration_time": ' + LONG_INTEGER + b"}]}",
    ):
        answer = post_raw(sim, path, raw)
        assert answer.status_code == 400, answer.text[:200]
        assert error_of(answer)["code"] == "bad_request"
    assert sim.signed(sim.account, "GET", "/portfolio/orders").json()["orders"] == []
