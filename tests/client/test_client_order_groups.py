"""The client's order groups against the simulator over loopback: every call, an order placed
in a group, and refusals of bad input before anything is sent."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.vocabulary.errors import ApiError, NotFoundError, ValidationError
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.client.test_client_sim import _bid, _client, _stats
from tests.conftest import SimHarness
from tests.openapi_check import RECORDER

T = "KXCOG-26JAN01-A"


def test_every_order_group_call_against_the_simulator(sim: SimHarness) -> None:
    sim.create_market(T)
    with _client(sim.account) as client, _client(sim.new_account()) as other:
        group = client.order_groups.create_order_group(Decimal(5))
        placed = client.orders.create_order(_bid(T, count=10, order_group_id=group))
        assert client.orders.get_order(placed.order_id).raw["order_group_id"] == group

        shown = client.order_groups.get_order_group(group)
        assert (shown.order_group_id, shown.contracts_limit, shown.auto_cancel) == (
            group,
            Decimal(5),
            True,
        )
        assert shown.orders == (placed.order_id,)
        assert [g.order_group_id for g in client.order_groups.list_order_groups()] == [group]

        # the limit: 5 contracts matched against the group's order trigger it
        other.orders.create_order(
            CreateOrder(
                ticker=T,
                book_side=BookSide.ASK,
                price=Decimal("0.40"),
                count=Decimal(5),
                time_in_force=TimeInForce.IOC,
            )
        )
        assert client.orders.get_order(placed.order_id).status == "canceled"
        with pytest.raises(ApiError) as refused:
            client.orders.create_order(_bid(T, order_group_id=group))
        assert (refused.value.status, refused.value.code) == (409, "order_group_triggered")

        client.order_groups.reset_order_group(group)
        again = client.orders.create_order(_bid(T, order_group_id=group))
        client.order_groups.trigger_order_group(group)
        assert client.orders.get_order(again.order_id).status == "canceled"
        client.order_groups.reset_order_group(group)
        client.order_groups.set_order_group_limit(group, Decimal("7.50"))
        assert client.order_groups.get_order_group(group).contracts_limit == Decimal("7.50")
        last = client.orders.create_order(_bid(T, order_group_id=group))
        client.order_groups.delete_order_group(group)
        assert client.orders.get_order(last.order_id).status == "canceled"
        with pytest.raises(NotFoundError):
            client.order_groups.get_order_group(group)
        assert client.order_groups.list_order_groups() == []


def test_bad_input_is_refused_before_anything_is_sent(sim: SimHarness) -> None:
    with _client(sim.account) as client:
        before = _stats(sim.admin_url, sim.account.key_id)["total_requests"]
        for bad in (Decimal(0), Decimal("-1"), Decimal("1.005")):
            with pytest.raises(ValidationError):
                client.order_groups.create_order_group(bad)
        with pytest.raises(ValidationError):
            client.order_groups.set_order_group_limit("g", Decimal(0))
        for call in (
            client.order_groups.trigger_order_group,
            client.order_groups.reset_order_group,
        ):
            with pytest.raises(ValidationError):
                call(" ")
        with pytest.raises(ValidationError):
            _bid(T, order_group_id="")
        assert _stats(sim.admin_url, sim.account.key_id)["total_requests"] == before


def test_an_order_without_a_group_sends_no_group_field() -> None:
    assert "order_group_id" not in _bid(T).to_api()
    assert _bid(T, order_group_id="g-1").to_api()["order_group_id"] == "g-1"


@pytest.fixture
def adv(tmp_path: Path) -> Iterator[SimHarness]:
    """An Advanced-tier simulator (subaccounts need it) with subaccount 1 funded."""
    harness = SimHarness(
        start_simulator(
            tmp_path / "sim", scenario="empty", tier="advanced", response_hook=RECORDER.hook
        )
    )
    harness.create_market(T)
    with _client(harness.account) as client:
        assert client.subaccounts.create_subaccount() == 1
        client.subaccounts.transfer_between_subaccounts(
            from_subaccount=0, to_subaccount=1, amount_cents=100_00
        )
    yield harness
    harness.close()


def test_every_order_group_call_takes_a_subaccount(adv: SimHarness) -> None:
    with _client(adv.account) as client, _client(adv.account) as placer:
        placer.subaccount = 1  # places its orders on subaccount 1
        on_one = client.order_groups.create_order_group(Decimal(5), subaccount=1)
        on_zero = client.order_groups.create_order_group(Decimal(5))
        assert [g.order_group_id for g in client.order_groups.list_order_groups()] == [
            on_one,
            on_zero,
        ]
        assert [g.order_group_id for g in client.order_groups.list_order_groups(subaccount=1)] == [
            on_one
        ]
        assert [g.order_group_id for g in client.order_groups.list_order_groups(subaccount=0)] == [
            on_zero
        ]
        assert (
            client.order_groups.get_order_group(on_one).order_group_id == on_one
        )  # any subaccount
        assert client.order_groups.get_order_group(on_one, subaccount=1).contracts_limit == Decimal(
            5
        )
        with pytest.raises(NotFoundError):
            client.order_groups.get_order_group(on_one, subaccount=0)

        placed = placer.orders.create_order(_bid(T, order_group_id=on_one))
        # the writes default to subaccount 0, where this group is not
        for call in (
            client.order_groups.trigger_order_group,
            client.order_groups.reset_order_group,
        ):
            with pytest.raises(NotFoundError):
                call(on_one)
        with pytest.raises(NotFoundError):
            client.order_groups.set_order_group_limit(on_one, Decimal(9))
        with pytest.raises(NotFoundError):
            client.order_groups.delete_order_group(on_one)
        assert client.orders.get_order(placed.order_id).status == "resting"

        client.order_groups.trigger_order_group(on_one, subaccount=1)
        assert client.orders.get_order(placed.order_id).status == "canceled"
        client.order_groups.reset_order_group(on_one, subaccount=1)
        client.order_groups.set_order_group_limit(on_one, Decimal(9), subaccount=1)
        assert client.order_groups.get_order_group(on_one).contracts_limit == Decimal(9)
        again = placer.orders.create_order(_bid(T, order_group_id=on_one))
        client.order_groups.delete_order_group(on_one, subaccount=1)
        assert client.orders.get_order(again.order_id).status == "canceled"
        assert [g.order_group_id for g in client.order_groups.list_order_groups()] == [on_zero]


def test_a_client_set_to_a_subaccount_keeps_its_groups_there(adv: SimHarness) -> None:
    with _client(adv.account) as plain, _client(adv.account) as scoped:
        scoped.subaccount = 1
        mine = scoped.order_groups.create_order_group(Decimal(5))
        primary = plain.order_groups.create_order_group(Decimal(5))
        assert [g.order_group_id for g in plain.order_groups.list_order_groups(subaccount=1)] == [
            mine
        ]
        assert [g.order_group_id for g in scoped.order_groups.list_order_groups()] == [mine]
        with pytest.raises(NotFoundError):
            scoped.order_groups.get_order_group(primary)
        placed = scoped.orders.create_order(_bid(T, order_group_id=mine))
        scoped.order_groups.trigger_order_group(mine)
        assert scoped.orders.get_order(placed.order_id).status == "canceled"
        scoped.order_groups.reset_order_group(mine)
        scoped.order_groups.set_order_group_limit(mine, Decimal(8))
        # a call that names a subaccount keeps it
        scoped.order_groups.trigger_order_group(primary, subaccount=0)
        scoped.order_groups.delete_order_group(mine)
        assert [g.order_group_id for g in plain.order_groups.list_order_groups()] == [primary]


def test_a_subaccount_out_of_range_is_refused_before_anything_is_sent(adv: SimHarness) -> None:
    with _client(adv.account) as client:
        before = _stats(adv.admin_url, adv.account.key_id)["total_requests"]
        for bad in (-1, 64):
            with pytest.raises(ValidationError):
                client.order_groups.create_order_group(Decimal(5), subaccount=bad)
            with pytest.raises(ValidationError):
                client.order_groups.trigger_order_group("g", subaccount=bad)
            with pytest.raises(ValidationError):
                client.order_groups.list_order_groups(subaccount=bad)
        assert _stats(adv.admin_url, adv.account.key_id)["total_requests"] == before
