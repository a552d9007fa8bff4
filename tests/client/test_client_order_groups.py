"""The client's order groups against the simulator over loopback: every call, an order placed
in a group, and refusals of bad input before anything is sent."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from kalshi_cli.client import CreateOrder
from kalshi_cli.errors import ApiError, NotFoundError, ValidationError
from kalshi_cli.models import BookSide, TimeInForce
from tests.client.test_client_sim import _bid, _client, _stats

if TYPE_CHECKING:
    from tests.conftest import SimHarness

T = "KXCOG-26JAN01-A"


def test_every_order_group_call_against_the_simulator(sim: SimHarness) -> None:
    sim.create_market(T)
    with _client(sim.account) as client, _client(sim.new_account()) as other:
        group = client.create_order_group(Decimal(5))
        placed = client.create_order(_bid(T, count=10, order_group_id=group))
        assert client.get_order(placed.order_id).raw["order_group_id"] == group

        shown = client.get_order_group(group)
        assert (shown.order_group_id, shown.contracts_limit, shown.auto_cancel) == (
            group,
            Decimal(5),
            True,
        )
        assert shown.orders == (placed.order_id,)
        assert [g.order_group_id for g in client.list_order_groups()] == [group]

        # the limit: 5 contracts matched against the group's order trigger it
        other.create_order(
            CreateOrder(
                ticker=T,
                book_side=BookSide.ASK,
                price=Decimal("0.40"),
                count=Decimal(5),
                time_in_force=TimeInForce.IOC,
            )
        )
        assert client.get_order(placed.order_id).status == "canceled"
        with pytest.raises(ApiError) as refused:
            client.create_order(_bid(T, order_group_id=group))
        assert (refused.value.status, refused.value.code) == (409, "order_group_triggered")

        client.reset_order_group(group)
        again = client.create_order(_bid(T, order_group_id=group))
        client.trigger_order_group(group)
        assert client.get_order(again.order_id).status == "canceled"
        client.reset_order_group(group)
        client.set_order_group_limit(group, Decimal("7.50"))
        assert client.get_order_group(group).contracts_limit == Decimal("7.50")
        last = client.create_order(_bid(T, order_group_id=group))
        client.delete_order_group(group)
        assert client.get_order(last.order_id).status == "canceled"
        with pytest.raises(NotFoundError):
            client.get_order_group(group)
        assert client.list_order_groups() == []


def test_bad_input_is_refused_before_anything_is_sent(sim: SimHarness) -> None:
    with _client(sim.account) as client:
        before = _stats(sim.admin_url, sim.account.key_id)["total_requests"]
        for bad in (Decimal(0), Decimal("-1"), Decimal("1.005")):
            with pytest.raises(ValidationError):
                client.create_order_group(bad)
        with pytest.raises(ValidationError):
            client.set_order_group_limit("g", Decimal(0))
        for call in (client.trigger_order_group, client.reset_order_group):
            with pytest.raises(ValidationError):
                call(" ")
        with pytest.raises(ValidationError):
            _bid(T, order_group_id="")
        assert _stats(sim.admin_url, sim.account.key_id)["total_requests"] == before


def test_an_order_without_a_group_sends_no_group_field() -> None:
    assert "order_group_id" not in _bid(T).to_api()
    assert _bid(T, order_group_id="g-1").to_api()["order_group_id"] == "g-1"
