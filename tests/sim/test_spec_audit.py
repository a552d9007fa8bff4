"""Regression tests for the spec audit (docs/simulator-audit.md): each pins one place where the
simulator or its validator was off openapi.yaml / asyncapi.yaml and was brought back to it.

WebSocket messages are checked here against asyncapi.yaml with jsonschema: the message schema
named by each `type`, plus no field the schema does not declare.
"""

from __future__ import annotations

import json
from functools import cache, partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from tests.conftest import SimHarness
from tests.openapi_check import check_response
from tests.sim.wsutil import Ws
from tests.wire import flat_code, nested_code, order_body

T = "KXAUDIT-26JAN01-A"
ORDERS = "/portfolio/events/orders"
P = "/trade-api/v2"
ASYNCAPI = Path(__file__).resolve().parents[2] / "docs" / "kalshi-api" / "asyncapi.yaml"
WS_MESSAGES = {
    "subscribed": "subscribedResponse",
    "unsubscribed": "unsubscribedResponse",
    "error": "errorResponse",
    "orderbook_snapshot": "orderbookSnapshot",
    "orderbook_delta": "orderbookDelta",
    "ticker": "ticker",
    "trade": "trade",
    "fill": "fill",
    "user_order": "userOrder",
    "market_position": "marketPosition",
    "market_lifecycle_v2": "marketLifecycleV2",
    "event_lifecycle": "eventLifecycle",
    "multivariate_market_lifecycle": "multivariateMarketLifecycle",
    # the communications channel (RFQs and quotes)
    "rfq_created": "rfqCreated",
    "rfq_deleted": "rfqDeleted",
    "quote_created": "quoteCreated",
    "quote_accepted": "quoteAccepted",
    "quote_executed": "quoteExecuted",
    "order_group_updates": "orderGroupUpdates",
    "event_fee_update": "eventFeeUpdate",
    # the reference indices
    "cfbenchmarks_value": "cfbenchmarksValue",
    "cfbenchmarks_value_indexlist": "cfbenchmarksIndexList",
    "cfbenchmarks_value_5hz": "cfbenchmarksValue5Hz",
    "cfbenchmarks_value_5hz_indexlist": "cfbenchmarks5HzIndexList",
    "pyth_value": "pythValue",
    "pyth_value_underlying_list": "pythUnderlyingList",
}


order = partial(order_body, T)


# --- the validator itself --------------------------------------------------------------------


def _json(data: Any) -> bytes:
    return json.dumps(data).encode()


def test_validator_refuses_a_body_on_a_204() -> None:
    problem = check_response(
        "DELETE", P + "/portfolio/events/orders", "", 204, "application/json", b"{}"
    )
    assert problem is not None and "204" in problem


def test_validator_refuses_fields_the_schema_does_not_declare() -> None:
    body = {"exchange_active": True, "trading_active": True, "uptime": 3}
    problem = check_response(
        "GET", P + "/exchange/status", "", 200, "application/json", _json(body)
    )
    assert problem is not None and "$.uptime is not declared" in problem


@pytest.mark.parametrize(
    ("book", "bad"),
    [
        ({"yes_dollars": [["0.40", "1.00"]], "no_dollars": []}, "'0.40'"),
        ({"yes_dollars": [["0.4000", "1"]], "no_dollars": []}, "'1'"),
    ],
)
def test_validator_checks_fixed_point_precision(book: Any, bad: str) -> None:
    problem = check_response(
        "GET",
        P + f"/markets/{T}/orderbook",
        "",
        200,
        "application/json",
        _json({"orderbook_fp": book}),
    )
    assert problem is not None and bad in problem


def _candle(end: int, **changed: Any) -> dict[str, Any]:
    prices = {k: "0.4000" for k in ("open_dollars", "low_dollars", "high_dollars", "close_dollars")}
    candle = {
        "end_period_ts": end,
        "yes_bid": prices,
        "yes_ask": dict(prices),
        "price": {},
        "volume_fp": "0.00",
        "open_interest_fp": "0.00",
    }
    return candle | changed


@pytest.mark.parametrize(
    "bad",
    [
        {"yes_ask": {"open_dollars": "0.4000", "low_dollars": "0.4000", "high_dollars": "0.4000"}},
        {"yes_bid": {"open_dollars": "0.4000", "low_dollars": "0.4000", "high_dollars": "0.4000",
                     "close_dollars": 0.4}},
        {"volume_fp": 3},
    ],
)  # fmt: skip
def test_validator_finds_a_bad_value_deep_in_a_long_list_of_referenced_schemas(
    bad: dict[str, Any],
) -> None:
    """The validator writes plain references into its schemas once, rather than look them up for
    every item: a field two references down in the 700th of 1,000 candles is still checked."""
    path = P + f"/series/S/markets/{T}/candlesticks"
    query = "start_ts=0&end_ts=60000&period_interval=1"
    candles = [_candle(60 * (i + 1)) for i in range(1000)]
    good = _json({"ticker": T, "candlesticks": candles})
    assert check_response("GET", path, query, 200, "application/json", good) is None
    candles[699] = _candle(42_000, **bad)
    body = _json({"ticker": T, "candlesticks": candles})
    assert check_response("GET", path, query, 200, "application/json", body) is not None


