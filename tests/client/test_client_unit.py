"""KalshiClient against an in-process fake exchange (httpx.MockTransport) on a ManualClock."""

from __future__ import annotations

import json
import random
import ssl
from collections.abc import Callable
from decimal import Decimal
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.connection import withdrawn_when
from kalshi_cli.client.ratelimit import BucketLimit, TierLimits
from kalshi_cli.client.requests import AmendOrder, CreateOrder
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import (
    AmendOutcomeUnknown,
    AuthError,
    BadRequestError,
    ConflictError,
    CredentialsError,
    ForbiddenError,
    KalshiError,
    NotFoundError,
    OrderOutcomeUnknown,
    RateLimitedError,
    RequestWithdrawn,
    ServerError,
    TransportError,
    ValidationError,
)
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    generate_private_key,
    verify_signature,
)
from kalshi_cli.vocabulary.units import Action, BookSide, Side

BASE = "https://exchange.test/trade-api/v2"
Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    made = generate_private_key()
    assert isinstance(made, rsa.RSAPrivateKey)
    return made


def _market(ticker: str, **extra: Any) -> dict[str, Any]:
    return {
        "ticker": ticker,
        "event_ticker": "KXEV",
        "status": "active",
        "yes_bid_dollars": "0.4200",
        "yes_ask_dollars": "0.4500",
        "no_bid_dollars": "0.5500",
        "no_ask_dollars": "0.5800",
        "last_price_dollars": "0.4300",
        "volume_fp": "1234.00",
        "price_level_structure": "linear_cent",
        "price_ranges": [{"start": "0.0100", "end": "0.9900", "step": "0.0100"}],
        **extra,
    }


def _order(order_id: str, coid: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "client_order_id": coid,
        "ticker": "KXT",
        "outcome_side": "yes",
        "book_side": "bid",
        "status": "resting",
        "yes_price_dollars": "0.4000",
        "no_price_dollars": "0.6000",
        "fill_count_fp": "0.00",
        "remaining_count_fp": "5.00",
        "initial_count_fp": "5.00",
    }


