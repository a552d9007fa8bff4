"""`kalshi order-group ...` in-process against the simulator: each command's effect on the
exchange, its --json shape, and bad input refused with nothing sent."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.killswitch.order_groups import remember_order_group
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import ApiError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets, state_path


def _bid(ticker: str, group: str) -> CreateOrder:
    return CreateOrder(
        ticker=ticker,
        book_side=BookSide.BID,
        price=Decimal("0.30"),
        count=Decimal(2),
        order_group_id=group,
    )


def test_the_group_commands_act_on_the_exchange(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi
) -> None:
    (ticker,) = make_markets(prime, 1)
    created = kalshi("order-group", "create", "--limit", "25", "--json")
    assert created.exit_code == 0, created.output
    document = json.loads(created.stdout)
    group = document["order_group_id"]
    assert document == {"order_group_id": group, "contracts_limit": "25", "exchange_index": 0}
    order = client.orders.create_order(_bid(ticker, group)).order_id

    listed = json.loads(kalshi("order-group", "list", "--json").stdout)
    assert listed == {
        "order_groups": [
            {
                "order_group_id": group,
                "contracts_limit": "25.00",
                "auto_cancel": True,
                "exchange_index": 0,
                "trade_session": False,
            }
        ]
    }
    shown = json.loads(kalshi("order-group", "show", group, "--json").stdout)
    assert shown["orders"] == [order]
    plain = kalshi("order-group", "list")
    assert group in plain.stdout  # never cut: it is typed into the next command

    triggered = json.loads(kalshi("order-group", "trigger", group, "--json").stdout)
    assert triggered == {"order_group_id": group, "exchange_index": 0, "result": "triggered"}
    assert client.orders.get_order(order).status == "canceled"
    with pytest.raises(ApiError):
        client.orders.create_order(_bid(ticker, group))

    assert kalshi("order-group", "reset", group).stdout.strip() == f"order group {group} reset"
    again = client.orders.create_order(_bid(ticker, group)).order_id
    limited = json.loads(kalshi("order-group", "limit", group, "--limit", "40", "--json").stdout)
    assert limited["contracts_limit"] == "40"
    assert client.order_groups.get_order_group(group).contracts_limit == Decimal(40)

    assert kalshi("order-group", "delete", group, "--yes").exit_code == 0
    assert client.orders.get_order(again).status == "canceled"
    assert client.order_groups.list_order_groups() == []


def test_a_group_on_a_shard_is_made_shown_and_changed_there(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi
) -> None:
    """openapi.yaml 3.31.0: a group lives on the shard its create names (`exchange_index`,
    default 0), and trigger, reset, limit and delete find it only on the shard they name. Given
    `--exchange-index`, a command acts there; without it, on the shard the exchange's answer for
    the group names, so a shard-2 group is not answered "not found" from shard 0."""
    prime.create_market("KXOGCLI-SHARD-A", exchange_index=2)
    created = kalshi("order-group", "create", "--limit", "25", "--exchange-index", "2", "--json")
    assert created.exit_code == 0, created.output
    group = json.loads(created.stdout)["order_group_id"]
    assert json.loads(created.stdout)["exchange_index"] == 2
    (listed,) = json.loads(kalshi("order-group", "list", "--json").stdout)["order_groups"]
    assert (listed["order_group_id"], listed["exchange_index"]) == (group, 2)
    assert json.loads(kalshi("order-group", "show", group, "--json").stdout)["exchange_index"] == 2

    triggered = kalshi("order-group", "trigger", group, "--json")  # its shard read first
    assert triggered.exit_code == 0, triggered.output
    assert json.loads(triggered.stdout)["exchange_index"] == 2
    wrong = kalshi("order-group", "reset", group, "--exchange-index", "0")
    assert wrong.exit_code == ExitCode.NOT_FOUND, wrong.output
    limited = kalshi("order-group", "limit", group, "--limit", "40", "--exchange-index", "2")
    assert limited.exit_code == 0, limited.output
    assert kalshi("order-group", "delete", group, "--yes").exit_code == 0
    assert client.order_groups.list_order_groups() == []


@pytest.mark.parametrize(
    "args",
    [
        ("create", "--limit", "0"),
        ("create", "--limit", "-3"),
        ("create", "--limit", "ten"),
        ("create", "--limit", "1.005"),
        ("create", "--limit", "1e3"),
        ("create",),
        ("limit", "some-group", "--limit", "0"),
        ("trigger", " "),
        ("show",),
    ],
)
def test_bad_input_is_refused_and_nothing_is_sent(
    prime: SimHarness, kalshi: Kalshi, args: tuple[str, ...]
) -> None:
    before = prime.stats()["total_requests"]
    result = kalshi("order-group", *args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert prime.stats()["total_requests"] == before


def test_an_unknown_group_is_one_line_with_the_not_found_exit_code(kalshi: Kalshi) -> None:
    result = kalshi("order-group", "trigger", "no-such-group")
    assert result.exit_code == ExitCode.NOT_FOUND, result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_show_says_a_group_this_tool_triggered_is_triggered_until_it_is_reset(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    """The exchange's answer for a group has no field saying it was triggered: `show` says
    what the state file saw (a `kalshi order-group trigger`, then a `reset`), and "unknown" for
    a group it saw neither of."""
    created = json.loads(kalshi("order-group", "create", "--limit", "25", "--json").stdout)
    group = created["order_group_id"]
    shown = json.loads(kalshi("order-group", "show", group, "--json").stdout)
    assert shown["triggered"] is None and shown["triggered_seen"] is None
    assert "unknown" in kalshi("order-group", "show", group).stdout

    assert kalshi("order-group", "trigger", group, "--yes").exit_code == 0
    shown = json.loads(kalshi("order-group", "show", group, "--json").stdout)
    assert shown["triggered"] is True
    assert shown["triggered_seen"].startswith("kalshi order-group trigger at 20")
    plain = kalshi("order-group", "show", group).stdout
    assert "triggered" in plain and "yes" in plain

    assert kalshi("order-group", "reset", group, "--yes").exit_code == 0
    shown = json.loads(kalshi("order-group", "show", group, "--json").stdout)
    assert shown["triggered"] is False
    assert shown["triggered_seen"].startswith("kalshi order-group reset at 20")


def test_show_says_a_group_cancel_all_triggered_is_triggered_after_an_earlier_reset(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    """A trade session's group reset by hand (`order-group reset`, say after the exchange
    triggered it at its limit), then triggered by `kalshi cancel-all`: `show` says triggered,
    by the kill switch. Before, the kill switch's trigger was not recorded and `show` went on
    saying "no (kalshi order-group reset at ...)" while the exchange refused every order in it."""
    (ticker,) = make_markets(prime, 1)
    group = json.loads(kalshi("order-group", "create", "--limit", "25", "--json").stdout)[
        "order_group_id"
    ]
    assert kalshi("order-group", "reset", group, "--yes").exit_code == 0
    with Store.open(state_path(tmp_path)) as store:
        remember_order_group(store, group)  # as `kalshi trade` lists its session's group

    done = kalshi("cancel-all", "--yes")
    assert done.exit_code == 0, done.output

    with pytest.raises(ApiError) as refused:
        client.orders.create_order(_bid(ticker, group))
    assert refused.value.code == "order_group_triggered"
    shown = json.loads(kalshi("order-group", "show", group, "--json").stdout)
    assert shown["triggered"] is True
    assert shown["triggered_seen"].startswith("kill switch (cancel-all) at 20")
