"""The kill switch and the order groups the state file lists (killswitch.py step 2)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client import CreateOrder, KalshiClient
from kalshi_cli.clock import SystemClock
from kalshi_cli.errors import ApiError
from kalshi_cli.killswitch import KillSwitch, remember_order_group, session_order_groups
from kalshi_cli.models import BookSide
from kalshi_cli.store import Store
from tests.conftest import SimHarness

from .conftest import Kalshi, make_markets, state_path


def _bid(ticker: str, group: str | None = None) -> CreateOrder:
    return CreateOrder(
        ticker=ticker,
        book_side=BookSide.BID,
        price=Decimal("0.30"),
        count=Decimal(2),
        order_group_id=group,
    )


def _refused(client: KalshiClient, ticker: str, group: str) -> str:
    with pytest.raises(ApiError) as info:
        client.create_order(_bid(ticker, group))
    return info.value.code or ""


def test_every_market_triggers_the_listed_groups_and_forgets_unknown_ones(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    (ticker,) = make_markets(prime, 1)
    group = client.create_order_group(Decimal(100))
    in_group = client.create_order(_bid(ticker, group)).order_id
    remember_order_group(store, "no-such-group")
    remember_order_group(store, group)

    report = KillSwitch(client, store, SystemClock(), read_lag_s=0.0).run()

    assert report.proven
    assert report.order_groups_triggered == [group]
    assert report.to_json()["order_groups_triggered"] == [group]
    assert client.get_order(in_group).status == "canceled"
    assert _refused(client, ticker, group) == "order_group_triggered"
    assert session_order_groups(store) == [group]  # kept: `kalshi trade` owns its lifetime


def test_a_scoped_kill_leaves_the_groups_alone(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    first, second = make_markets(prime, 2)
    group = client.create_order_group(Decimal(100))
    elsewhere = client.create_order(_bid(second, group)).order_id
    remember_order_group(store, group)

    report = KillSwitch(client, store, SystemClock(), read_lag_s=0.0).run(ticker=first)

    assert report.proven and report.order_groups_triggered == []
    assert client.get_order(elsewhere).status == "resting"
    client.create_order(_bid(second, group))  # the group still takes orders


def test_without_a_state_file_the_cancels_still_go_out(
    prime: SimHarness, client: KalshiClient
) -> None:
    (ticker,) = make_markets(prime, 1)
    group = client.create_order_group(Decimal(100))
    order = client.create_order(_bid(ticker, group)).order_id
    report = KillSwitch(client, None, SystemClock(), read_lag_s=0.0).run()
    assert report.proven and report.order_groups_triggered == []
    assert client.get_order(order).status == "canceled"


def test_cancel_all_names_the_groups_it_triggered(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    group = client.create_order_group(Decimal(100))
    with Store.open(state_path(tmp_path)) as store:
        remember_order_group(store, group)
    result = kalshi("cancel-all", "--yes")
    assert result.exit_code == 0, result.output
    assert f"order group triggered: {group}" in result.stdout