class FakeExchange:
    """Routes by (method, path); each route answers from a script, then with its default."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []
        self.scripts: dict[tuple[str, str], list[Reply]] = {}
        self.defaults: dict[tuple[str, str], Reply] = {}

    def on(self, method: str, path: str, *replies: Reply, default: Reply | None = None) -> None:
        self.scripts[(method, "/trade-api/v2" + path)] = list(replies)
        if default is not None:
            self.defaults[(method, "/trade-api/v2" + path)] = default

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(self.clock.monotonic())
        route = (request.method, request.url.path)
        script = self.scripts.get(route)
        reply = script.pop(0) if script else self.defaults.get(route)
        if reply is None:
            return httpx.Response(404, json={"code": "not_found", "message": "no such route"})
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        return reply

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [
            r for r in self.requests if (r.method, r.url.path) == (method, "/trade-api/v2" + path)
        ]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> FakeExchange:
    return FakeExchange(clock)


@pytest.fixture
def client(fake: FakeExchange, clock: ManualClock, key: rsa.RSAPrivateKey) -> KalshiClient:
    return KalshiClient(
        api_base=BASE,
        key_id="key-1",
        private_key=key,
        clock=clock,
        transport=httpx.MockTransport(fake.handler),
        rng=random.Random(3),
    )


def _ok(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


# ------------------------------------------------------------------------------------------
# signing and credentials


def test_every_request_is_signed_over_the_full_path_without_the_query(
    client: KalshiClient, fake: FakeExchange, key: rsa.RSAPrivateKey, clock: ManualClock
) -> None:
    fake.on("GET", "/portfolio/orders", default=_ok({"orders": [], "cursor": ""}))
    list(client.orders.iter_orders(ticker="KXT", status="resting"))
    request = fake.requests[0]
    assert request.url.params["ticker"] == "KXT"
    assert request.headers[HEADER_KEY] == "key-1"
    timestamp = request.headers[HEADER_TIMESTAMP]
    assert timestamp == str(int(clock.wall() * 1000))
    message = f"{timestamp}GET/trade-api/v2/portfolio/orders"
    assert verify_signature(key.public_key(), message, request.headers[HEADER_SIGNATURE])
    assert request.headers["User-Agent"].startswith("kalshi-cli/")


def test_retries_are_signed_afresh(
    client: KalshiClient, fake: FakeExchange, key: rsa.RSAPrivateKey
) -> None:
    fake.on("GET", "/portfolio/balance", _ok({}, 503), _ok({"balance": 100, "updated_ts": 1}))
    client.portfolio.get_balance()
    first, second = fake.requests
    assert int(second.headers[HEADER_TIMESTAMP]) > int(first.headers[HEADER_TIMESTAMP])
    message = f"{second.headers[HEADER_TIMESTAMP]}GET/trade-api/v2/portfolio/balance"
    assert verify_signature(key.public_key(), message, second.headers[HEADER_SIGNATURE])


def test_without_a_key_public_reads_go_unsigned_and_portfolio_calls_are_refused(
    fake: FakeExchange, clock: ManualClock
) -> None:
    client = KalshiClient(api_base=BASE, clock=clock, transport=httpx.MockTransport(fake.handler))
    assert not client.authenticated
    fake.on("GET", "/markets/KXA", default=_ok({"market": _market("KXA")}))
    fake.on("GET", "/markets/KXA/orderbook", default=_ok({"orderbook_fp": {}}))
    client.markets.get_market("KXA")
    client.markets.get_orderbook("KXA")  # public since API 3.31.0
    assert all(HEADER_SIGNATURE not in r.headers for r in fake.requests)
    with pytest.raises(CredentialsError, match="needs an API key"):
        client.portfolio.get_balance()
    with pytest.raises(CredentialsError):
        client.orders.create_order(
            CreateOrder(
                ticker="KXA", book_side=BookSide.BID, price=Decimal("0.5"), count=Decimal(1)
            )
        )
    assert len(fake.requests) == 2


def test_a_key_id_without_a_key_is_refused(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(CredentialsError):
        KalshiClient(api_base=BASE, key_id="k")
    with pytest.raises(CredentialsError):
        KalshiClient(api_base=BASE, private_key=key)


def test_the_key_never_shows_in_repr(client: KalshiClient) -> None:
    assert "PRIVATE" not in repr(client)
    assert "key-1" not in repr(client)


# ------------------------------------------------------------------------------------------
# models and typed errors


def test_market_prices_are_decimal_and_new_fields_are_ignored(
    client: KalshiClient, fake: FakeExchange
) -> None:
    fake.on(
        "GET",
        "/markets/KXA",
        _ok({"market": _market("KXA", outcome_side="yes", book_side="bid", brand_new={"x": 1})}),
    )
    market = client.markets.get_market("KXA")
    assert market.yes_bid == Decimal("0.42")
    assert isinstance(market.yes_bid, Decimal)
    assert market.volume == Decimal("1234")
    assert market.raw["brand_new"] == {"x": 1}


def test_orders_read_with_book_side_and_outcome_side(
    client: KalshiClient, fake: FakeExchange
) -> None:
    fake.on("GET", "/portfolio/orders/o1", _ok({"order": _order("o1", "c1") | {"new": 1}}))
    order = client.orders.get_order("o1")
    assert order.book_side is BookSide.BID
    assert order.remaining_count == Decimal("5")


def test_unknown_ticker_says_so(client: KalshiClient, fake: FakeExchange) -> None:
    fake.on("GET", "/markets/NOPE", _ok({"error": {"code": "not_found", "message": "x"}}, 404))
    with pytest.raises(NotFoundError) as info:
        client.markets.get_market("NOPE")
    assert info.value.message == "unknown ticker NOPE"
    assert info.value.status == 404
    assert len(fake.requests) == 1  # a 404 is not retried


@pytest.mark.parametrize(
    ("status", "body", "error_type", "text"),
    [
        (400, {"code": "invalid_parameters", "message": "bad limit"}, BadRequestError, "bad limit"),
        (401, {"error": {"code": "auth", "message": "invalid signature"}}, AuthError, "invalid"),
        (409, {"error": {"code": "dup", "message": "duplicate"}}, ConflictError, "duplicate"),
        (429, {"error": "too many requests"}, RateLimitedError, "too many requests"),
        (500, {"code": "internal", "message": "boom"}, ServerError, "boom"),
    ],
)
def test_error_bodies_in_any_shape_become_typed_errors(
    client: KalshiClient,
    fake: FakeExchange,
    *,
    status: int,
    body: dict[str, Any],
    error_type: type[KalshiError],
    text: str,
) -> None:
    fake.on("GET", "/account/limits", default=_ok(body, status))
    with pytest.raises(error_type) as info:
        client.exchange.get_account_limits()
    assert text in info.value.message
    assert f"HTTP {status}" in info.value.message
    assert "\n" not in info.value.one_line()


def test_a_stale_timestamp_401_points_at_the_clock(
    client: KalshiClient, fake: FakeExchange
) -> None:
    body = {"error": {"code": "header_timestamp_expired", "message": "header timestamp expired"}}
    fake.on("GET", "/portfolio/balance", _ok(body, 401))
    with pytest.raises(AuthError) as info:
        client.portfolio.get_balance()
    assert "clock" in (info.value.hint or "")


def test_transport_failure_is_one_line_naming_the_host_and_the_fix(
    client: KalshiClient, fake: FakeExchange
) -> None:
    fake.on("GET", "/exchange/status", default=httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(TransportError) as info:
        client.exchange.get_exchange_status()
    line = info.value.one_line()
    assert "exchange.test" in line
    assert "Connection refused" in line
    assert "kalshi health-check" in line
    assert "\n" not in line
    assert len(fake.requests) == 4  # retried up to max_attempts


def test_a_read_timeout_names_the_timeout(
    fake: FakeExchange, clock: ManualClock, key: rsa.RSAPrivateKey
) -> None:
    client = KalshiClient(
        api_base=BASE,
        key_id="k",
        private_key=key,
        clock=clock,
        timeout=2.5,
        max_attempts=1,
        transport=httpx.MockTransport(fake.handler),
    )
    fake.on("GET", "/exchange/status", httpx.ReadTimeout("timed out"))
    with pytest.raises(TransportError, match=r"no response within 2\.5s"):
        client.exchange.get_exchange_status()


# ------------------------------------------------------------------------------------------
# retries


def test_gets_are_retried_through_5xx_and_429(
    client: KalshiClient, fake: FakeExchange, clock: ManualClock
) -> None:
    fake.on(
        "GET",
        "/markets/KXA",
        _ok({}, 502),
        _ok({"error": "too many requests"}, 429),
        _ok({"market": _market("KXA")}),
    )
    assert client.markets.get_market("KXA").ticker == "KXA"
    assert len(fake.requests) == 3
    assert fake.times[2] > fake.times[1] > fake.times[0]  # waited between attempts


def test_gets_give_up_after_max_attempts(client: KalshiClient, fake: FakeExchange) -> None:
    fake.on("GET", "/exchange/status", default=_ok({"code": "unavailable"}, 503))
    with pytest.raises(ServerError):
        client.exchange.get_exchange_status()
    assert len(fake.requests) == 4


def test_cancels_are_retried(client: KalshiClient, fake: FakeExchange) -> None:
    fake.on(
        "DELETE",
        "/portfolio/events/orders/o1",
        _ok({}, 500),
        _ok({"order_id": "o1", "reduced_by": "5.00", "ts_ms": 1}),
    )
    result = client.orders.cancel_order("o1", ticker="KXT")
    assert result.reduced_by == Decimal("5")
    assert [r.url.params["market_ticker"] for r in fake.requests] == ["KXT", "KXT"]


def test_amend_is_not_resent_after_a_5xx_but_is_after_a_429(
    client: KalshiClient, fake: FakeExchange
) -> None:
    path = "/portfolio/events/orders/o1/amend"
    fake.on("POST", path, _ok({}, 500))
    terms = AmendOrder("KXT", BookSide.BID, Decimal("0.41"), Decimal(5))
    with pytest.raises(AmendOutcomeUnknown):
        client.orders.amend_order("o1", terms)
    assert len(fake.sent("POST", path)) == 1
    fake.on(
        "POST", path, _ok({"error": "too many requests"}, 429), _ok({"order_id": "o1", "ts_ms": 2})
    )
    assert client.orders.amend_order("o1", terms).order_id == "o1"
    sent = fake.sent("POST", path)
    assert len(sent) == 3
    assert json.loads(sent[-1].content) == {
        "ticker": "KXT",
        "side": "bid",
        "price": "0.4100",
        "count": "5.00",
    }


# ------------------------------------------------------------------------------------------
# creating orders: never re-sent


def _new_order() -> CreateOrder:
    return CreateOrder(
        ticker="KXT",
        book_side=BookSide.ASK,
        price=Decimal("0.60"),
        count=Decimal(3),
        client_order_id="coid-7",
    )


ORDERS = "/portfolio/events/orders"


def test_create_order_sends_the_body_once_and_parses_the_result(
    client: KalshiClient, fake: FakeExchange
) -> None:
    fake.on(
        "POST",
        ORDERS,
        _ok(
            {
                "order_id": "o9",
                "client_order_id": "coid-7",
                "fill_count": "1.00",
                "remaining_count": "2.00",
                "average_fill_price": "0.6000",
                "average_fee_paid": "0.0200",
                "ts_ms": 5,
            },
            201,
        ),
    )
    result = client.orders.create_order(_new_order())
    assert (result.order_id, result.fill_count, result.remaining_count) == (
        "o9",
        Decimal(1),
        Decimal(2),
    )
    (request,) = fake.requests
    assert json.loads(request.content) == _new_order().to_api()


def test_an_order_request_withdrawn_while_it_waits_its_turn_never_leaves(
    fake: FakeExchange, clock: ManualClock, key: rsa.RSAPrivateKey
) -> None:
    """Under `withdrawn_when`, a request is withdrawn if its caller no longer wants it once the
    rate limiter gives it its turn: the trade loop's stop begins while an order waits for a
    write token, and that order never reaches the exchange."""
    client = KalshiClient(
        api_base=BASE,
        key_id="key-1",
        private_key=key,
        clock=clock,
        transport=httpx.MockTransport(fake.handler),
        # room for one order at once (10 tokens of 18), the next after a wait for 2 more
        rate_limits=TierLimits(BucketLimit(20, 20), BucketLimit(10, 20)),
    )
    created = {"order_id": "o9", "client_order_id": "coid-7", "fill_count": "0.00"}
    fake.on("POST", ORDERS, default=_ok({**created, "remaining_count": "3.00"}, 201))
    stop_at = clock.monotonic() + 0.1  # the stop begins a tenth of a second from now
    with withdrawn_when(lambda: clock.monotonic() >= stop_at):
        client.orders.create_order(_new_order())  # the one write token: sent at once
        with pytest.raises(RequestWithdrawn):
            client.orders.create_order(_new_order())  # waits a fifth of a second for its turn
    assert len(fake.sent("POST", ORDERS)) == 1
    assert clock.monotonic() >= stop_at, "it was withdrawn after its wait, not before"


@pytest.mark.parametrize(
    ("reply", "error_type"),
    [
        (_ok({"error": "too many requests"}, 429), RateLimitedError),
        (
            _ok({"error": {"code": "duplicate", "message": "client_order_id used"}}, 409),
            ConflictError,
        ),
        (_ok({"code": "invalid_price", "message": "off the grid"}, 400), BadRequestError),
        (_ok({"code": "internal"}, 500), OrderOutcomeUnknown),
        (_ok({}, 503), OrderOutcomeUnknown),
        (httpx.ReadTimeout("timed out"), OrderOutcomeUnknown),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            OrderOutcomeUnknown,
        ),
        (httpx.WriteError("broken pipe"), OrderOutcomeUnknown),
        (httpx.ConnectError("refused"), TransportError),
    ],
)
def test_create_order_is_never_resent(
    client: KalshiClient, fake: FakeExchange, reply: Reply, error_type: type[KalshiError]
) -> None:
    fake.on("POST", ORDERS, default=reply)
    with pytest.raises(error_type) as info:
        client.orders.create_order(_new_order())
    assert len(fake.requests) == 1
    if error_type is OrderOutcomeUnknown:
        assert isinstance(info.value, OrderOutcomeUnknown)
        assert info.value.client_order_id == "coid-7"
        assert "coid-7" in info.value.message
    elif error_type is TransportError:
        assert not isinstance(info.value, OrderOutcomeUnknown)  # nothing reached the exchange


def test_an_unreadable_201_is_an_unknown_outcome(client: KalshiClient, fake: FakeExchange) -> None:
    fake.on("POST", ORDERS, httpx.Response(201, text="<html>"))
    with pytest.raises(OrderOutcomeUnknown):
        client.orders.create_order(_new_order())


def test_find_order_by_client_id_reconciles_across_pages(
    client: KalshiClient, fake: FakeExchange
) -> None:
    fake.on(
        "GET",
        "/portfolio/orders",
        _ok({"orders": [_order("o1", "other")], "cursor": "p2"}),
        _ok({"orders": [_order("o2", "coid-7")], "cursor": ""}),
        _ok({"orders": [], "cursor": ""}),
    )
    found = client.orders.find_order_by_client_id("coid-7", "KXT")
    assert found is not None
    assert found.order_id == "o2"
    assert fake.requests[0].url.params["ticker"] == "KXT"
    assert client.orders.find_order_by_client_id("coid-7", "KXT") is None


# ------------------------------------------------------------------------------------------
# rate limiting


def test_a_burst_is_paced_to_the_tier_before_sending(
    client: KalshiClient, fake: FakeExchange
) -> None:
    fake.on("GET", "/markets/KXA", default=_ok({"market": _market("KXA")}))
    for _ in range(200):
        client.markets.get_market("KXA")
    assert len(fake.requests) == 200
    # basic: a 200-token bucket refilled at 200/s; 10 tokens a request. Between any two
    # requests, what was spent never exceeds the capacity plus the refill in between.
    times = fake.times
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            assert (j - i + 1) * 10 <= 200 + 200 * (times[j] - start)
    assert times[-1] >= (2000 - 200) / 200  # paced, not bunched


def test_a_429_empties_our_bucket_too(
    fake: FakeExchange, clock: ManualClock, key: rsa.RSAPrivateKey
) -> None:
    limits = TierLimits(BucketLimit(100, 100), BucketLimit(100, 100))
    client = KalshiClient(
        api_base=BASE,
        key_id="k",
        private_key=key,
        clock=clock,
        rate_limits=limits,
        transport=httpx.MockTransport(fake.handler),
        rng=random.Random(1),
    )
    fake.on("GET", "/exchange/status", _ok({}, 429), _ok({"exchange_active": True}))
    client.exchange.get_exchange_status()
    # the retry waited at least for 10 tokens to refill at 95 tokens/s
    assert fake.times[1] - fake.times[0] >= 10 / 95


def test_write_buckets_are_separate_from_reads(
    fake: FakeExchange, clock: ManualClock, key: rsa.RSAPrivateKey
) -> None:
    limits = TierLimits(BucketLimit(1000, 1000), BucketLimit(20, 20))
    client = KalshiClient(
        api_base=BASE,
        key_id="k",
        private_key=key,
        clock=clock,
        rate_limits=limits,
        transport=httpx.MockTransport(fake.handler),
    )
    fake.on("DELETE", ORDERS, default=httpx.Response(204))
    fake.on("GET", "/exchange/status", default=_ok({"exchange_active": True}))
    for _ in range(9):  # 9 x 2 tokens fit in 18
        client.orders.cancel_all_orders()
    assert clock.monotonic() == 0
    client.orders.cancel_all_orders()
    write_wait = clock.monotonic()
    assert write_wait > 0
    client.exchange.get_exchange_status()
    assert clock.monotonic() == write_wait  # reads did not wait on the write bucket


# ------------------------------------------------------------------------------------------
# pagination through the client


def test_iter_markets_follows_cursors_and_reports_progress(
    client: KalshiClient, fake: FakeExchange
) -> None:
    pages = {
        None: ([_market(f"KX{i}") for i in range(3)], "c1"),
        "c1": ([_market(f"KX{i}") for i in range(3, 6)], "c2"),
        "c2": ([_market("KX6")], ""),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        items, cursor = pages[request.url.params.get("cursor")]
        return _ok({"markets": items, "cursor": cursor})

    fake.on("GET", "/markets", default=answer)
    progress: list[int] = []
    tickers = [
        m.ticker
        for m in client.markets.iter_markets(status="open", page_size=3, on_page=progress.append)
    ]
    assert tickers == [f"KX{i}" for i in range(7)]
    assert progress == [3, 6, 7]
    assert all(r.url.params["status"] == "open" for r in fake.requests)
    assert [r.url.params["limit"] for r in fake.requests] == ["3", "3", "3"]


def test_a_repeated_cursor_stops_the_listing(client: KalshiClient, fake: FakeExchange) -> None:
    fake.on("GET", "/portfolio/fills", default=_ok({"fills": [], "cursor": "same"}))
    with pytest.raises(KalshiError, match="pagination cursor repeated"):
        list(client.portfolio.iter_fills())
    assert len(fake.requests) == 2


def test_positions_skip_flat_markets(client: KalshiClient, fake: FakeExchange) -> None:
    def pos(ticker: str, count: str) -> dict[str, Any]:
        return {
            "ticker": ticker,
            "position_fp": count,
            "market_exposure_dollars": "1.0000",
            "realized_pnl_dollars": "0.0000",
            "fees_paid_dollars": "0.0000",
            "total_traded_dollars": "1.0000",
        }

    fake.on(
        "GET",
        "/portfolio/positions",
        _ok(
            {
                "market_positions": [pos("A", "5.00"), pos("B", "0.00")],
                "event_positions": [],
                "cursor": "n",
            }
        ),
        _ok({"market_positions": [pos("C", "-2.00")], "event_positions": [], "cursor": ""}),
    )
    positions = client.portfolio.get_positions()
    assert [(p.ticker, p.position) for p in positions] == [("A", Decimal(5)), ("C", Decimal(-2))]
    assert fake.requests[0].url.params["count_filter"] == "position"


def test_batch_cancel_is_chunked_and_reports_per_order_errors(
    client: KalshiClient, fake: FakeExchange
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        orders = json.loads(request.content)["orders"]
        items = [
            {"order_id": o["order_id"], "reduced_by": "1.00"}
            if o["order_id"] != "o7"
            else {"order_id": "o7", "reduced_by": "0.00", "error": {"message": "not found"}}
            for o in orders
        ]
        return _ok({"orders": items})

    fake.on("DELETE", "/portfolio/events/orders/batched", default=answer)
    # a request carries what the write budget pays for: at Basic 100 tokens, the client's copy
    # 90% of them, 2 a cancel (openapi.yaml: the maximum "scales with your tier's write budget")
    size = client.orders.batch_cancel_size()
    assert size == 45
    orders = [(f"o{i}", "KXT" if i % 2 else None) for i in range(2 * size + 5)]
    results = client.orders.batch_cancel(orders)
    assert [r.order_id for r in results] == [o for o, _ in orders]
    assert [len(json.loads(r.content)["orders"]) for r in fake.requests] == [size, size, 5]
    first = json.loads(fake.requests[0].content)["orders"][:2]
    assert first == [{"order_id": "o0"}, {"order_id": "o1", "market_ticker": "KXT"}]
    assert results[7].error == "not found"
    assert sum(r.reduced_by for r in results) == len(orders) - 1


def test_decrease_needs_exactly_one_amount(client: KalshiClient, fake: FakeExchange) -> None:
    with pytest.raises(ValidationError):
        client.orders.decrease_order("o1")
    with pytest.raises(ValidationError):
        client.orders.decrease_order("o1", reduce_by=Decimal(1), reduce_to=Decimal(2))
    fake.on(
        "POST",
        "/portfolio/events/orders/o1/decrease",
        default=_ok({"order_id": "o1", "remaining_count": "0.00", "ts_ms": 1}),
    )
    decreased = client.orders.decrease_order("o1", reduce_to=Decimal(0))
    assert (decreased.order_id, decreased.remaining_count) == ("o1", Decimal(0))
    assert json.loads(fake.requests[0].content) == {"reduce_to": "0.00"}


def test_a_decrease_answer_that_says_what_rests_is_read_whatever_its_ts_ms(
    client: KalshiClient, fake: FakeExchange
) -> None:
    """What rests now is what a decrease's answer is for: a null `ts_ms` beside it does not
    make the outcome unknown."""
    fake.on(
        "POST",
        "/portfolio/events/orders/o1/decrease",
        default=_ok({"order_id": "o1", "remaining_count": "2.00", "ts_ms": None}),
    )
    decreased = client.orders.decrease_order("o1", reduce_by=Decimal(1))
    assert decreased.remaining_count == Decimal(2)


# ------------------------------------------------------------------------------------------
# diagnostics


def test_clock_skew_from_the_date_header(
    client: KalshiClient, fake: FakeExchange, clock: ManualClock
) -> None:
    server_now = clock.wall() + 42
    fake.on(
        "GET",
        "/exchange/status",
        _ok({"exchange_active": True}, Date=formatdate(server_now, usegmt=True)),
        _ok({"exchange_active": True}),
    )
    assert client.exchange.clock_skew_seconds() == pytest.approx(42.5, abs=0.51)
    # unsigned, so a clock bad enough to be refused can still be measured
    assert HEADER_SIGNATURE not in fake.requests[0].headers
    with pytest.raises(KalshiError, match="no Date header"):
        client.exchange.clock_skew_seconds()


@pytest.mark.usefixtures("new_york")
def test_clock_skew_reads_a_date_header_as_utc_on_a_machine_in_new_york(
    client: KalshiClient, fake: FakeExchange, clock: ManualClock
) -> None:
    # `-0000` is UTC too; read as New York time it would put the exchange five hours ahead
    server_now = clock.wall() + 42
    fake.on("GET", "/exchange/status", _ok({"exchange_active": True}, Date=formatdate(server_now)))
    assert client.exchange.clock_skew_seconds() == pytest.approx(42.5, abs=0.51)


def test_last_latency_is_measured(
    client: KalshiClient, fake: FakeExchange, clock: ManualClock
) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        clock.advance(0.25)
        return _ok({"exchange_active": True})

    assert client.last_latency_ms is None
    fake.on("GET", "/exchange/status", slow)
    client.exchange.get_exchange_status()
    assert client.last_latency_ms == pytest.approx(250.0)


def test_orderbook_levels_are_decimal_best_first_and_depth_is_passed(
    client: KalshiClient, fake: FakeExchange
) -> None:
    book = {
        "orderbook_fp": {
            "yes_dollars": [["0.3900", "10.00"], ["0.4100", "2.50"]],
            "no_dollars": [["0.5500", "7.00"]],
        }
    }
    fake.on("GET", "/markets/KXA/orderbook", _ok(book))
    orderbook = client.markets.get_orderbook("KXA", depth=5)
    assert fake.requests[0].url.params["depth"] == "5"
    assert orderbook.best_yes_bid == (Decimal("0.41"), Decimal("2.5"))
    assert orderbook.yes_ask == (Decimal("0.45"), Decimal(7))


def test_unknown_event_and_order_say_so(client: KalshiClient, fake: FakeExchange) -> None:
    fake.on("GET", "/events/KXNOPE", _ok({"code": "not_found", "message": "x"}, 404))
    with pytest.raises(NotFoundError, match="unknown event KXNOPE"):
        client.markets.get_event("KXNOPE")
    fake.on("GET", "/portfolio/orders/o404", _ok({"code": "not_found", "message": "x"}, 404))
    with pytest.raises(NotFoundError, match="unknown order o404"):
        client.orders.get_order("o404")


# ------------------------------------------------------------------------------------------
# order writes: 503 and a 2xx without an order are unknown outcomes; 403 is a refusal


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"code": "gone", "message": "this path is retired"}},
        {"order_id": None, "fill_count": "0.00", "remaining_count": "3.00", "ts_ms": 5},
        {"order_id": "", "ts_ms": 5},
        {"order_id": "o9", "error": {"code": "internal", "message": "not placed"}},
        {},
    ],
)
def test_a_2xx_to_a_create_without_an_order_is_an_unknown_outcome(
    client: KalshiClient, fake: FakeExchange, body: dict[str, Any]
) -> None:
    fake.on("POST", ORDERS, default=_ok(body, 201))
    with pytest.raises(OrderOutcomeUnknown) as info:
        client.orders.create_order(_new_order())
    assert info.value.client_order_id == "coid-7"
    assert "no order" in info.value.message or "error" in info.value.message
    assert len(fake.requests) == 1


def test_a_2xx_without_an_order_is_resolved_by_lookup_never_resent(
    client: KalshiClient, fake: FakeExchange, tmp_path: Path
) -> None:
    fake.on("POST", ORDERS, default=_ok({"error": {"code": "gone", "message": "retired"}}, 200))
    fake.on("GET", "/portfolio/orders", default=_ok({"orders": [], "cursor": ""}))
    with Store.open(tmp_path / "s.db", clock=fake.clock) as store:
        service = OrderService(client, store, clock=fake.clock)
        with pytest.raises(OrderOutcomeUnknown):
            service.submit(_new_order(), side=Side.NO, action=Action.BUY)
        intent = store.orders.get_intent("coid-7")
        assert intent is not None and intent.status == "unknown"
    assert len(fake.sent("POST", ORDERS)) == 1
    assert len(fake.sent("GET", "/portfolio/orders")) == 1  # looked up by client order id


def test_a_403_to_a_create_is_a_refusal_with_its_own_exit_code(
    client: KalshiClient, fake: FakeExchange, tmp_path: Path
) -> None:
    body = {"error": {"code": "forbidden", "message": "key lacks write::trade"}}
    fake.on("POST", ORDERS, default=_ok(body, 403))
    with Store.open(tmp_path / "s.db", clock=fake.clock) as store:
        service = OrderService(client, store, clock=fake.clock)
        with pytest.raises(ForbiddenError) as info:
            service.submit(_new_order(), side=Side.NO, action=Action.BUY)
        intent = store.orders.get_intent("coid-7")
        assert intent is not None and intent.status == "rejected"
    assert info.value.exit_code is ExitCode.FORBIDDEN
    assert "write::trade" in info.value.message
    # sent once (the other request is the key's subaccount restriction, GET /api_keys)
    assert len(fake.sent("POST", ORDERS)) == 1


AMEND = "/portfolio/events/orders/o1/amend"
AMEND_TERMS = AmendOrder("KXT", BookSide.BID, Decimal("0.41"), Decimal(5))


@pytest.mark.parametrize(
    "reply",
    [
        _ok({"code": "service_unavailable", "message": "try later"}, 503),
        _ok({"error": {"code": "gone", "message": "retired"}}, 200),
        httpx.ReadTimeout("timed out"),
        # what rests now, garbled: the amend's effect is not known from it
        _ok({"order_id": "o1", "remaining_count": "three", "ts_ms": 1}, 200),
    ],
)
def test_an_amend_without_a_clear_answer_is_an_unknown_outcome_never_resent(
    client: KalshiClient, fake: FakeExchange, reply: Reply
) -> None:
    fake.on("POST", AMEND, default=reply)
    with pytest.raises(AmendOutcomeUnknown) as info:
        client.orders.amend_order("o1", AMEND_TERMS)
    assert info.value.order_id == "o1"
    assert info.value.exit_code is ExitCode.OUTCOME_UNKNOWN
    assert len(fake.sent("POST", AMEND)) == 1


def _tls_context(client: KalshiClient) -> ssl.SSLContext:
    transport = client.connection._http._transport
    context: ssl.SSLContext = transport._pool._ssl_context  # type: ignore[attr-defined]
    return context


def test_an_https_base_verifies_with_the_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    with KalshiClient(api_base="https://api.elections.kalshi.com/trade-api/v2") as client:
        context = _tls_context(client)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0


def test_a_plain_http_base_loads_no_ca_bundle_and_trusts_no_certificate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loading the CA bundle costs 40-70 ms of a cold start and plain HTTP never uses it; the
    context in its place fails closed (certificates still required, none trusted)."""
    for name in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    with KalshiClient(api_base="http://127.0.0.1:9/trade-api/v2") as client:
        context = _tls_context(client)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0