def test_validator_refuses_a_success_to_a_request_the_spec_refuses() -> None:
    body = _json({"markets": [], "cursor": ""})
    assert check_response("GET", P + "/markets", "limit=5", 200, "application/json", body) is None
    problem = check_response("GET", P + "/markets", "status=live", 200, "application/json", body)
    assert problem is not None and "refuses" in problem


# --- REST request validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (order(count=5), "bad_request"),
        (order(count="5.000"), "invalid_count"),
        (order(count=" 5"), "invalid_count"),
        (order(count="5e0"), "invalid_count"),
        (order(price="0.400000"), "invalid_price"),
        (order(price="0.4"), "invalid_price"),
    ],
    ids=["count-number", "count-3dp", "count-space", "count-exponent", "price-6dp", "price-1dp"],
)
def test_fixed_point_fields_must_be_strings_of_the_spec_precision(
    sim: SimHarness, body: Any, code: str
) -> None:
    sim.create_market(T)
    response = sim.place_order(sim.account, body)
    # a JSON number does not decode into the string field: the wire's flat shape
    assert (flat_code if code == "bad_request" else nested_code)(response) == (400, code)
    assert sim.signed(sim.account, "GET", "/portfolio/orders").json()["orders"] == []


def test_decrease_counts_must_be_strings(sim: SimHarness) -> None:
    sim.create_market(T)
    placed = sim.place_order(sim.account, order()).json()
    path = f"/portfolio/events/orders/{placed['order_id']}/decrease"
    assert sim.signed(sim.account, "POST", path, json={"reduce_by": 2}).status_code == 400
    assert sim.signed(sim.account, "POST", path, json={"reduce_by": "2"}).status_code == 200


def test_a_legacy_body_is_refused_and_unknown_fields_are_ignored(sim: SimHarness) -> None:
    sim.create_market(T)
    legacy = {
        "ticker": T,
        "side": "yes",
        "action": "buy",
        "count": 5,
        "yes_price": 40,
        "type": "limit",
    }
    response = sim.place_order(sim.account, legacy)
    assert response.status_code == 400
    # CreateOrderV2Request does not forbid other properties, and Kalshi's decoder ignores them
    extra = sim.place_order(sim.account, order(action="sell"))
    assert extra.status_code == 201
    mine = sim.signed(sim.account, "GET", f"/portfolio/orders/{extra.json()['order_id']}").json()
    assert mine["order"]["book_side"] == "bid"


def test_an_empty_client_order_id_is_one_not_given(sim: SimHarness) -> None:
    """`client_order_id` and `updated_client_order_id` are `x-go-type-skip-optional-pointer`
    strings: Kalshi's decoder cannot tell "" from a field left out, so "" names no id. Two
    orders sent with "" are two orders, each read back as one sent without an id; an amend
    with "" keeps the order's id."""
    sim.create_market(T)
    me = sim.account
    placed = [sim.place_order(me, order(client_order_id="")) for _ in range(2)]
    assert [p.status_code for p in placed] == [201, 201], placed[1].text
    bare = sim.place_order(me, order())
    for answer in [*placed, bare]:
        assert answer.json()["client_order_id"] == answer.json()["order_id"]
    first = placed[0].json()["order_id"]
    amend = {"ticker": T, "side": "bid", "price": "0.40", "count": "5"}
    amended = sim.signed(
        me, "POST", f"{ORDERS}/{first}/amend", json={**amend, "updated_client_order_id": ""}
    )
    assert amended.status_code == 200, amended.text
    assert amended.json()["client_order_id"] == first
    read = sim.signed(me, "GET", f"/portfolio/orders/{first}").json()["order"]
    assert read["client_order_id"] == first


