"""`GET /portfolio/settlements` takes `min_ts` ("Filter items after this Unix timestamp",
openapi.yaml `GetSettlements`, `MinTsQuery`), matched against each settlement's
`settled_time`, as the client asks it (`iter_settlements(min_ts=...)`): a settlement is listed
from the second it settled in, and not after it."""

from __future__ import annotations

import math
from decimal import Decimal as D

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.vocabulary.clock import parse_iso
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import another_accounts_order, make_markets


def test_settlements_are_listed_since_the_second_they_settled_in(
    prime: SimHarness, client: KalshiClient
) -> None:
    first, second = make_markets(prime, 2)
    for ticker in (first, second):
        another_accounts_order(prime, ticker, BookSide.ASK, "0.40", 1)
        client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(1)))
    prime.settle(first, "yes")
    prime.settle(second, "no")
    listed = {s.ticker: s for s in client.portfolio.iter_settlements()}
    settled = math.floor(parse_iso(listed[second].settled_time).timestamp())
    since = {s.ticker for s in client.portfolio.iter_settlements(min_ts=settled)}
    assert second in since
    assert since <= {first, second}
    after = {s.ticker for s in client.portfolio.iter_settlements(min_ts=settled + 1)}
    assert second not in after
    assert first not in after  # settled before the second one