def test_a_plain_http_base_behind_a_proxy_keeps_the_ca_bundle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An https:// proxy from the environment is TLS even for an http base: the bundle stays."""
    monkeypatch.setenv("HTTPS_PROXY", "https://proxy.invalid:3128")
    with KalshiClient(api_base="http://127.0.0.1:9/trade-api/v2") as client:
        context = _tls_context(client)
    assert context.cert_store_stats()["x509_ca"] > 0


def test_a_cookie_the_exchange_sets_is_kept_and_sent_back(
    client: KalshiClient, fake: FakeExchange
) -> None:
    # the client's jar skips responses that set no cookie (a per-request saving); one that
    # does set a cookie is stored and sent as before
    fake.on("GET", "/markets/KXA", default=_ok({"market": _market("KXA")}))
    fake.on(
        "GET",
        "/markets/KXB",
        default=httpx.Response(
            200, json={"market": _market("KXB")}, headers={"Set-Cookie": "edge=abc; Path=/"}
        ),
    )
    client.markets.get_market("KXA")
    client.markets.get_market("KXB")
    client.markets.get_market("KXA")
    first, setting, after = fake.requests
    assert "cookie" not in first.headers and "cookie" not in setting.headers
    assert after.headers["cookie"] == "edge=abc"


def test_every_request_reaches_its_own_url_however_many_paths_were_asked_before(
    fake: FakeExchange, clock: ManualClock, key: rsa.RSAPrivateKey
) -> None:
    # the client keeps each path's parsed URL (a bounded cache, emptied when full): a path asked
    # again after the cache was emptied, and a path with a query, still go where they should
    from kalshi_cli.client.connection import URL_CACHE_MAX

    unlimited = TierLimits(BucketLimit(10**9, 10**9), BucketLimit(10**9, 10**9))
    client = KalshiClient(
        api_base=BASE,
        key_id="key-1",
        private_key=key,
        clock=clock,
        transport=httpx.MockTransport(
            lambda r: _ok({"market": _market(r.url.path.removeprefix("/trade-api/v2/markets/"))})
        ),
        rate_limits=unlimited,
    )
    tickers = [f"KXT-{n}" for n in range(URL_CACHE_MAX + 3)] + ["KXT-0", "KXT-1"]
    with client:
        assert [client.markets.get_market(t).ticker for t in tickers] == tickers
    fake.on("GET", "/markets", default=_ok({"markets": [], "cursor": ""}))
    paged = KalshiClient(api_base=BASE, clock=clock, transport=httpx.MockTransport(fake.handler))
    with paged:
        list(paged.markets.iter_markets(status="open", limit=5))
        list(paged.markets.iter_markets(status="closed", limit=5))
    assert [r.url.params.get("status") for r in fake.requests] == ["open", "closed"]
    assert {str(r.url).split("?")[0] for r in fake.requests} == {f"{BASE}/markets"}


