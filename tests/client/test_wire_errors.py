"""The client understands every error shape and code Kalshi was seen to answer on the wire
(REFERENCE.md "Observed on the real wire"): nested `{"error": {...}}`, flat `{code, message,
details}`, bare `{"msg"}`; the typed error carries code, message and details from each, and the
one place the client branches on a code (the clock hint) uses Kalshi's code."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder, decode_cancel_result
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.errors import (
    ApiError,
    AuthError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    OrderOutcomeUnknown,
)
from kalshi_cli.vocabulary.keys import generate_private_key, load_private_key
from kalshi_cli.vocabulary.units import BookSide
from tests.client.test_client_sim import SkewedClock
from tests.conftest import SimHarness

T = "KXWIRE-26JAN01-A"

UNDECODABLE = (
    "json: cannot unmarshal number into Go struct field CreateOrderV2Request.count of type string"
)
BARE = (
    "Parameter validation failed for GetMarkets: Key: 'GetMarketsParams.Limit' "
    "Error:Field validation for 'Limit' failed on the 'lte' tag"
)


@pytest.mark.parametrize(
    ("status", "body", "kind", "code", "message", "details"),
    [
        (
            400,
            {
                "error": {
                    "code": "invalid_order",
                    "message": "invalid order",
                    "details": "post only cross",
                    "service": "exchange",
                }
            },
            BadRequestError,
            "invalid_order",
            "invalid order",
            "post only cross",
        ),
        (
            400,
            {"code": "bad_request", "message": "bad request", "details": UNDECODABLE},
            BadRequestError,
            "bad_request",
            "bad request",
            UNDECODABLE,
        ),
        (400, {"msg": BARE}, BadRequestError, None, BARE, None),
        (
            401,
            {
                "error": {
                    "code": "authentication_error",
                    "message": "authentication error",
                    "details": "INCORRECT_API_KEY_SIGNATURE",
                }
            },
            AuthError,
            "authentication_error",
            "authentication error",
            "INCORRECT_API_KEY_SIGNATURE",
        ),
        (
            409,
            {"error": {"code": "order_already_exists", "message": "order already exists"}},
            ConflictError,
            "order_already_exists",
            "order already exists",
            None,
        ),
        (
            404,
            {"error": {"code": "not_found", "message": "not found"}},
            NotFoundError,
            "not_found",
            "not found",
            None,
        ),
    ],
    ids=["nested", "flat", "bare", "auth", "conflict", "not-found"],
)
def test_every_wire_shape_becomes_a_typed_error_with_its_fields(
    *,
    status: int,
    body: dict[str, Any],
    kind: type[ApiError],
    code: str | None,
    message: str,
    details: str | None,
) -> None:
    error = ApiError.from_response(status, body, what="request")
    assert type(error) is kind
    assert (error.status, error.code, error.exchange_message, error.details) == (
        status,
        code,
        message,
        details,
    )
    assert message in error.message
    if details:
        assert details in error.message  # a person sees the detail that says what is wrong
    assert "\n" not in error.one_line()


def test_a_batch_item_error_is_read_in_either_object_shape() -> None:
    flat = {"order_id": "o1", "error": {"code": "not_found", "message": "not found"}}
    nested = {"order_id": "o1", "error": {"error": {"code": "not_found", "message": "not found"}}}
    assert decode_cancel_result(flat).error == "not_found: not found"
    assert decode_cancel_result(nested).error == "not_found: not found"


def _client(account: AccountInfo, **kwargs: Any) -> KalshiClient:
    key, _ = load_private_key(path=account.private_key_path)
    return KalshiClient(api_base=account.api_base, key_id=account.key_id, private_key=key, **kwargs)


def _order(price: str = "0.40", **extra: Any) -> CreateOrder:
    return CreateOrder(
        ticker=T, book_side=BookSide.BID, price=Decimal(price), count=Decimal(1), **extra
    )


def test_the_simulators_order_refusals_reach_the_client_with_kalshis_codes(
    sim: SimHarness,
) -> None:
    sim.create_market(T)
    other = sim.new_account()
    with _client(sim.account) as client, _client(other) as them:
        placed = client.orders.create_order(_order(client_order_id="wire-1"))
        client.orders.cancel_order(placed.order_id, ticker=T)
        # the order ours under that id: an outcome to look up (Connection.write), never a refusal
        with pytest.raises(OrderOutcomeUnknown) as dup:
            client.orders.create_order(_order(client_order_id="wire-1"))
        conflict = dup.value.__cause__
        assert isinstance(conflict, ConflictError) and conflict.code == "order_already_exists"
        with pytest.raises(NotFoundError) as gone:
            client.orders.cancel_order(placed.order_id, ticker=T)
        assert gone.value.code == "not_found"
        them.orders.create_order(
            CreateOrder(ticker=T, book_side=BookSide.ASK, price=Decimal("0.45"), count=Decimal(1))
        )
        with pytest.raises(BadRequestError) as cross:
            client.orders.create_order(_order("0.45", post_only=True))
        assert (cross.value.code, cross.value.details) == ("invalid_order", "post only cross")
        with pytest.raises(BadRequestError) as bare:
            client.markets.get_markets_page(limit=1001)
        assert bare.value.code is None
        assert "'Limit' failed on the 'lte' tag" in bare.value.message


def test_the_clock_hint_follows_kalshis_header_timestamp_expired(sim: SimHarness) -> None:
    with (
        _client(sim.account, clock=SkewedClock(-120)) as skewed,
        pytest.raises(AuthError) as expired,
    ):
        skewed.portfolio.get_balance()
    assert expired.value.code == "header_timestamp_expired"
    assert "clock" in (expired.value.hint or "")
    impostor = KalshiClient(
        api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=generate_private_key()
    )
    with impostor, pytest.raises(AuthError) as wrong:
        impostor.portfolio.get_balance()
    assert wrong.value.code == "authentication_error"
    assert "INCORRECT_API_KEY_SIGNATURE" in wrong.value.message
    assert "clock" not in (wrong.value.hint or "")


def test_a_plain_http_error_without_a_kalshi_body_still_gets_its_status() -> None:
    error = ApiError.from_response(502, None, what="request")
    assert (error.status, error.code, error.details) == (502, None, None)
    assert "HTTP 502" in error.message
