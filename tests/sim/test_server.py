"""The simulator's REST API over loopback: trading flows, bad input, auth, limits, paging.

Every response these tests receive is also checked against openapi.yaml by the autouse fixture
in conftest.py.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.keys import (
    generate_private_key,
    key_type,
    load_private_key,
    signed_headers,
)
from tests.conftest import SimHarness
from tests.openapi_check import check_response
from tests.wire import flat_code, nested_code, order_body

T = "KXSIM-26JAN01-A"


order = partial(order_body, T)


def test_an_ordinary_trading_session(sim: SimHarness) -> None:
    sim.create_market(T)
    me, other = sim.account, sim.new_account()
    markets = sim.signed(me, "GET", "/markets", params={"status": "open"}).json()["markets"]
    assert [m["ticker"] for m in markets] == [T]
    assert markets[0]["status"] == "active"

    placed = sim.place_order(me, order(count="10"))
    assert placed.status_code == 201
    order_id = placed.json()["order_id"]
    assert placed.json()["remaining_count"] == "10.00"

    book = sim.signed(me, "GET", f"/markets/{T}/orderbook").json()["orderbook_fp"]
    assert book == {"yes_dollars": [["0.4000", "10.00"]], "no_dollars": []}

    amended = sim.signed(
        me,
        "POST",
        f"/portfolio/events/orders/{order_id}/amend",
        json={"ticker": T, "side": "bid", "price": "0.45", "count": "8"},
    )
    assert amended.status_code == 200, amended.text
    order_id = amended.json()["order_id"]

    # the counterparty sells YES into the bid: a fill for both
    hit = sim.place_order(other, order("ask", "0.45", "3", time_in_force="immediate_or_cancel"))
    assert hit.json()["fill_count"] == "3.00"
    assert hit.json()["average_fill_price"] == "0.4500"

    mine = sim.signed(me, "GET", f"/portfolio/orders/{order_id}").json()["order"]
    assert (mine["status"], mine["fill_count_fp"], mine["remaining_count_fp"]) == (
        "resting",
        "3.00",
        "5.00",
    )
    positions = sim.signed(me, "GET", "/portfolio/positions").json()["market_positions"]
    assert [(p["ticker"], p["position_fp"]) for p in positions] == [(T, "3.00")]
    fills = sim.signed(me, "GET", "/portfolio/fills").json()["fills"]
    assert [(f["count_fp"], f["yes_price_dollars"], f["is_taker"]) for f in fills] == [
        ("3.00", "0.4500", False)
    ]
    theirs = sim.signed(other, "GET", "/portfolio/positions").json()["market_positions"]
    assert theirs[0]["position_fp"] == "-3.00"

    canceled = sim.signed(me, "DELETE", f"/portfolio/events/orders/{order_id}")
    assert canceled.json()["reduced_by"] == "5.00"
    balance = sim.signed(me, "GET", "/portfolio/balance").json()
    # $1,000.00 less 3 x $0.45 paid as the maker (no maker fee by default)
    assert balance["balance"] == 100_000 - 135
    assert balance["balance_dollars"] == "998.6500"


def test_cancel_all_batches_and_decrease(sim: SimHarness) -> None:
    sim.create_market(T)
    me = sim.account
    batch = sim.signed(
        me,
        "POST",
        "/portfolio/events/orders/batched",
        json={"orders": [order(price="0.30"), order(price="0.31"), order(price="0.305")]},
    )
    assert batch.status_code == 201
    items = batch.json()["orders"]
    assert [("error" in i) for i in items] == [False, False, True]
    assert items[2]["error"]["code"] == "invalid_price"
    first, second = items[0]["order_id"], items[1]["order_id"]

    decreased = sim.signed(
        me, "POST", f"/portfolio/events/orders/{first}/decrease", json={"reduce_to": "2"}
    )
    assert decreased.json()["remaining_count"] == "2.00"

    cancel = sim.signed(
        me,
        "DELETE",
        "/portfolio/events/orders/batched",
        json={"orders": [{"order_id": first}, {"order_id": "nope"}]},
    )
    assert cancel.status_code == 200
    assert [i["reduced_by"] for i in cancel.json()["orders"]] == ["2.00", "0.00"]
    assert cancel.json()["orders"][1]["error"]["code"] == "not_found"

    assert sim.signed(me, "DELETE", "/portfolio/events/orders").status_code == 204
    resting = sim.signed(me, "GET", "/portfolio/orders", params={"status": "resting"}).json()[
        "orders"
    ]
    assert resting == []
    assert (
        sim.signed(me, "GET", f"/portfolio/orders/{second}").json()["order"]["status"] == "canceled"
    )


def test_a_batch_larger_than_the_tier_allows_is_refused(sim: SimHarness) -> None:
    sim.create_market(T)
    too_many = {"orders": [order() for _ in range(21)]}  # basic: 200 write tokens / 10 per item
    response = sim.signed(sim.account, "POST", "/portfolio/events/orders/batched", json=too_many)
    assert response.status_code == 400
    assert sim.signed(sim.account, "GET", "/portfolio/orders").json()["orders"] == []


ORDERS = "/portfolio/events/orders"


def holding_four_yes(sim: SimHarness) -> tuple[Any, Any]:
    """Our account holding 4 YES, bid for 10 at 0.45 by another account."""
    sim.create_market(T)
    me, other = sim.account, sim.new_account()
    sim.place_order(other, order("ask", "0.50", "4"))
    bought = sim.place_order(me, order("bid", "0.50", "4", time_in_force="immediate_or_cancel"))
    assert bought.json()["fill_count"] == "4.00"
    sim.place_order(other, order("bid", "0.45", "10"))
    return me, other


def exit_order(count: str) -> dict[str, Any]:
    return order("ask", "0.45", count, time_in_force="immediate_or_cancel", reduce_only=True)


def test_a_reduce_only_exit_for_more_than_is_held_sells_what_is_held(sim: SimHarness) -> None:
    """API 3.31.0 (CreateOrderV2Request.reduce_only): the "place count should be capped by the
    member's current position". The create answers what filled and nothing remaining (for an
    IOC order "the final state after unfilled contracts are canceled"); the order reads
    canceled, 4 of its 10 filled."""
    me, _ = holding_four_yes(sim)
    placed = sim.place_order(me, exit_order("10"))
    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert (body["fill_count"], body["remaining_count"], body["average_fill_price"]) == (
        "4.00",
        "0.00",
        "0.4500",
    )
    mine = sim.signed(me, "GET", f"/portfolio/orders/{body['order_id']}").json()["order"]
    assert (
        mine["status"],
        mine["initial_count_fp"],
        mine["fill_count_fp"],
        mine["remaining_count_fp"],
    ) == ("canceled", "10.00", "4.00", "0.00")
    positions = sim.signed(me, "GET", "/portfolio/positions").json()["market_positions"]
    assert {p["ticker"]: p["position_fp"] for p in positions}.get(T, "0.00") == "0.00"
    # nothing is left to reduce: the next exit is refused (docs/simulator.md)
    again = sim.place_order(me, exit_order("1"))
    assert nested_code(again) == (400, "invalid_reduce_only")


def test_batched_reduce_only_exits_are_each_capped_by_the_position_they_meet(
    sim: SimHarness,
) -> None:
    """The items of a batch are placed in turn: each exit is capped by what the ones before it
    left held, and one that finds nothing held is that item's error."""
    me, _ = holding_four_yes(sim)
    batch = sim.signed(
        me,
        "POST",
        f"{ORDERS}/batched",
        json={"orders": [exit_order("3"), exit_order("3"), exit_order("3")]},
    )
    assert batch.status_code == 201, batch.text
    items = batch.json()["orders"]
    assert [(i.get("fill_count"), i.get("remaining_count")) for i in items[:2]] == [
        ("3.00", "0.00"),
        ("1.00", "0.00"),
    ]
    assert items[2]["error"]["code"] == "invalid_reduce_only"
    positions = sim.signed(me, "GET", "/portfolio/positions").json()["market_positions"]
    assert {p["ticker"]: p["position_fp"] for p in positions}.get(T, "0.00") == "0.00"