def test_a_handle_on_a_subaccount_acts_on_it_and_never_moves_the_client_even_when_it_fails(
    fake: FakeExchange, clock: ManualClock, key: rsa.RSAPrivateKey
) -> None:
    """`on_subaccount(N)` (client/subaccounts.py): a second handle acting on N (None: the
    exchange's defaults) while the client stays on its own subaccount, before, during and after
    the handle's calls, a failed one included; the handle shares the client's rate limits (one
    write bucket drained by both) and its stats."""
    limits = TierLimits(BucketLimit(1000, 1000), BucketLimit(20, 20))
    client = KalshiClient(
        api_base=BASE,
        key_id="k",
        private_key=key,
        clock=clock,
        rate_limits=limits,
        transport=httpx.MockTransport(fake.handler),
    )
    empty = {"market_positions": [], "event_positions": [], "cursor": ""}
    fake.on("GET", "/portfolio/positions", default=_ok(empty))
    fake.on("DELETE", ORDERS, default=httpx.Response(204))
    client.subaccount = 3
    one, unnamed = client.on_subaccount(1), client.on_subaccount(None)
    assert (one.subaccount, unnamed.subaccount, client.subaccount) == (1, None, 3)
    one.portfolio.get_positions()
    unnamed.portfolio.get_positions()
    client.portfolio.get_positions()
    sent = [r.url.params.get("subaccount") for r in fake.sent("GET", "/portfolio/positions")]
    assert sent == ["1", None, "3"]
    # a call of the handle that fails leaves the client where it was
    fake.on("GET", "/portfolio/positions", _ok({"code": "bad_request", "message": "no"}, 400))
    with pytest.raises(BadRequestError):
        one.portfolio.get_positions()
    assert client.subaccount == 3
    client.portfolio.get_positions()
    assert fake.sent("GET", "/portfolio/positions")[-1].url.params["subaccount"] == "3"
    # one write bucket: 9 cancels (2 tokens each) through the handle fill it, so the client's
    # next write waits for the refill, as a tenth through the handle would
    for _ in range(9):
        one.orders.cancel_all_orders()
    assert clock.monotonic() == 0
    client.orders.cancel_all_orders()
    assert clock.monotonic() > 0
    assert [r.url.params.get("subaccount") for r in fake.sent("DELETE", ORDERS)] == [
        *["1"] * 9,
        "3",
    ]
    # one registry of stats: the handle's calls are counted where the client's are read
    counted = client.stats.snapshot()
    assert sum(sum(s.outcomes.values()) for s in counted.values()) == len(fake.requests)


