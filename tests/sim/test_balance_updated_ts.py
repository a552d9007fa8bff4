"""A balance's `updated_ts` is the time the balance last changed, not the time of the read: the
spec's `GetBalanceResponse.updated_ts`, "Unix timestamp of the last update to the balance", and
`SubaccountBalance.updated_ts`, "Unix timestamp of last balance update" (openapi.yaml 3.31.0).
Two reads with nothing between answer the same stamp however much time passes; an order that
rests (its cost held), a fill or a transfer moves it to the change's time, on the shard and the
subaccount whose balance changed alone; a fill that pays only what its resting order held
leaves the balance, and so its stamp, as they were. The simulator runs on a test's clock, moved
by the test. Every answer is also checked against openapi.yaml by the autouse fixture in
conftest.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import SimHarness, _start
from tests.wire import order_body

ON_0, ON_2 = "KXSTAMP-26JAN01-A", "KXSTAMPB-26JAN01-A"


@pytest.fixture
def sim(tmp_path: Path, manual_clock: ManualClock) -> Iterator[SimHarness]:
    harness = _start(tmp_path / "sim", "empty", manual_clock, tier="advanced")
    harness.create_market(ON_0)
    harness.create_market(ON_2, exchange_index=2)
    yield harness
    harness.close()


def ok(answer: Any, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def balance(sim: SimHarness, me: AccountInfo, **params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = ok(sim.signed(me, "GET", "/portfolio/balance", params=params))
    return answer


def stamps(sim: SimHarness, me: AccountInfo) -> dict[tuple[int, int], int]:
    """(subaccount, shard) -> `updated_ts` of the subaccount balances' rows."""
    rows = ok(sim.signed(me, "GET", "/portfolio/subaccounts/balances"))["subaccount_balances"]
    return {(r["subaccount_number"], r["exchange_index"]): r["updated_ts"] for r in rows}


def now(clock: ManualClock) -> int:
    return int(clock.wall())


def test_two_reads_with_nothing_between_answer_the_same_balance_whole(
    sim: SimHarness, manual_clock: ManualClock
) -> None:
    me = sim.new_account(100_000)
    opened = now(manual_clock)
    first = balance(sim, me)
    manual_clock.advance(90)
    assert balance(sim, me) == first  # the whole answer, its `updated_ts` too
    assert first["updated_ts"] == opened  # the account's creation: its last change


def test_a_resting_order_and_a_fill_each_move_the_stamp_to_their_time(
    sim: SimHarness, manual_clock: ManualClock
) -> None:
    me, other = sim.new_account(100_000), sim.new_account(100_000)
    manual_clock.advance(60)
    ok(sim.place_order(me, order_body(ON_0)), 201)  # $2.00 held
    placed = now(manual_clock)
    manual_clock.advance(60)
    rested = balance(sim, me)
    assert (rested["balance_dollars"], rested["updated_ts"]) == ("998.0000", placed)

    manual_clock.advance(60)
    sell = order_body(ON_0, side="ask", count="2", time_in_force="immediate_or_cancel")
    ok(sim.place_order(other, sell), 201)
    filled_at = now(manual_clock)
    manual_clock.advance(60)
    assert balance(sim, other)["updated_ts"] == filled_at  # the taker's cash moved
    # the maker's fill paid what its order held (no fee here): its balance did not change
    after = balance(sim, me)
    assert (after["balance_dollars"], after["updated_ts"]) == ("998.0000", placed)


def test_a_change_on_one_shard_moves_that_shards_stamp_and_the_accounts_alone(
    sim: SimHarness, manual_clock: ManualClock
) -> None:
    me = sim.new_account(100_000)
    opened = now(manual_clock)
    manual_clock.advance(60)
    ok(sim.place_order(me, order_body(ON_0)), 201)
    placed = now(manual_clock)
    manual_clock.advance(60)
    assert balance(sim, me)["updated_ts"] == placed  # every shard's: the latest change
    assert balance(sim, me, exchange_index=0)["updated_ts"] == placed
    assert balance(sim, me, exchange_index=2)["updated_ts"] == opened  # never changed


def test_a_subaccounts_fill_moves_its_own_rows_stamp_not_the_others(
    sim: SimHarness, manual_clock: ManualClock
) -> None:
    me, other = sim.account, sim.new_account(100_000)
    ok(sim.signed(me, "POST", "/portfolio/subaccounts", json={}), 201)
    transfer = {
        "client_transfer_id": str(uuid.uuid4()),
        "from_subaccount": 0,
        "to_subaccount": 1,
        "amount_cents": 5000,
    }
    ok(sim.signed(me, "POST", "/portfolio/subaccounts/transfer", json=transfer))
    moved = now(manual_clock)
    manual_clock.advance(60)
    before = stamps(sim, me)
    assert before[0, 0] == before[1, 0] == moved

    ok(sim.place_order(me, order_body(ON_0, subaccount=1)), 201)
    placed = now(manual_clock)
    manual_clock.advance(60)
    assert stamps(sim, me) == {**before, (1, 0): placed}  # the resting order's hold
    ok(sim.place_order(other, order_body(ON_0, side="ask", price="0.50")), 201)
    manual_clock.advance(60)
    take = order_body(ON_0, price="0.50", count="1", time_in_force="immediate_or_cancel")
    ok(sim.place_order(me, {**take, "subaccount": 1}), 201)  # a taker fill
    filled_at = now(manual_clock)
    manual_clock.advance(60)
    after = stamps(sim, me)
    assert after == {**before, (1, 0): filled_at}  # subaccount 0's balance did not change
    assert balance(sim, me, subaccount=1)["updated_ts"] == filled_at