# a body that does not decode is answered flat, every other refusal nested (as on the wire)
UNDECODABLE: list[tuple[str, Any]] = [
    ("malformed json", b"{not json"),
    ("not an object", [1, 2]),
    ("count as a list", order(count=[5])),
    ("price as a float", order(price=0.4)),
]
BAD_ORDERS: list[tuple[str, Any, int, str]] = [
    *((what, body, 400, "bad_request") for what, body in UNDECODABLE),
    (
        "missing price",
        {k: v for k, v in order().items() if k != "price"},
        400,
        "missing_parameters",
    ),
    ("unknown side", order(side="buy"), 400, "invalid_parameters"),
    ("unknown ticker", order(ticker="NOPE"), 400, "market_not_found"),
    ("off the tick grid", order(price="0.405"), 400, "invalid_price"),
    ("above the range", order(price="1.00"), 400, "invalid_price"),
    ("below the range", order(price="0"), 400, "invalid_price"),
    ("zero count", order(count="0"), 400, "invalid_count"),
    ("negative count", order(count="-3"), 400, "invalid_count"),
    ("fractional count", order(count="1.5"), 400, "invalid_count"),
    ("bad time in force", order(time_in_force="gtt"), 400, "invalid_parameters"),
    (
        "expiry with ioc",
        order(time_in_force="immediate_or_cancel", expiration_time=2_000_000_000),
        400,
        "invalid_parameters",
    ),
    ("insufficient balance", order(price="0.99", count="1100"), 400, "insufficient_balance"),
]