def test_a_handle_on_a_subaccount_names_it_on_every_batch_item(
    client: KalshiClient, fake: FakeExchange
) -> None:
    """The batch writes name their subaccount per item, not in the query: a handle on 1 puts 1
    on every item of a batch create and a batch cancel; the client it came from, on none,
    sends its items as they were (the exchange reads an item naming none as subaccount 0's)."""
    batched = "/portfolio/events/orders/batched"
    fake.on("POST", batched, default=_ok({"orders": []}, 201))
    fake.on("DELETE", batched, default=_ok({"orders": []}))
    orders = [CreateOrder("KXT", BookSide.BID, Decimal("0.40"), Decimal(n)) for n in (1, 2)]
    pairs: list[tuple[str, str | None]] = [("o-1", "KXT"), ("o-2", None)]
    one = client.on_subaccount(1)
    for sender in (one, client):
        sender.orders.batch_create_orders(orders)
        sender.orders.batch_cancel(pairs)

    def named(method: str) -> list[list[int | None]]:
        sent = [json.loads(r.content)["orders"] for r in fake.sent(method, batched)]
        return [[item.get("subaccount") for item in items] for items in sent]

    assert named("POST") == [[1, 1], [None, None]]
    assert named("DELETE") == [[1, 1], [None, None]]
    assert all(not r.url.params for r in fake.sent("POST", batched) + fake.sent("DELETE", batched))
    assert client.subaccount is None


