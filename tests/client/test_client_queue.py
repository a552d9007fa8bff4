"""KalshiClient's queue-position calls against the simulator over loopback."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.errors import NotFoundError
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness

T = "KXCQ-26JAN01-A"
U = "KXCQ-26JAN01-B"


def client_for(account: AccountInfo) -> KalshiClient:
    key, _ = load_private_key(path=account.private_key_path)
    return KalshiClient(api_base=account.api_base, key_id=account.key_id, private_key=key)


def bid(client: KalshiClient, ticker: str, count: str) -> str:
    placed = client.orders.create_order(
        CreateOrder(ticker, BookSide.BID, Decimal("0.40"), Decimal(count))
    )
    return placed.order_id


def test_queue_positions_of_every_resting_order_and_of_one(sim: SimHarness) -> None:
    sim.create_market(T)
    sim.create_market(U)
    with client_for(sim.account) as me, client_for(sim.new_account()) as other:
        bid(other, T, "3")
        first = bid(me, T, "2")
        second = bid(me, T, "1")
        elsewhere = bid(me, U, "1")
        assert me.orders.get_queue_positions() == {
            first: Decimal(3),
            second: Decimal(5),
            elsewhere: Decimal(0),
        }
        assert me.orders.get_queue_positions(market_tickers=[U]) == {elsewhere: Decimal(0)}
        assert me.orders.get_queue_position(second) == Decimal(5)
        me.orders.cancel_order(second)
        with pytest.raises(NotFoundError) as caught:
            me.orders.get_queue_position(second)
        assert caught.value.hint and "order list" in caught.value.hint
