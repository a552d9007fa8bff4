"""A listing answer whose list the spec requires, left out, is an answer that cannot be read (a
KalshiError), never an empty list: `200 {}` to the listing of resting orders once let the kill
switch prove nothing rests. A null list is none (Go encodes an empty slice as null), and so is a
missing list where the spec lets the answer leave it out (the order groups').

Every listing the client reads is answered `{}` here, and whether it must fail is read from the
pinned spec (docs/kalshi-api/openapi.yaml), so a listing added or a spec moved on is held to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.keys import generate_private_key
from tests.openapi_check import raw_spec

BASE = "https://exchange.test/trade-api/v2"
Read = Callable[[KalshiClient], object]

# each listing the client reads: the path it asks, the list it reads, and a call that reads it
LISTINGS: list[tuple[str, str, Read]] = [
    ("/portfolio/orders", "orders", lambda c: list(c.orders.iter_orders(status="resting"))),
    ("/portfolio/positions", "market_positions", lambda c: c.portfolio.get_positions()),
    ("/portfolio/fills", "fills", lambda c: list(c.portfolio.iter_fills())),
    ("/portfolio/settlements", "settlements", lambda c: list(c.portfolio.iter_settlements())),
    ("/portfolio/order_groups", "order_groups", lambda c: c.order_groups.list_order_groups()),
    ("/historical/markets", "markets", lambda c: list(c.historical.iter_historical_markets())),
    ("/historical/trades", "trades", lambda c: list(c.historical.iter_historical_trades())),
    ("/historical/trades", "trades", lambda c: c.historical.get_trades_page(historical=True)),
    ("/historical/fills", "fills", lambda c: list(c.historical.iter_historical_fills())),
    ("/historical/orders", "orders", lambda c: list(c.historical.iter_historical_orders())),
    (
        "/historical/positions",
        "market_positions",
        lambda c: list(c.historical.iter_historical_positions()),
    ),
    ("/communications/rfqs", "rfqs", lambda c: list(c.communications.iter_rfqs())),
    ("/communications/quotes", "quotes", lambda c: list(c.communications.iter_quotes())),
    (
        "/events/fee_changes",
        "event_fee_changes",
        lambda c: list(c.exchange.iter_event_fee_changes()),
    ),
    ("/markets", "markets", lambda c: c.markets.get_markets_page()),
    ("/events", "events", lambda c: list(c.markets.iter_events())),
    ("/markets/trades", "trades", lambda c: list(c.markets.iter_trades())),
    (
        "/series/{series_ticker}/markets/{ticker}/candlesticks",
        "candlesticks",
        lambda c: c.markets.get_market_candlesticks(
            "KXT", "KXT-A", start_ts=0, end_ts=60, period_minutes=1
        ),
    ),
    (
        "/portfolio/subaccounts/balances",
        "subaccount_balances",
        lambda c: c.subaccounts.subaccount_balances(),
    ),
    (
        "/portfolio/subaccounts/transfers",
        "transfers",
        lambda c: c.subaccounts.subaccount_transfers(),
    ),
    ("/api_keys", "api_keys", lambda c: c.api_keys.list_api_keys()),
]


def _resolved(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        found: Any = raw_spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            found = found[part]
        node = found
    return node


def _spec_requires(path: str, key: str) -> bool:
    answer = _resolved(raw_spec()["paths"][path]["get"]["responses"]["200"])
    schema = _resolved(answer["content"]["application/json"]["schema"])
    assert _resolved(schema["properties"][key]).get("type") == "array", (path, key)
    return key in schema.get("required", [])


def _client(
    answer: Callable[[httpx.Request], dict[str, Any]], asked: list[str] | None = None
) -> KalshiClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if asked is not None:
            asked.append(request.url.path.removeprefix("/trade-api/v2"))
        return httpx.Response(200, json=answer(request))

    return KalshiClient(
        api_base=BASE,
        key_id="key-1",
        private_key=generate_private_key(),
        max_attempts=1,
        transport=httpx.MockTransport(handler),
    )


@pytest.mark.parametrize(
    ("path", "key", "read"), LISTINGS, ids=[f"{p} {k}" for p, k, _ in LISTINGS]
)
def test_a_listing_without_its_list_fails_exactly_where_the_spec_requires_the_list(
    path: str, key: str, read: Read
) -> None:
    asked: list[str] = []
    with _client(lambda _request: {}, asked) as client:
        if _spec_requires(path, key):
            with pytest.raises(KalshiError, match=key):
                read(client)
        else:
            assert not read(client)
    # the spec's path is the one the call read, so the table above cannot drift from the client
    assert [re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", path), a) is not None for a in asked] == [True]


@pytest.mark.parametrize(
    ("path", "key", "read"), LISTINGS, ids=[f"{p} {k}" for p, k, _ in LISTINGS]
)
def test_a_listing_whose_list_is_null_lists_none(path: str, key: str, read: Read) -> None:
    def answer(_request: httpx.Request) -> dict[str, Any]:
        # the other fields the spec requires, so that only the list is in question
        return {"ticker": "KXT-A", "cursor": "", "event_positions": [], key: None}

    with _client(answer) as client:
        listed = read(client)
    assert not (listed[0] if isinstance(listed, tuple) else listed)


def test_a_resting_listing_answered_with_no_orders_list_is_refused_and_null_is_none() -> None:
    with _client(lambda _request: {}) as client, pytest.raises(KalshiError, match="orders"):
        list(client.orders.iter_orders(status="resting"))
    with _client(lambda _request: {"orders": None, "cursor": ""}) as client:
        assert list(client.orders.iter_orders(status="resting")) == []


def test_the_order_groups_listing_may_leave_its_list_out() -> None:
    """GetOrderGroupsResponse requires no field: an answer without `order_groups` lists none."""
    assert not _spec_requires("/portfolio/order_groups", "order_groups")
    with _client(lambda _request: {}) as client:
        assert client.order_groups.list_order_groups() == []
    with _client(lambda _request: {"order_groups": None}) as client:
        assert client.order_groups.list_order_groups() == []