def test_a_handle_on_a_subaccount_keeps_the_subaccount_a_call_names(
    client: KalshiClient, fake: FakeExchange
) -> None:
    """A call through a handle on 1 that names a subaccount itself acts on that one: a cancel of
    subaccount 0's order, a group created on 0; one that names none acts on 1."""
    fake.on("DELETE", ORDERS + "/o-1", default=_ok({"order_id": "o-1", "reduced_by": "5.00"}))
    fake.on("POST", "/portfolio/order_groups/create", default=_ok({"order_group_id": "g"}, 201))
    one = client.on_subaccount(1)
    one.orders.cancel_order("o-1", subaccount=0)
    one.orders.cancel_order("o-1")
    one.order_groups.create_order_group(Decimal(5), subaccount=0)
    one.order_groups.create_order_group(Decimal(5))
    cancels = fake.sent("DELETE", ORDERS + "/o-1")
    assert [r.url.params["subaccount"] for r in cancels] == ["0", "1"]
    creates = fake.sent("POST", "/portfolio/order_groups/create")
    assert [json.loads(r.content)["subaccount"] for r in creates] == [0, 1]


@pytest.mark.parametrize("restriction", ["1", True, 1.0], ids=["text", "bool", "float"])
def test_a_key_restriction_outside_the_specs_shape_is_not_known(
    client: KalshiClient, fake: FakeExchange, restriction: Any
) -> None:
    """`ApiKey.subaccount` is an integer or null (openapi.yaml 3.31.0); anything else is not
    taken for a subaccount number (the caller then reads unnamed: never fewer orders), and the
    listing is not asked again."""
    keys = {"api_keys": [{"api_key_id": "key-1", "name": "k", "scopes": ["read"]}]}
    keys["api_keys"][0]["subaccount"] = restriction
    fake.on("GET", "/api_keys", default=_ok(keys))
    assert client.own_subaccount() is None
    assert client.own_subaccount() is None
    assert len(fake.sent("GET", "/api_keys")) == 1


