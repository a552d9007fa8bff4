"""Exchange shards over the simulator's REST API: `exchange_index` on markets, events, orders,
fills and positions; the balance per shard (`balance_breakdown`, the `exchange_index` filter);
order writes routed by `exchange_index` or auto-routed by the market ticker, an order id alone
going to shard 0; listings filtered by shard or covering all; intra-exchange transfers pending
then complete, findable after a lost answer; each shard's status, paused alone by the admin API.
Every answer is also checked against openapi.yaml by the autouse fixture in conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.sim.server.announce import AccountInfo
from tests.conftest import SimHarness, _start
from tests.waiting import wait_until
from tests.wire import flat_code, nested_code

ON_0, ON_2 = "KXZERO-26JAN01-A", "KXBTC-26JAN01-A"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimHarness]:
    harness = _start(tmp_path / "sim", "empty")
    harness.create_market(ON_0)
    harness.create_market(ON_2, exchange_index=2)
    yield harness
    harness.close()


def order(ticker: str, price: str = "0.40", count: str = "5", **extra: Any) -> dict[str, Any]:
    return {
        "ticker": ticker,
        "side": "bid",
        "price": price,
        "count": count,
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
        **extra,
    }


def move(sim: SimHarness, me: AccountInfo, cents: int, to: int = 2, **more: Any) -> str:
    body = {
        "source": "event_contract",
        "destination": "event_contract",
        "amount": cents * 100,  # centi-cents
        "source_exchange_shard": 0,
        "destination_exchange_shard": to,
        **more,
    }
    made = sim.signed(me, "POST", "/portfolio/intra_exchange_instance_transfer", json=body)
    assert made.status_code == 200, made.text
    transfer_id: str = made.json()["transfer_id"]
    return transfer_id


def transfer_status(sim: SimHarness, me: AccountInfo, transfer_id: str) -> str:
    path = f"/portfolio/intra_exchange_instance_transfers/{transfer_id}"
    status: str = sim.signed(me, "GET", path).json()["transfer"]["status"]
    return status


def funded(sim: SimHarness, cents: int) -> AccountInfo:
    """A new account of $1,000 on shard 0 with `cents` of it moved to shard 2."""
    me = sim.new_account(100_000)
    made = move(sim, me, cents)
    wait_until(lambda: transfer_status(sim, me, made) == "complete", "the transfer to complete")
    return me


def balance(sim: SimHarness, me: AccountInfo, **params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = sim.signed(me, "GET", "/portfolio/balance", params=params).json()
    return answer


def test_markets_and_events_say_their_shard(sim: SimHarness) -> None:
    markets = sim.signed(sim.account, "GET", "/markets").json()["markets"]
    assert {m["ticker"]: m["exchange_index"] for m in markets} == {ON_0: 0, ON_2: 2}
    events = sim.signed(sim.account, "GET", "/events").json()["events"]
    assert {e["event_ticker"]: e["exchange_index"] for e in events} == {
        ON_0.rsplit("-", 1)[0]: 0,
        ON_2.rsplit("-", 1)[0]: 2,
    }
    market = sim.signed(sim.account, "GET", f"/markets/{ON_2}").json()["market"]
    assert market["exchange_index"] == 2


def test_the_balance_is_per_shard_and_an_order_needs_its_shards(sim: SimHarness) -> None:
    me = sim.new_account(100_000)
    refused = sim.place_order(me, order(ON_2))
    assert nested_code(refused) == (400, "insufficient_balance")  # $1,000 on shard 0 alone
    made = move(sim, me, 10_00)
    assert transfer_status(sim, me, made) in ("pending", "complete")
    wait_until(lambda: transfer_status(sim, me, made) == "complete", "the transfer to complete")
    sim.placed(me, order(ON_2))
    whole = balance(sim, me)
    assert whole["balance"] == 100_000 - 200  # $2.00 held on shard 2
    assert whole["balance_breakdown"] == [
        {"exchange_index": 0, "balance": "990.0000"},
        {"exchange_index": 2, "balance": "8.0000"},
    ]
    two = balance(sim, me, exchange_index=2)
    assert (two["balance"], two["balance_dollars"]) == (800, "8.0000")
    assert two["balance_breakdown"] == [{"exchange_index": 2, "balance": "8.0000"}]
    too_much = sim.place_order(me, order(ON_2, count="21"))
    assert nested_code(too_much) == (400, "insufficient_balance")  # $990 on shard 0 is no help


def test_an_order_id_alone_routes_to_shard_0(sim: SimHarness) -> None:
    me = funded(sim, 10_00)
    placed = sim.place_order(me, order(ON_2))
    order_id = placed.json()["order_id"]
    path = f"/portfolio/events/orders/{order_id}"
    assert nested_code(sim.signed(me, "DELETE", path)) == (404, "not_found")
    assert nested_code(sim.signed(me, "DELETE", path, params={"exchange_index": 0})) == (
        404,
        "not_found",
    )
    cancelled = sim.signed(me, "DELETE", path, params={"market_ticker": ON_2})
    assert cancelled.status_code == 200, cancelled.text
    again = sim.place_order(me, order(ON_2)).json()
    by_index = sim.signed(
        me, "DELETE", f"/portfolio/events/orders/{again['order_id']}", params={"exchange_index": 2}
    )
    assert by_index.status_code == 200, by_index.text


def test_an_order_written_to_another_shard_than_its_markets_is_refused(sim: SimHarness) -> None:
    me = funded(sim, 10_00)
    wrong = sim.place_order(me, order(ON_2, exchange_index=0))
    assert nested_code(wrong) == (400, "market_not_found")
    sim.placed(me, order(ON_2, exchange_index=-1))


def test_listings_filter_by_shard_or_cover_every_one(sim: SimHarness) -> None:
    me = funded(sim, 10_00)
    maker = sim.new_account(100_000)
    for ticker in (ON_0, ON_2):
        assert sim.place_order(me, order(ticker)).is_success
    # a fill on shard 0, so there is a position and a fill to list
    sell = {**order(ON_0), "side": "ask", "count": "2"}
    assert sim.place_order(maker, sell).is_success

    def shards(path: str, key: str, **params: Any) -> list[int]:
        rows = sim.signed(me, "GET", path, params=params).json()[key]
        return sorted(r["exchange_index"] for r in rows)

    assert shards("/portfolio/orders", "orders") == [0, 2]
    assert shards("/portfolio/orders", "orders", exchange_index=2) == [2]
    assert shards("/portfolio/orders", "orders", exchange_index=1) == []
    assert shards("/portfolio/fills", "fills") == [0]
    assert shards("/portfolio/fills", "fills", exchange_index=0) == [0]
    assert shards("/portfolio/fills", "fills", exchange_index=2) == []
    assert shards("/portfolio/positions", "market_positions") == [0]
    assert shards("/portfolio/positions", "market_positions", exchange_index=0) == [0]
    assert shards("/portfolio/positions", "market_positions", exchange_index=2) == []


def test_a_lost_transfer_answer_is_found_in_the_history(sim: SimHarness) -> None:
    me = sim.new_account(100_000)
    sim.set_faults(drop_response_after_commit_rate=1.0)
    with pytest.raises(httpx.TransportError):
        move(sim, me, 3_00)
    sim.clear_faults()
    listed = sim.signed(me, "GET", "/portfolio/intra_exchange_instance_transfers").json()
    [found] = listed["transfers"]
    assert (found["amount"], found["destination_exchange_shard"]) == ("3.0000", 2)
    wait_until(
        lambda: transfer_status(sim, me, found["transfer_id"]) == "complete",
        "the transfer to complete",
    )
    assert balance(sim, me, exchange_index=2)["balance"] == 300


def test_a_transfer_whose_step_fails_moves_nothing_and_ends(sim: SimHarness) -> None:
    """The primary account's transfer across shards is one step: failing it (the fault
    control) leaves the money on the source shard, and the transfer ends."""
    me = sim.new_account(100_000)
    sim.set_faults(intra_transfer_fail_step=1)
    failed = move(sim, me, 4_00)
    wait_until(lambda: transfer_status(sim, me, failed) == "complete", "the transfer to end")
    sim.clear_faults()
    assert balance(sim, me)["balance_breakdown"] == [
        {"exchange_index": 0, "balance": "1000.0000"},
        {"exchange_index": 2, "balance": "0.0000"},
    ]


def test_each_shard_has_its_status_and_pauses_alone(sim: SimHarness) -> None:
    me = funded(sim, 10_00)
    status = sim.signed(me, "GET", "/exchange/status").json()
    assert [s["exchange_index"] for s in status["exchange_index_statuses"]] == [0, 2]
    assert all(s["trading_active"] for s in status["exchange_index_statuses"])
    paused = sim.http.post(f"{sim.admin_url}/shards/2", json={"trading_active": False})
    assert paused.json()["trading_active"] is False
    status = sim.signed(me, "GET", "/exchange/status").json()
    assert status["trading_active"] is True  # shard 0's
    assert [s["trading_active"] for s in status["exchange_index_statuses"]] == [True, False]
    refused = sim.place_order(me, order(ON_2))
    assert flat_code(refused) == (503, "exchange_unavailable")
    assert sim.place_order(me, order(ON_0)).is_success
    sim.http.post(f"{sim.admin_url}/shards/2", json={"intra_exchange_transfers_active": False})
    body = {"source": "event_contract", "destination": "event_contract", "amount": 100}
    blocked = sim.signed(
        me,
        "POST",
        "/portfolio/intra_exchange_instance_transfer",
        json={**body, "destination_exchange_shard": 2},
    )
    assert flat_code(blocked) == (503, "exchange_unavailable")
    sim.http.post(
        f"{sim.admin_url}/shards/2",
        json={"trading_active": True, "intra_exchange_transfers_active": True},
    )
    assert sim.place_order(me, order(ON_2)).is_success


def test_the_admin_api_keeps_an_event_on_one_shard(sim: SimHarness) -> None:
    moved = sim.http.post(
        f"{sim.admin_url}/markets",
        json={
            "ticker": "KXBTC-26JAN01-B",
            "event_ticker": "KXBTC-26JAN01",
            "series_ticker": "KXBTC",
            "title": "another market of the shard-2 event",
            "exchange_index": 0,
        },
    )
    assert moved.status_code == 400
    assert "is on exchange_index 2" in moved.text
    same = sim.create_market("KXBTC-26JAN01-C")  # its event's shard when none is named
    assert same["exchange_index"] == 2
    unknown = sim.http.post(f"{sim.admin_url}/shards/5", json={"trading_active": False})
    assert unknown.status_code == 400


def test_a_batch_cancel_item_routes_as_a_cancel_does(sim: SimHarness) -> None:
    me = funded(sim, 10_00)
    ids = [sim.place_order(me, order(ON_2)).json()["order_id"] for _ in range(2)]
    items = [{"order_id": ids[0]}, {"order_id": ids[1], "market_ticker": ON_2}]
    answer = sim.signed(me, "DELETE", "/portfolio/events/orders/batched", json={"orders": items})
    first, second = answer.json()["orders"]
    assert first["error"]["code"] == "not_found"  # an id alone: shard 0, which has no such order
    assert "error" not in second and second["reduced_by"] == "5.00"


def test_an_order_on_a_paused_shard_is_unknown_and_names_the_exchanges_answer(
    sim: SimHarness,
) -> None:
    """The client takes a 503 to an order as an unknown outcome (looked up, never sent again)
    and keeps the answer's code, which tells the trade loop the shard is paused."""
    from decimal import Decimal

    from kalshi_cli.client.requests import CreateOrder
    from kalshi_cli.vocabulary.errors import OrderOutcomeUnknown, answered_code
    from kalshi_cli.vocabulary.units import BookSide
    from tests.runner.simproc import client_for

    me = funded(sim, 10_00)
    sim.http.post(f"{sim.admin_url}/shards/2", json={"trading_active": False})
    with client_for(me) as client, pytest.raises(OrderOutcomeUnknown) as raised:
        client.orders.create_order(CreateOrder(ON_2, BookSide.BID, Decimal("0.40"), Decimal(5)))
    assert answered_code(raised.value) == "exchange_unavailable"