@pytest.mark.parametrize(
    ("body", "status", "code"), [b[1:] for b in BAD_ORDERS], ids=[b[0] for b in BAD_ORDERS]
)
def test_bad_orders_are_refused_without_a_change(
    sim: SimHarness, body: Any, status: int, code: str
) -> None:
    sim.create_market(T)
    me = sim.account
    path = "/portfolio/events/orders"
    if isinstance(body, bytes):
        request = sim.http.build_request("POST", me.api_base + path, content=body)
        request.headers.update(
            signed_headers(_key(sim), me.key_id, "POST", request.url.path, int(time.time() * 1000))
        )
        response = sim.http.send(request)
    else:
        response = sim.signed(me, "POST", path, json=body)
    undecodable = any(body is b for _, b in UNDECODABLE)
    assert (flat_code if undecodable else nested_code)(response) == (status, code)
    assert sim.signed(me, "GET", "/portfolio/orders").json()["orders"] == []
    assert sim.signed(me, "GET", "/portfolio/balance").json()["balance"] == 100_000


def _key(sim: SimHarness) -> Any:
    from kalshi_cli.vocabulary.keys import load_private_key

    return load_private_key(path=sim.account.private_key_path)[0]


def test_orders_on_a_closed_or_paused_market_are_refused(sim: SimHarness) -> None:
    sim.create_market(T)
    sim.set_status(T, "closed")
    closed = sim.place_order(sim.account, order())
    assert nested_code(closed) == (409, "market_closed")
    sim.set_status(T, "paused")
    paused = sim.place_order(sim.account, order())
    assert nested_code(paused) == (409, "trading_paused")
    market = sim.signed(sim.account, "GET", f"/markets/{T}").json()["market"]
    assert market["status"] == "inactive"


def test_authentication(sim: SimHarness) -> None:
    me = sim.account
    url = me.api_base + "/portfolio/balance"
    now_ms = int(time.time() * 1000)
    path = "/trade-api/v2/portfolio/balance"
    assert httpx.get(url).status_code == 401
    key = _key(sim)
    cases = {
        "wrong key": (
            signed_headers(generate_private_key(), me.key_id, "GET", path, now_ms),
            "authentication_error",
        ),
        "stale": (
            signed_headers(key, me.key_id, "GET", path, now_ms - 120_000),
            "header_timestamp_expired",
        ),
        "unknown key id": (
            signed_headers(key, "no-such-key", "GET", path, now_ms),
            "authentication_error",
        ),
        "other path signed": (
            signed_headers(key, me.key_id, "GET", "/trade-api/v2/markets", now_ms),
            "authentication_error",
        ),
    }
    for what, (headers, code) in cases.items():
        assert nested_code(httpx.get(url, headers=headers)) == (401, code), what
    good = signed_headers(key, me.key_id, "GET", path, now_ms)
    assert (
        httpx.get(url, headers=good, params={"subaccount": 0}).status_code == 200
    )  # query unsigned