def test_exchange_index_is_read_only_by_the_operations_that_declare_it(sim: SimHarness) -> None:
    """Kalshi's server binds the query parameters its operation declares and no others. Of the
    order paths, `exchange_index` is declared by GetOrders (a filter), CancelOrderV2 and the
    order group writes; cancel-all ("across every exchange shard"), amend, decrease (their
    shard is in the body), the queue positions, the order group reads and the settlements
    declare none, so there it changes nothing, whatever its value."""
    sim.create_market(T)
    me, other = sim.account, sim.new_account()
    shard = {"exchange_index": "1"}
    group = sim.signed(me, "POST", "/portfolio/order_groups/create", json={"contracts_limit": 9})
    group_id = group.json()["order_group_id"]
    placed = sim.place_order(me, order(order_group_id=group_id)).json()
    path = f"{ORDERS}/{placed['order_id']}"
    sold = order(side="ask", count="1", time_in_force="immediate_or_cancel")
    assert sim.place_order(other, sold).json()["fill_count"] == "1.00"

    def answer(method: str, where: str, **kw: Any) -> Any:
        response = sim.signed(me, method, where, params=shard, **kw)
        assert response.status_code == 200, (where, response.text)
        return response.json()

    assert sim.signed(me, "GET", "/portfolio/orders", params=shard).json()["orders"] == []
    amend = {"ticker": T, "side": "bid", "price": "0.40", "count": "4"}
    assert answer("POST", f"{path}/amend", json=amend)["remaining_count"] == "3.00"
    assert answer("POST", f"{path}/decrease", json={"reduce_by": "1"})["remaining_count"] == "2.00"
    queue = answer("GET", "/portfolio/orders/queue_positions")["queue_positions"]
    assert [q["order_id"] for q in queue] == [placed["order_id"]]
    groups = answer("GET", "/portfolio/order_groups")["order_groups"]
    assert [g["id"] for g in groups] == [group_id]
    assert answer("GET", f"/portfolio/order_groups/{group_id}")["orders"] == [placed["order_id"]]
    for value in ("1", "not a number"):
        cancel_all = sim.signed(me, "DELETE", ORDERS, params={"exchange_index": value})
        assert cancel_all.status_code == 204, cancel_all.text
    mine = sim.signed(me, "GET", f"/portfolio/orders/{placed['order_id']}").json()["order"]
    assert mine["status"] == "canceled"
    sim.settle(T, "yes")
    assert [s["ticker"] for s in answer("GET", "/portfolio/settlements")["settlements"]] == [T]


def test_cancel_of_an_order_that_no_longer_rests_is_a_404(sim: SimHarness) -> None:
    sim.create_market(T)
    placed = sim.place_order(sim.account, order()).json()
    path = f"/portfolio/events/orders/{placed['order_id']}"
    assert sim.signed(sim.account, "DELETE", path).status_code == 200
    again = sim.signed(sim.account, "DELETE", path)
    assert nested_code(again) == (404, "not_found")


@pytest.mark.parametrize(
    "params",
    [
        {"min_close_ts": "1", "min_created_ts": "1"},
        {"min_close_ts": "1", "status": "open"},
        {"min_created_ts": "1", "status": "settled"},
        {"min_updated_ts": "1", "status": "open"},
        {"min_updated_ts": "1", "series_ticker": "KXAUDIT"},
    ],
)
def test_markets_timestamp_filters_follow_the_spec_table(
    sim: SimHarness, params: dict[str, str]
) -> None:
    sim.create_market(T)
    assert sim.signed(sim.account, "GET", "/markets", params=params).status_code == 400


def test_markets_timestamp_filters_that_combine_are_answered(sim: SimHarness) -> None:
    sim.create_market(T)
    for params in (
        {"min_close_ts": "1", "status": "closed"},
        {"min_updated_ts": "1", "series_ticker": "KXAUDIT", "mve_filter": "exclude"},
        {"min_created_ts": "1", "max_created_ts": "9999999999"},
    ):
        assert sim.signed(sim.account, "GET", "/markets", params=params).status_code == 200


def test_query_parameters_outside_the_spec_are_refused(sim: SimHarness) -> None:
    sim.create_market(T)
    me = sim.account
    assert (
        sim.signed(me, "GET", "/markets/trades", params={"is_block_trade": "x"}).status_code == 400
    )
    assert (
        sim.signed(me, "GET", "/portfolio/orders", params={"exchange_index": "-1"}).status_code
        == 400
    )


# --- REST response shapes and limits -----------------------------------------------------------


def test_rest_fills_carry_only_the_fields_fill_declares(sim: SimHarness) -> None:
    sim.create_market(T)
    me, other = sim.account, sim.new_account()
    sim.place_order(me, order(client_order_id="mine-1"))
    taker = order(side="ask", time_in_force="immediate_or_cancel")
    sim.placed(other, taker)
    (fill,) = sim.signed(me, "GET", "/portfolio/fills").json()["fills"]
    assert "client_order_id" not in fill
    assert (fill["outcome_side"], fill["book_side"], fill["exchange_index"]) == ("yes", "bid", 0)


def test_the_basic_write_bucket_holds_one_second(sim: SimHarness) -> None:
    limits = sim.signed(sim.account, "GET", "/account/limits").json()
    assert limits["write"] == {"refill_rate": 100, "bucket_capacity": 100}
    assert limits["read"] == {"refill_rate": 200, "bucket_capacity": 200}
    sim.create_market(T)
    eleven = {"orders": [order(price=f"0.{10 + i}") for i in range(11)]}
    response = sim.signed(sim.account, "POST", "/portfolio/events/orders/batched", json=eleven)
    assert response.status_code == 400