def test_an_order_group_lives_on_the_shard_it_was_created_on(sim: SimHarness) -> None:
    """openapi.yaml 3.31.0: the create body's `exchange_index` ("Defaults to 0") puts the group
    on a shard, every answer names it, and delete, reset, trigger and limit find it only on the
    shard their `exchange_index` query names (default 0); the reads cover every shard."""
    me = sim.new_account()  # a write budget of its own
    groups = "/portfolio/order_groups"

    def create(**body: Any) -> httpx.Response:
        return sim.signed(me, "POST", f"{groups}/create", json={"contracts_limit": 5, **body})

    on_two = create(exchange_index=2)
    assert on_two.status_code == 201, on_two.text
    assert on_two.json()["exchange_index"] == 2
    two = on_two.json()["order_group_id"]
    zero = create().json()
    assert zero["exchange_index"] == 0
    assert create(exchange_index=5).status_code == 400  # no such shard
    listed = sim.signed(me, "GET", groups).json()["order_groups"]
    assert {g["id"]: g["exchange_index"] for g in listed} == {two: 2, zero["order_group_id"]: 0}
    assert sim.signed(me, "GET", f"{groups}/{two}").json()["exchange_index"] == 2

    def write(method: str, group: str, tail: str, **params: Any) -> int:
        body = {"contracts_limit": 7} if tail == "/limit" else None
        path = f"{groups}/{group}{tail}"
        return sim.signed(me, method, path, params=params, json=body).status_code

    assert write("PUT", two, "/reset") == 404  # looked for on shard 0
    assert write("PUT", zero["order_group_id"], "/trigger", exchange_index=2) == 404
    assert write("PUT", two, "/limit", exchange_index=2) == 200
    assert write("DELETE", two, "") == 404
    assert write("DELETE", two, "", exchange_index=2) == 200
    assert [g["id"] for g in sim.signed(me, "GET", groups).json()["order_groups"]] == [
        zero["order_group_id"]
    ]