def test_the_signature_covers_the_path_as_received_not_as_decoded(sim: SimHarness) -> None:
    """Kalshi verifies the signature against the request path as received, without the query
    (REFERENCE.md section 2: the SDK signs `urlparse(url).path` of the URL it sends): a request
    to an escaped path signed over its decoded form is refused, signed over the raw one it
    reaches the endpoint."""
    me = sim.account
    key = _key(sim)
    for raw, decoded in (
        ("/trade-api/v2/markets/A%25B", "/trade-api/v2/markets/A%B"),
        (
            "/trade-api/v2/portfolio/orders/id%20with%20space",
            "/trade-api/v2/portfolio/orders/id with space",
        ),
        ("/trade-api/v2/markets/%C3%A9", "/trade-api/v2/markets/\u00e9"),
    ):
        url = sim.base_url + raw
        now_ms = int(time.time() * 1000)
        wrong = httpx.get(url, headers=signed_headers(key, me.key_id, "GET", decoded, now_ms))
        assert nested_code(wrong) == (401, "authentication_error"), raw
        right = httpx.get(
            url, params={"x": "1"}, headers=signed_headers(key, me.key_id, "GET", raw, now_ms)
        )
        assert nested_code(right) == (404, "not_found"), raw


def test_ed25519_accounts_sign_with_ed25519_and_a_key_of_the_other_type_is_refused(
    sim: SimHarness,
) -> None:
    """API 3.31.0: a key is RSA or Ed25519 and requests are signed with its own algorithm. The
    admin API creates either kind; a signature by a key of the other type is a bad signature."""
    sim.create_market(T)
    ed = sim.new_account(balance_cents=5_000, key_type="ed25519")
    rsa_account = sim.new_account(balance_cents=5_000)
    assert (ed.key_type, rsa_account.key_type) == ("ed25519", "rsa")
    ed_key, _ = load_private_key(path=ed.private_key_path)
    rsa_key, _ = load_private_key(path=rsa_account.private_key_path)
    assert (key_type(ed_key), key_type(rsa_key)) == ("ed25519", "rsa")
    assert Path(ed.private_key_path).read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (
        Path(rsa_account.private_key_path).read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    )

    balance = sim.signed(ed, "GET", "/portfolio/balance")
    assert balance.status_code == 200 and balance.json()["balance"] == 5_000
    sim.placed(ed, order(count="2"))

    path = "/trade-api/v2/portfolio/balance"
    now_ms = int(time.time() * 1000)
    url = sim.account.api_base + "/portfolio/balance"
    wrong_rsa = httpx.get(
        url, headers=signed_headers(generate_private_key(), rsa_account.key_id, "GET", path, now_ms)
    )
    assert wrong_rsa.status_code == 401
    for account, key in ((rsa_account, ed_key), (ed, rsa_key)):
        headers = signed_headers(key, account.key_id, "GET", path, now_ms)
        refused = httpx.get(url, headers=headers)
        assert refused.status_code == 401
        assert refused.json() == wrong_rsa.json()  # the answer to any bad signature
    assert sim.signed(ed, "GET", "/portfolio/balance").status_code == 200

    bad = sim.http.post(sim.admin_url + "/accounts", json={"key_type": "dsa"})
    assert bad.status_code == 400


def test_public_market_data_and_the_book_need_no_auth_the_portfolio_does(sim: SimHarness) -> None:
    sim.create_market(T)
    base = sim.account.api_base
    for path in (
        "/markets",
        f"/markets/{T}",
        "/events",
        "/series",
        "/exchange/status",
        "/markets/trades",
        # API 3.31.0 dropped `security` from the orderbook: it is public like the rest
        f"/markets/{T}/orderbook",
    ):
        assert httpx.get(base + path).status_code == 200, path
    assert httpx.get(base + "/portfolio/balance").status_code == 401


def test_an_event_lists_its_own_markets_and_no_other(sim: SimHarness) -> None:
    """GET /events/{event_ticker} and GET /events with nested markets: each event's markets,
    in the order they were listed, beside another event of the same series."""
    first, second = "KXTWO-26JAN01", "KXTWO-26JAN02"
    for ticker in (f"{first}-B", f"{second}-A", f"{first}-A"):
        sim.create_market(ticker)
    one = sim.signed(sim.account, "GET", f"/events/{first}").json()
    assert [m["ticker"] for m in one["markets"]] == [f"{first}-B", f"{first}-A"]
    listed = sim.signed(
        sim.account,
        "GET",
        "/events",
        params={"series_ticker": "KXTWO", "with_nested_markets": True},
    ).json()["events"]
    assert {e["event_ticker"]: [m["ticker"] for m in e["markets"]] for e in listed} == {
        first: [f"{first}-B", f"{first}-A"],
        second: [f"{second}-A"],
    }


