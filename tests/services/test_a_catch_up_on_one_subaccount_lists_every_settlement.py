"""A catch-up made for a command acting on one subaccount (`--subaccount N`) still brings in
every subaccount's settlements, as it does their fills (docs/pnl.md "Read commands catch up
first"): the catch-up's cursor is the state file's, and the settlements are listed since it
(less the overlap), so a catch-up that listed N's alone and moved the cursor passed another
subaccount's settlement over for good; and the daily circuit breaker, which counts every
subaccount's realized P&L, let an order on N through a day another subaccount's settled loss
had tripped."""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.services.reconcile import CATCH_UP_OVERLAP_S, catch_up
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import another_accounts_order, funded_subaccount, make_markets

# how far the commands' clock is ahead of the exchange's: a settlement it makes is stamped
# this long before the commands' catch-up, past the overlap
AHEAD_S = 3 * CATCH_UP_OVERLAP_S


def _lost_on_subaccount_0(prime: SimHarness, client: KalshiClient, ticker: str) -> None:
    """Subaccount 0 buys 10 YES at 0.60, and the market settles NO: $6.00 lost."""
    another_accounts_order(prime, ticker, BookSide.ASK, "0.60", 10)
    client.on_subaccount(0).orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.60"), D(10)))
    prime.settle(ticker, "no")


def test_a_catch_up_on_one_subaccount_leaves_no_other_subaccounts_settlement_behind(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    (ticker,) = make_markets(prime, 1)
    number = funded_subaccount(client)
    _lost_on_subaccount_0(prime, client, ticker)
    now = time.time() + AHEAD_S
    catch_up(client.on_subaccount(number), store, now=now)  # a command on the other subaccount
    catch_up(client.on_subaccount(None), store, now=now + 1.0)  # then one on the account
    assert [(s.ticker, s.subaccount) for s in store.settlements.read()] == [(ticker, 0)]


def test_an_order_on_one_subaccount_is_refused_for_another_subaccounts_settled_loss(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    held, other = make_markets(prime, 2)
    number = funded_subaccount(client)
    _lost_on_subaccount_0(prime, client, held)
    service = OrderService(
        client.on_subaccount(number), store, limits=RiskLimits(daily_loss_limit=D(1))
    )
    with pytest.raises(ValidationError) as refused:
        service.prepare(OrderRequest(other, Side.YES, Action.BUY, D(1), D("0.10")))
    assert refused.value.code == "CIRCUIT_BREAKER"
    assert [(s.ticker, s.subaccount) for s in store.settlements.read()] == [(held, 0)]