def test_an_unrestricted_or_restricted_keys_own_subaccount(
    client: KalshiClient, fake: FakeExchange
) -> None:
    keys = {
        "api_keys": [
            {"api_key_id": "other", "name": "o", "scopes": ["read"], "subaccount": 7},
            {"api_key_id": "key-1", "name": "k", "scopes": ["read"], "subaccount": 3},
        ]
    }
    fake.on("GET", "/api_keys", default=_ok(keys))
    assert client.own_subaccount() == 3
    client.subaccount = 5
    assert client.own_subaccount() == 5


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (_ok({"error": "too many requests"}, 429), RateLimitedError),
        (_ok({"code": "internal_server_error", "message": "down"}, 500), ServerError),
        (httpx.ConnectError("connection refused"), TransportError),
    ],
    ids=["429", "5xx", "unreachable"],
)
def test_a_strict_key_restriction_the_exchange_could_not_answer_raises_its_error(
    client: KalshiClient, fake: FakeExchange, answer: Reply, error: type[Exception]
) -> None:
    """Asked strictly (the trade loop's start), an exchange that kept failing GET /api_keys
    (after the retries) is not an unknown restriction but an exchange that cannot be traded
    with: its error reaches the caller, with its exit code (`kalshi trade` with the exchange
    unreachable exits 7, not "cannot tell"), and nothing is cached, so the next call asks
    again. Not strictly (the order path, which must record and resolve its intents), it is an
    unknown restriction, as a refusal is."""
    fake.on("GET", "/api_keys", default=answer)
    with pytest.raises(error):
        client.own_subaccount(strict=True)
    keys = {"api_keys": [{"api_key_id": "key-1", "name": "k", "scopes": ["read"]}]}
    fake.on("GET", "/api_keys", default=_ok(keys))
    assert client.own_subaccount(strict=True) == 0  # the failure was not kept


def test_a_key_restriction_the_exchange_could_not_answer_is_unknown_to_the_order_path(
    client: KalshiClient, fake: FakeExchange
) -> None:
    fake.on("GET", "/api_keys", default=httpx.ConnectError("connection refused"))
    assert client.own_subaccount() is None