def test_reads_are_rate_limited_by_tier(manual_sim: SimHarness, manual_clock: ManualClock) -> None:
    sim = manual_sim
    other = sim.new_account()

    def read() -> int:
        return sim.signed(other, "GET", "/portfolio/balance").status_code

    # basic: 200 read tokens, 10 per request, refilling at 200/s. The clock stands still, so the
    # bucket's arithmetic is exact however slowly this machine answers: 20 reads, then 429.
    codes = [read() for _ in range(21)]
    assert codes == [200] * 20 + [429]
    refused = sim.signed(other, "GET", "/portfolio/balance")
    assert refused.status_code == 429  # a refusal takes nothing, and nothing has refilled
    assert refused.json()["code"] == "too_many_requests"
    manual_clock.advance(1 / 32)  # 6.25 tokens: short of one read
    assert read() == 429
    manual_clock.advance(1 / 32)  # 12.5 tokens: one read, and 2.5 left are short of another
    assert [read(), read()] == [200, 429]
    manual_clock.advance(60)  # the bucket holds one second of budget, however long it rests
    assert [read() for _ in range(21)] == [200] * 20 + [429]
    limits = sim.signed(sim.account, "GET", "/account/limits").json()
    assert limits["usage_tier"] == "basic"
    assert limits["read"] == {"refill_rate": 200, "bucket_capacity": 200}
    assert sim.stats()["accounts"][other.key_id]["rate_limited"] == 5
    # buckets are per account: the other account's reads spent none of the default's
    assert sim.signed(sim.account, "GET", "/portfolio/balance").status_code == 200


def test_markets_paginate_with_a_cursor(sim: SimHarness) -> None:
    tickers = [f"KXPAGE-26-M{i}" for i in range(5)]
    for t in tickers:
        sim.create_market(t)
    seen: list[str] = []
    cursor = ""
    while True:
        page = httpx.get(
            sim.account.api_base + "/markets", params={"limit": 2, "cursor": cursor}
        ).json()
        seen += [m["ticker"] for m in page["markets"]]
        cursor = page["cursor"]
        if not cursor:
            break
    assert seen == tickers
    bad = httpx.get(sim.account.api_base + "/markets", params={"limit": 5000})
    assert bad.status_code == 400


def test_a_page_goes_on_after_its_cursor_when_the_cursors_record_left_the_filter(
    sim: SimHarness,
) -> None:
    """openapi.yaml: a response's `cursor`, passed back, gets "the next page". An order listed
    as resting that fills before the next page is asked for, a position that closes, or a
    market that closes, still marks where the next page starts: the listing goes on after it,
    rather than starting again and listing the first page's other records twice (a cursor that
    names nothing is answered as if absent: test_wire_errors.py)."""
    sim.create_market(T)
    other = sim.new_account()
    placed = {}
    for price in ("0.30", "0.50", "0.40"):  # newest first: 0.40, 0.50, 0.30
        answer = sim.place_order(sim.account, order(price=price))
        placed[price] = answer.json()["order_id"]
    resting = {"status": "resting", "limit": 2}
    first = sim.signed(sim.account, "GET", "/portfolio/orders", params=resting).json()
    assert [o["order_id"] for o in first["orders"]] == [placed["0.40"], placed["0.50"]]
    sell = order(side="ask", price="0.50", time_in_force="immediate_or_cancel")
    sim.placed(other, sell)
    params = {**resting, "cursor": first["cursor"]}
    second = sim.signed(sim.account, "GET", "/portfolio/orders", params=params).json()
    assert [o["order_id"] for o in second["orders"]] == [placed["0.30"]]

    tickers = ["KXPAGE-28-A", "KXPAGE-28-B", "KXPAGE-28-C"]
    for ticker in tickers:
        sim.create_market(ticker)
        rest = {**order(side="ask", count="1"), "ticker": ticker}
        sim.placed(other, rest)
        take = {**order(count="1", time_in_force="immediate_or_cancel"), "ticker": ticker}
        sim.placed(sim.account, take)
    held = {"count_filter": "position", "limit": 2, "event_ticker": "KXPAGE-28"}
    first = sim.signed(sim.account, "GET", "/portfolio/positions", params=held).json()
    assert [p["ticker"] for p in first["market_positions"]] == tickers[:2]
    bid = {**order(count="1"), "ticker": tickers[1]}
    sim.placed(other, bid)
    close = {
        **order(side="ask", count="1", time_in_force="immediate_or_cancel"),
        "ticker": tickers[1],
    }
    sim.placed(sim.account, close)
    params = {**held, "cursor": first["cursor"]}
    second = sim.signed(sim.account, "GET", "/portfolio/positions", params=params).json()
    assert [p["ticker"] for p in second["market_positions"]] == tickers[2:]

    trading: dict[str, Any] = {"status": "open", "limit": 2, "event_ticker": "KXPAGE-28"}
    first = httpx.get(sim.account.api_base + "/markets", params=trading).json()
    assert [m["ticker"] for m in first["markets"]] == tickers[:2]
    sim.set_status(tickers[1], "closed")
    params = {**trading, "cursor": first["cursor"]}
    second = httpx.get(sim.account.api_base + "/markets", params=params).json()
    assert [m["ticker"] for m in second["markets"]] == tickers[2:]


