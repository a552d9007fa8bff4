"""A client acting on a subaccount reads that subaccount's queue positions.

GET /portfolio/orders/queue_positions takes `SubaccountQueryDefaultPrimary` (openapi.yaml
3.31.0: "Defaults to 0"), so a request naming none answers for subaccount 0's orders only; a
client set to subaccount N (`kalshi order list --queue --subaccount N`) must name N, as it does
on the positions and balance reads (client/subaccount_scope.py)."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.dashboard.snapshot import Sources, remote_snapshot
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, make_markets


def test_a_client_on_a_subaccount_reads_its_own_queue_positions(
    prime: SimHarness, client: KalshiClient
) -> None:
    (ticker,) = make_markets(prime, 1)
    assert client.subaccounts.create_subaccount() == 1
    client.subaccounts.transfer_between_subaccounts(
        from_subaccount=0, to_subaccount=1, amount_cents=5000
    )
    with connect(prime.new_account(balance_cents=100_000)) as other:
        other.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(3)))
    zero = client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(2))).order_id
    client.subaccount = 1
    one = client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(1))).order_id
    assert client.orders.get_queue_positions() == {one: D(5)}
    client.subaccount = None
    assert client.orders.get_queue_positions() == {zero: D(3)}


def test_order_list_queue_shows_the_place_of_orders_on_every_subaccount(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi
) -> None:
    """`kalshi order list --queue` lists every subaccount's orders (the listing's default), so
    it asks the queue positions of each subaccount an order rests on."""
    (ticker,) = make_markets(prime, 1)
    assert client.subaccounts.create_subaccount() == 1
    client.subaccounts.transfer_between_subaccounts(
        from_subaccount=0, to_subaccount=1, amount_cents=5000
    )
    zero = client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(2))).order_id
    client.subaccount = 1
    one = client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(1))).order_id
    client.subaccount = None
    result = kalshi("order", "list", "--queue", "--json")
    assert result.exit_code == 0, result.output
    ahead = {o["order_id"]: o["queue_position"] for o in json.loads(result.stdout)["orders"]}
    assert ahead == {zero: "0.00", one: "2.00"}
    result = kalshi("order", "list", "--queue", "--json", "--subaccount", "1")
    assert result.exit_code == 0, result.output
    ahead = {o["order_id"]: o["queue_position"] for o in json.loads(result.stdout)["orders"]}
    assert ahead == {one: "2.00"}


def test_the_dashboard_shows_the_place_of_orders_on_every_subaccount(
    prime: SimHarness, client: KalshiClient, tmp_path: Path
) -> None:
    """The dashboard's orders panel lists every subaccount's resting orders, each with its
    place in the queue, read from its own subaccount."""
    (ticker,) = make_markets(prime, 1)
    assert client.subaccounts.create_subaccount() == 1
    client.subaccounts.transfer_between_subaccounts(
        from_subaccount=0, to_subaccount=1, amount_cents=5000
    )
    zero = client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(2))).order_id
    client.subaccount = 1
    one = client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(1))).order_id
    client.subaccount = None
    shot = remote_snapshot(Sources(state_path=tmp_path / "state.db"), client, SystemClock())
    assert shot.error is None
    assert {o.order_id: o.queue_ahead for o in shot.orders} == {zero: D(0), one: D(2)}
