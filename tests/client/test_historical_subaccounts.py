"""A client acting on one subaccount reads that subaccount's archive only.

The historical reads take a subaccount as the live ones do (openapi.yaml 3.31.0):
`GET /historical/fills` and `/historical/orders` `SubaccountQuery` ("If omitted, defaults to all
subaccounts"), `GET /historical/positions` `SubaccountQueryDefaultPrimary` ("Defaults to 0"). A
client set to subaccount N names N on each (client/subaccount_scope.py), so `kalshi fills
--subaccount N` lists no other subaccount's archived fill, and `kalshi pnl --subaccount N` (and
the whole account's `kalshi pnl`, which reads each subaccount in turn) cross-checks N's
archived positions against N's book, not subaccount 0's.

Subaccount 0 trades one market of an event and subaccount 1 the other; both settle, and the
simulator's cutoff (`PUT /sim/v1/historical`, lag 0) moves every fill, finished order and the
settled event's positions to the historical tier."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, make_markets


def _json(kalshi: Kalshi, *args: str) -> dict[str, Any]:
    result = kalshi(*args, "--json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _archived_trades_on_two_subaccounts(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi
) -> tuple[str, str]:
    """(subaccount 0's market, subaccount 1's market), both settled and archived."""
    zero, one = make_markets(prime, 2)
    assert client.subaccounts.create_subaccount() == 1
    client.subaccounts.transfer_between_subaccounts(
        from_subaccount=0, to_subaccount=1, amount_cents=5000
    )
    assert kalshi("reconcile").exit_code == 0  # the state file, before any trade
    with connect(prime.new_account(balance_cents=100_000)) as other:
        other.orders.create_order(CreateOrder(zero, BookSide.ASK, D("0.40"), D(10)))
        client.orders.create_order(CreateOrder(zero, BookSide.BID, D("0.40"), D(10)))
        other.orders.create_order(CreateOrder(one, BookSide.BID, D("0.50"), D(5)))
        client.subaccount = 1
        client.orders.create_order(CreateOrder(one, BookSide.ASK, D("0.50"), D(5)))
        client.subaccount = None
    prime.settle(zero, "yes")
    prime.settle(one, "no")
    lag = prime.http.put(prime.admin_url + "/historical", json={"lag_seconds": 0})
    lag.raise_for_status()
    assert list(client.portfolio.iter_fills()) == []  # every fill is archived
    return zero, one


def test_a_client_on_a_subaccount_reads_only_its_own_archive(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi
) -> None:
    zero, one = _archived_trades_on_two_subaccounts(prime, client, kalshi)
    client.subaccount = 1
    assert [f.ticker for f in client.historical.iter_historical_fills()] == [one]
    assert [o.ticker for o in client.historical.iter_historical_orders()] == [one]
    assert [p.ticker for p in client.historical.iter_historical_positions()] == [one]
    client.subaccount = None  # the exchange's defaults: every subaccount's fills, 0's positions
    assert sorted(f.ticker for f in client.historical.iter_historical_fills()) == [zero, one]
    assert [p.ticker for p in client.historical.iter_historical_positions()] == [zero]


def test_kalshi_fills_on_a_subaccount_lists_none_of_another_subaccounts_archived_fills(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi
) -> None:
    zero, one = _archived_trades_on_two_subaccounts(prime, client, kalshi)
    assert [f["ticker"] for f in _json(kalshi, "fills", "--subaccount", "1")["fills"]] == [one]
    assert [f["ticker"] for f in _json(kalshi, "fills", "--subaccount", "0")["fills"]] == [zero]
    assert sorted(f["ticker"] for f in _json(kalshi, "fills")["fills"]) == [zero, one]


def test_pnl_cross_checks_each_subaccounts_archived_positions_against_its_own_book(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi
) -> None:
    zero, one = _archived_trades_on_two_subaccounts(prime, client, kalshi)
    single = _json(kalshi, "pnl", "--subaccount", "1")
    assert single["differences"] == []
    assert sorted(single["by_market"]) == [one]
    whole = _json(kalshi, "pnl")
    assert whole["differences"] == []
    assert sorted(whole["by_market"]) == [zero, one]
