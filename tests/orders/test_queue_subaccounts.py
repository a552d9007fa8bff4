"""A client acting on a subaccount reads that subaccount's queue positions.

GET /portfolio/orders/queue_positions takes `SubaccountQueryDefaultPrimary` (openapi.yaml
3.31.0: "Defaults to 0"), so a request naming none answers for subaccount 0's orders only; a
client set to subaccount N (`kalshi order list --queue --subaccount N`) must name N, as it does
on the positions and balance reads (client/subaccount_scope.py)."""

from __future__ import annotations

from decimal import Decimal as D

from kalshi_cli.client import CreateOrder, KalshiClient
from kalshi_cli.models import BookSide
from tests.conftest import SimHarness

from .conftest import connect, make_markets


def test_a_client_on_a_subaccount_reads_its_own_queue_positions(
    prime: SimHarness, client: KalshiClient
) -> None:
    (ticker,) = make_markets(prime, 1)
    assert client.create_subaccount() == 1
    client.transfer_between_subaccounts(from_subaccount=0, to_subaccount=1, amount_cents=5000)
    with connect(prime.new_account(balance_cents=100_000)) as other:
        other.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(3)))
    zero = client.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(2))).order_id
    client.subaccount = 1
    one = client.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(1))).order_id
    assert client.get_queue_positions() == {one: D(5)}
    client.subaccount = None
    assert client.get_queue_positions() == {zero: D(3)}
