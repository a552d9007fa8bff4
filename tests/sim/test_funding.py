"""The account's money beyond trading (sim/server/routes/funding.py): the resting order value from
the real resting orders, the target balance allocation's rules, the API usage level from the real
fills, and deposits/withdrawals as a scenario defines them."""

from __future__ import annotations

from typing import Any

import pytest

from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import SimHarness
from tests.sim.test_historical import set_lag
from tests.waiting import wait_until
from tests.wire import order_body

T = "KXFUND-26JAN01-A"


def order(side: str, price: str, count: str, tif: str = "good_till_canceled") -> dict[str, Any]:
    return order_body(T, side=side, price=price, count=count, time_in_force=tif)


def test_total_resting_order_value_is_refused_to_an_account_that_is_no_fcm_member(
    sim: SimHarness,
) -> None:
    """The operation is "only intended for use by FCM members"; Kalshi's demo answered an
    ordinary account 403, and no simulated account is an FCM member."""
    sim.create_market(T)
    me = sim.account
    sim.placed(me, order("bid", "0.40", "10"))
    answer = sim.signed(me, "GET", "/portfolio/summary/total_resting_order_value")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "permission_denied"  # the wire's code


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/fcm/fills"),
        ("GET", "/fcm/orders"),
        ("GET", "/fcm/positions"),
        ("GET", "/fcm/subtraders"),
        ("POST", "/fcm/subtraders"),
        ("GET", "/fcm/subtraders/event_contract_daily_cap"),
        ("PUT", "/fcm/subtraders/event_contract_daily_cap"),
        ("DELETE", "/fcm/subtraders/event_contract_daily_cap"),
        ("GET", "/fcm/subtraders/blocked_categories"),
        ("PUT", "/fcm/subtraders/blocked_categories"),
    ],
)
def test_the_fcm_operations_refuse_a_member_that_is_no_fcm_after_authenticating(
    sim: SimHarness, method: str, path: str
) -> None:
    """The spec documents 403 for a non-FCM member; no simulated account is one. Without a
    signature the request is refused first as any private one is (401)."""
    answer = sim.signed(sim.account, method, path, json={} if method in ("POST", "PUT") else None)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "permission_denied"
    anonymous = sim.http.request(method, sim.account.api_base + path)
    assert anonymous.status_code == 401, anonymous.text


def test_target_balance_allocation_is_stored_and_checked(sim: SimHarness) -> None:
    me = sim.account
    path = "/portfolio/target_balance_allocation"
    assert sim.signed(me, "GET", path).json() == {
        "allocations": [],
        "resting_margin_reservation": "sum",
    }
    for bad in (
        {"allocations": [{"exchange_index": 0, "percent": 60}]},  # not 100 in total
        {"allocations": [{"exchange_index": 1, "percent": 100}]},  # no such index here
        {"allocations": [{"exchange_index": 0, "percent": 100}], "resting_margin_reservation": "x"},
        {},
    ):
        assert sim.signed(me, "POST", path, json=bad).status_code == 400, bad
    body = {
        "allocations": [{"exchange_index": 0, "percent": 100}],
        "resting_margin_reservation": "max",
    }
    assert sim.signed(me, "POST", path, json=body).status_code == 200
    assert sim.signed(me, "GET", path).json() == body
    other = sim.new_account()
    assert sim.signed(other, "GET", path).json()["allocations"] == []


def test_api_usage_volume_counts_the_accounts_fills_and_upgrade_needs_an_order(
    sim: SimHarness,
) -> None:
    sim.create_market(T)
    me, other = sim.account, sim.new_account()
    assert sim.signed(me, "POST", "/account/api_usage_level/upgrade").status_code == 403
    goals = [{"level": "expert", "earn_volume_goal_fp": "1000.00", "keep_volume_goal_fp": "500.00"}]
    sim.http.put(sim.admin_url + "/data/api_usage_goals", json={"items": goals}).raise_for_status()
    sim.placed(other, order("bid", "0.40", "7"))
    sell = order("ask", "0.40", "5", "immediate_or_cancel")
    sim.placed(me, sell)
    [progress] = sim.signed(me, "GET", "/account/api_usage_level/volume_progress").json()[
        "volume_progress"
    ]
    assert progress["trailing_30d_volume_fp"] == "5.00" and progress["goals"] == goals
    upgraded = sim.signed(me, "POST", "/account/api_usage_level/upgrade")
    assert upgraded.status_code == 201 and not upgraded.content


def test_deposits_and_withdrawals_are_the_scenarios_and_only_the_accounts_own(
    sim: SimHarness,
) -> None:
    me, other = sim.account, sim.new_account()
    mine = {
        "id": "d1",
        "status": "applied",
        "type": "ach",
        "amount_cents": 5000,
        "fee_cents": 0,
        "created_ts": 1_760_000_000,
    }
    items = [
        {**mine, "key_id": me.key_id},
        {**mine, "id": "d2", "key_id": other.key_id},
        {
            **mine,
            "id": "d3",
            "key_id": me.key_id,
            "status": "pending",
            "finalized_ts": None,
        },
    ]
    sim.http.put(sim.admin_url + "/data/deposits", json={"items": items}).raise_for_status()
    first = sim.signed(me, "GET", "/portfolio/deposits", params={"limit": 1}).json()
    assert first["deposits"] == [mine] and first["cursor"] == "d1"
    rest = sim.signed(me, "GET", "/portfolio/deposits", params={"cursor": "d1"}).json()
    assert [d["id"] for d in rest["deposits"]] == ["d3"]
    assert sim.signed(me, "GET", "/portfolio/withdrawals").json() == {"withdrawals": []}
    refused = sim.http.put(sim.admin_url + "/data/withdrawals", json={"items": [mine]})
    assert refused.status_code == 400  # no account_id


def test_archived_fills_and_orders_still_count_for_the_api_usage_level(
    manual_sim: SimHarness, manual_clock: ManualClock
) -> None:
    """The volume and the upgrade read the account's fills and orders past the historical
    cutoff too (the compact archives: only what each needs)."""
    sim = manual_sim
    sim.create_market(T)
    me, other = sim.account, sim.new_account()
    sim.placed(other, order("bid", "0.40", "7"))
    sell = order("ask", "0.40", "5", "immediate_or_cancel")
    sim.placed(me, sell)
    manual_clock.advance(1)
    set_lag(sim, lag_seconds=0)
    exchange = sim.running.state.exchange
    account = exchange.subaccounts.account_by_key(me.key_id)
    assert account is not None
    wait_until(
        lambda: (
            exchange.history.order_tiers(account.account_id) == (0, 1)
            and exchange.history.fill_tiers(account.account_id) == (0, 1)
        ),
        "the order and its fill to be archived",
    )
    [progress] = sim.signed(me, "GET", "/account/api_usage_level/volume_progress").json()[
        "volume_progress"
    ]
    assert progress["trailing_30d_volume_fp"] == "5.00"
    upgraded = sim.signed(me, "POST", "/account/api_usage_level/upgrade")
    assert upgraded.status_code == 201 and not upgraded.content
    alone = sim.new_account()  # no order at all, live or archived
    assert sim.signed(alone, "POST", "/account/api_usage_level/upgrade").status_code == 403