def test_each_event_position_is_whole_and_listed_once_across_pages(sim: SimHarness) -> None:
    """`EventPosition` is "the aggregate event position": an event whose markets fall on two
    pages of `/portfolio/positions` is listed once, on the page of its first market, with every
    market of it counted, as a single page lists it."""
    maker = sim.new_account()
    for ticker in ("KXPAGE-26-A1", "KXPAGE-26-A2", "KXPAGE-27-B1"):
        sim.create_market(ticker)
        rest = {**order(side="ask", price="0.40", count="2"), "ticker": ticker}
        sim.placed(maker, rest)
        take = {**order(count="2", time_in_force="immediate_or_cancel"), "ticker": ticker}
        sim.placed(sim.account, take)

    def listed(limit: int) -> list[list[dict[str, Any]]]:
        pages, cursor = [], ""
        while True:
            params = {"limit": limit, "cursor": cursor}
            page = sim.signed(sim.account, "GET", "/portfolio/positions", params=params).json()
            pages.append(page["event_positions"])
            cursor = page["cursor"]
            if not cursor:
                return pages

    (whole,) = listed(100)
    assert [(e["event_ticker"], e["total_cost_dollars"]) for e in whole] == [
        ("KXPAGE-26", "1.600000"),
        ("KXPAGE-27", "0.800000"),
    ]
    assert listed(1) == [[whole[0]], [], [whole[1]]]


def test_orderbook_levels_ascend_and_depth_keeps_the_best(sim: SimHarness) -> None:
    sim.create_market(T)
    for price in ("0.30", "0.35", "0.32"):
        sim.place_order(sim.account, order(price=price, count="1"))
    sim.place_order(sim.account, order("ask", "0.60", "2"))
    full = sim.signed(sim.account, "GET", f"/markets/{T}/orderbook").json()["orderbook_fp"]
    assert [p for p, _ in full["yes_dollars"]] == ["0.3000", "0.3200", "0.3500"]
    assert full["no_dollars"] == [["0.4000", "2.00"]]
    top = sim.signed(sim.account, "GET", f"/markets/{T}/orderbook", params={"depth": 2}).json()
    assert [p for p, _ in top["orderbook_fp"]["yes_dollars"]] == ["0.3200", "0.3500"]
    market = httpx.get(f"{sim.account.api_base}/markets/{T}").json()["market"]
    assert (market["yes_bid_dollars"], market["yes_ask_dollars"]) == ("0.3500", "0.6000")


def test_unknown_things_get_kalshi_errors(sim: SimHarness) -> None:
    base = sim.account.api_base
    missing = httpx.get(base + "/markets/NOPE")
    assert nested_code(missing) == (404, "not_found")
    assert httpx.get(base + "/no/such/path").status_code == 404
    assert httpx.put(base + "/markets").status_code == 405
    gone = sim.signed(sim.account, "DELETE", "/portfolio/events/orders/nope")
    assert nested_code(gone) == (404, "not_found")


def test_candlesticks_come_from_trades(sim: SimHarness) -> None:
    sim.create_market(T)
    other = sim.new_account()
    sim.place_order(sim.account, order(price="0.40", count="4"))
    sim.place_order(other, order("ask", "0.40", "3"))
    now = int(time.time())
    candles = httpx.get(
        f"{sim.account.api_base}/series/KXSIM/markets/{T}/candlesticks",
        params={"start_ts": now - 600, "end_ts": now + 600, "period_interval": 1},
    ).json()["candlesticks"]
    # one minute, or two when the market was made in the minute before the trade's
    assert [c["volume_fp"] for c in candles] in (["3.00"], ["0.00", "3.00"])
    assert candles[-1]["price"]["close_dollars"] == "0.4000"