# --- WebSocket against asyncapi.yaml -----------------------------------------------------------


@cache
def _asyncapi() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(ASYNCAPI, encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.load(handle, Loader=loader)
    return data


@cache
def _registry() -> Registry[Any]:
    resource = Resource.from_contents(_asyncapi(), default_specification=DRAFT7)
    registry: Registry[Any] = Registry().with_resource("asyncapi.yaml", resource)
    return registry


def _resolve(schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        node: Any = _asyncapi()
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def ws_problems(message: dict[str, Any]) -> list[str]:
    """Schema violations and undeclared `msg` fields of one server message."""
    kind = message.get("type")
    name = WS_MESSAGES.get(str(kind))
    if kind == "ok":
        name = "listSubscriptionsResponse" if isinstance(message.get("msg"), list) else "okResponse"
    if name is None:
        return [f"unknown message type {kind!r}"]
    ref = {"$ref": f"asyncapi.yaml#/components/messages/{name}/payload"}
    validator = Draft7Validator(ref, registry=_registry(), format_checker=FormatChecker())
    problems = [f"{kind}: {error.message}" for error in validator.iter_errors(message)]
    payload = _resolve(_asyncapi()["components"]["messages"][name]["payload"])
    declared_top = set(payload.get("properties", {}))
    problems += [f"{kind}: undeclared {key}" for key in message if key not in declared_top]
    msg_schema = _resolve(payload.get("properties", {}).get("msg", {}))
    if isinstance(message.get("msg"), dict) and "properties" in msg_schema:
        declared = set(msg_schema["properties"])
        problems += [f"{kind}.msg: undeclared {k}" for k in message["msg"] if k not in declared]
    return problems


def test_ws_messages_of_a_trading_session_conform_to_asyncapi(sim: SimHarness) -> None:
    sim.create_market(T)
    me, other = sim.account, sim.new_account()
    sim.place_order(other, order(price="0.30"))
    ws = Ws(me)
    ws.subscribe(["orderbook_delta"], market_ticker=T)
    seen: list[dict[str, Any]] = [ws.recv()]
    channels = ["ticker", "trade", "fill", "user_orders", "market_positions"]
    ws.subscribe(channels, market_ticker=T)
    (lifecycle_sid,) = ws.subscribe(["market_lifecycle_v2"])
    ws.send("list_subscriptions")
    ws.send("unsubscribe", sids=[999])
    sim.place_order(me, order(client_order_id="c-1"))
    taker = order(side="ask", count="2", time_in_force="immediate_or_cancel")
    sim.place_order(other, taker)
    sim.settle(T, "yes")

    def settled(message: dict[str, Any]) -> bool:
        msg = message.get("msg")
        return isinstance(msg, dict) and msg.get("event_type") == "settled"

    while not seen or not settled(seen[-1]):
        seen.append(ws.recv())
    ws.close()
    kinds = {m["type"] for m in seen}
    assert {"orderbook_snapshot", "orderbook_delta", "trade", "fill", "user_order"} <= kinds
    assert {"market_position", "market_lifecycle_v2", "ok", "error", "ticker"} <= kinds
    problems = [p for m in seen for p in ws_problems(m)]
    assert problems == []

    lifecycle = [m["msg"] for m in seen if m.get("sid") == lifecycle_sid]
    by_type = {m["event_type"]: m for m in lifecycle}
    determined, settled_msg = by_type["determined"], by_type["settled"]
    assert determined["result"] == "yes"
    assert determined["settlement_value"] == "1.0000"
    assert isinstance(determined["determination_ts"], int)
    assert "exchange_index" not in determined  # "ONLY exist[s] when the market is created"
    assert set(settled_msg) == {"event_type", "market_ticker", "settled_ts"}


def test_ws_lifecycle_created_and_pause_messages_carry_their_keys(sim: SimHarness) -> None:
    ws = Ws(sim.account)
    ws.subscribe(["market_lifecycle_v2"])
    sim.create_market(T)
    sim.set_status(T, "paused")
    sim.set_status(T, "open")
    messages = [ws.recv() for _ in range(4)]
    ws.close()
    assert [p for m in messages for p in ws_problems(m)] == []
    event, created, paused, resumed = (m["msg"] for m in messages)
    assert event["event_ticker"] == T.rsplit("-", 1)[0]
    assert created["event_type"] == "created"
    assert created["exchange_index"] == 0
    assert created["price_level_structure"] == "linear_cent"
    assert {"open_ts", "close_ts", "price_ranges"} <= set(created)
    assert (paused["event_type"], paused["is_deactivated"]) == ("deactivated", True)
    assert (resumed["event_type"], resumed["is_deactivated"]) == ("activated", False)