def test_the_spec_check_catches_a_response_off_the_spec() -> None:
    bad = b'{"market": {"ticker": "X"}}'
    assert check_response("GET", "/trade-api/v2/markets/X", "", 200, "application/json", bad)
    good_error = b'{"code": "not_found", "message": "market X not found"}'
    assert (
        check_response("GET", "/trade-api/v2/markets/X", "", 404, "application/json", good_error)
        is None
    )
    # the wire's nested shape is accepted on a 4xx (REFERENCE.md: the wire wins), not elsewhere
    wrapped = b'{"error": {"code": "not_found", "message": "x"}}'
    assert (
        check_response("GET", "/trade-api/v2/markets/X", "", 404, "application/json", wrapped)
        is None
    )
    assert check_response("GET", "/trade-api/v2/markets/X", "", 500, "application/json", wrapped)
    extra = b'{"error": {"code": "not_found", "message": "x", "ticker": "X"}}'
    assert check_response("GET", "/trade-api/v2/markets/X", "", 404, "application/json", extra)
    bare = b'{"msg": "Parameter validation failed for GetMarkets: bad"}'
    assert check_response("GET", "/trade-api/v2/markets", "", 400, "application/json", bare) is None
    assert check_response("GET", "/trade-api/v2/markets", "", 404, "application/json", bare)
    assert check_response(
        "GET", "/trade-api/v2/markets", "", 400, "application/json", b'{"msg": "anything"}'
    )


def test_the_observed_fee_and_balance_shapes_over_the_wire(sim: SimHarness) -> None:
    # REFERENCE.md "Observed on the real wire": a taker fill of 1 contract at $0.52 reports
    # fee_cost "0.017500"; the balance is integer cents (truncated) beside balance_dollars
    sim.create_market(T)
    me, other = sim.account, sim.new_account()
    rest = sim.place_order(other, order("ask", "0.52", "1"))
    assert rest.status_code == 201
    take = sim.place_order(me, order("bid", "0.52", "1", time_in_force="immediate_or_cancel"))
    assert take.json()["fill_count"] == "1.00"
    [fill] = sim.signed(me, "GET", "/portfolio/fills").json()["fills"]
    assert (fill["is_taker"], fill["fee_cost"]) == (True, "0.017500")
    [maker_fill] = sim.signed(other, "GET", "/portfolio/fills").json()["fills"]
    assert maker_fill["fee_cost"] == "0.000000"  # quadratic: no maker fee
    balance = sim.signed(me, "GET", "/portfolio/balance").json()
    # $1,000.00 - 0.52 - 0.0175 = 999.4625: the cents truncate, the dollars keep it all
    assert balance["balance"] == 99_946
    assert balance["balance_dollars"] == "999.4625"
    position = sim.signed(me, "GET", "/portfolio/positions").json()["market_positions"][0]
    # amounts of money (fees, costs, P&L, totals) carry six places on the wire, as a fill's
    # fee_cost does; prices four
    amounts = ("fees_paid_dollars", "total_traded_dollars", "realized_pnl_dollars")
    assert [position[k] for k in amounts] == ["0.017500", "0.520000", "0.000000"]
    assert position["market_exposure_dollars"] == "0.520000"
    [placed] = sim.signed(me, "GET", "/portfolio/orders").json()["orders"]
    costs = ("taker_fees_dollars", "maker_fees_dollars", "taker_fill_cost_dollars")
    assert [placed[k] for k in (*costs, "maker_fill_cost_dollars")] == [
        "0.017500", "0.000000", "0.520000", "0.000000",
    ]  # fmt: skip
    assert placed["yes_price_dollars"] == "0.5200"


def test_series_report_their_fee_type_and_multiplier(sim: SimHarness) -> None:
    sim.create_market(T, fee_type="quadratic_with_maker_fees", fee_multiplier="0.5")
    series = sim.signed(sim.account, "GET", "/series/KXSIM").json()["series"]
    assert (series["fee_type"], series["fee_multiplier"]) == ("quadratic_with_maker_fees", 0.5)
    refused = sim.http.post(
        sim.admin_url + "/markets",
        json={
            "ticker": "KXFLAT-1-A",
            "event_ticker": "KXFLAT-1",
            "series_ticker": "KXFLAT",
            "title": "flat",
            "fee_type": "flat",
        },
    )
    assert refused.status_code == 400
    assert "flat" in refused.text


def test_a_new_series_given_a_fee_type_without_its_multiplier_is_refused(sim: SimHarness) -> None:
    half = sim.http.post(
        sim.admin_url + "/markets",
        json={
            "ticker": "KXHALF-1-A",
            "event_ticker": "KXHALF-1",
            "series_ticker": "KXHALF",
            "title": "half",
            "fee_type": "quadratic_with_maker_fees",
        },
    )
    assert half.status_code == 400
    assert "no fee_multiplier" in half.text
    assert sim.signed(sim.account, "GET", "/series/KXHALF").status_code == 404


def test_scheduled_fee_changes_are_listed_and_charged_from_their_time_on(sim: SimHarness) -> None:
    # two series: one whose change took effect a minute ago, one whose change is an hour away
    sim.create_market("KXPAST-1-A")
    sim.create_market("KXSOON-1-A")
    now = int(time.time())
    past = sim.http.post(
        sim.admin_url + "/series/KXPAST/fee_changes",
        json={
            "fee_type": "quadratic_with_maker_fees",
            "fee_multiplier": 2,
            "scheduled_ts": now - 60,
        },
    )
    assert past.status_code == 201
    soon = sim.http.post(
        sim.admin_url + "/series/KXSOON/fee_changes",
        json={"fee_type": "quadratic", "fee_multiplier": "0.5", "scheduled_ts": now + 3600},
    ).json()
    assert set(soon) == {"id", "series_ticker", "fee_type", "fee_multiplier", "scheduled_ts"}
    assert (soon["series_ticker"], soon["fee_type"], soon["fee_multiplier"]) == (
        "KXSOON",
        "quadratic",
        0.5,
    )
    assert soon["scheduled_ts"].endswith("Z")
    unknown = sim.http.post(
        sim.admin_url + "/series/KXNONE/fee_changes",
        json={"fee_type": "quadratic", "fee_multiplier": 1, "scheduled_ts": now},
    )
    assert unknown.status_code == 404
    # public: no key needed; by default only the changes still to come
    listed = sim.http.get(sim.account.api_base + "/series/fee_changes").json()[
        "series_fee_change_arr"
    ]
    assert listed == [soon]
    everything = sim.http.get(
        sim.account.api_base + "/series/fee_changes", params={"show_historical": "true"}
    ).json()["series_fee_change_arr"]
    assert [c["series_ticker"] for c in everything] == ["KXPAST", "KXSOON"]
    one = sim.http.get(
        sim.account.api_base + "/series/fee_changes",
        params={"series_ticker": "KXPAST", "show_historical": "true"},
    ).json()["series_fee_change_arr"]
    assert one == [past.json()]
    series = sim.signed(sim.account, "GET", "/series/KXPAST").json()["series"]
    assert (series["fee_type"], series["fee_multiplier"]) == ("quadratic_with_maker_fees", 2)
    # the fills: the new fees where the change is in effect, the old where it is still to come
    me, other = sim.account, sim.new_account()
    for ticker in ("KXPAST-1-A", "KXSOON-1-A"):
        rest = order("ask", "0.50", "10", ticker=ticker)
        sim.placed(other, rest)
        take = order("bid", "0.50", "10", ticker=ticker, time_in_force="immediate_or_cancel")
        sim.placed(me, take)
    fees = {
        f["ticker"]: f["fee_cost"]
        for f in sim.signed(me, "GET", "/portfolio/fills").json()["fills"]
    }
    assert fees == {"KXPAST-1-A": "0.350000", "KXSOON-1-A": "0.175000"}
    maker = {
        f["ticker"]: f["fee_cost"]
        for f in sim.signed(other, "GET", "/portfolio/fills").json()["fills"]
    }
    assert maker == {"KXPAST-1-A": "0.087500", "KXSOON-1-A": "0.000000"}


def test_a_market_fee_waiver_is_shown_and_honoured(sim: SimHarness) -> None:
    until = int(time.time()) + 3600
    market = sim.create_market(T, fee_waiver_expiration_time=until)
    assert market["fee_waiver_expiration_time"].endswith("Z")
    me, other = sim.account, sim.new_account()
    sim.place_order(other, order("ask", "0.52", "1"))
    sim.place_order(me, order("bid", "0.52", "1", time_in_force="immediate_or_cancel"))
    [fill] = sim.signed(me, "GET", "/portfolio/fills").json()["fills"]
    assert fill["fee_cost"] == "0.000000"
