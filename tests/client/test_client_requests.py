"""CreateOrder is strict about what goes out; the results are tolerant of what comes back."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kalshi_cli.client.requests import (
    CancelResult,
    CreateOrder,
    CreateOrderResult,
    decode_cancel_result,
)
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.models import decode_answer
from kalshi_cli.vocabulary.order_terms import TermsError, read_terms
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, TimeInForce


def _order(**overrides: Any) -> CreateOrder:
    fields: dict[str, Any] = {
        "ticker": "KXTEST-1",
        "book_side": BookSide.BID,
        "price": Decimal("0.56"),
        "count": Decimal("10"),
    }
    fields.update(overrides)
    return CreateOrder(**fields)


def test_to_api_writes_the_v2_body_with_fixed_point_strings() -> None:
    order = _order(client_order_id="coid-1", expiration_time=1_900_000_000)
    assert order.to_api() == {
        "ticker": "KXTEST-1",
        "client_order_id": "coid-1",
        "side": "bid",
        "count": "10.00",
        "price": "0.5600",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
        "post_only": False,
        "reduce_only": False,
        "expiration_time": 1_900_000_000,
    }


def test_each_order_gets_a_fresh_client_order_id() -> None:
    assert _order().client_order_id != _order().client_order_id


def test_wire_strings_become_enums() -> None:
    order = _order(
        book_side="ask", time_in_force="immediate_or_cancel", self_trade_prevention="maker"
    )
    assert order.book_side is BookSide.ASK
    assert order.time_in_force is TimeInForce.IOC
    assert order.self_trade_prevention is SelfTradePrevention.MAKER
    assert "expiration_time" not in order.to_api()


def test_sub_penny_prices_keep_their_digits() -> None:
    assert _order(price=Decimal("0.0015")).to_api()["price"] == "0.0015"
    assert _order(count=Decimal("2.5")).to_api()["count"] == "2.50"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"price": 0.56}, "NOT_A_NUMBER"),
        ({"price": Decimal("0")}, "PRICE_NOT_POSITIVE"),
        ({"price": Decimal("1.00")}, "PRICE_OUT_OF_RANGE"),
        ({"price": Decimal("0.56001")}, "PRICE_PRECISION"),
        ({"price": Decimal("NaN")}, "NOT_A_NUMBER"),
        ({"count": Decimal("0")}, "COUNT_NOT_POSITIVE"),
        ({"count": Decimal("-1")}, "COUNT_NOT_POSITIVE"),
        ({"count": Decimal("0.001")}, "COUNT_PRECISION"),
        ({"count": 10}, "NOT_A_NUMBER"),
        # the ticker's shape is the order terms' own rule: the CLI, a file and the library agree
        ({"ticker": ""}, "BAD_TICKER"),
        ({"ticker": " KX "}, "BAD_TICKER"),
        ({"ticker": "KXMCP 26JAN01"}, "BAD_TICKER"),
        ({"ticker": "KXMCP\t26JAN01"}, "BAD_TICKER"),
        ({"ticker": None}, "BAD_TICKER"),
        ({"book_side": "buy"}, "bad_enum"),
        ({"time_in_force": "GTT"}, "bad_enum"),
        ({"client_order_id": " "}, "bad_coid"),
        (
            {"time_in_force": TimeInForce.IOC, "expiration_time": 1_900_000_000},
            "EXPIRY_NEEDS_GTC",
        ),
        ({"expiration_time": 1.5}, "bad_expiration"),
        ({"time_in_force": TimeInForce.FOK, "post_only": True}, "POST_ONLY_NEEDS_GTC"),
    ],
)
def test_bad_requests_are_refused_before_sending(overrides: dict[str, Any], code: str) -> None:
    with pytest.raises(ValidationError) as info:
        _order(**overrides)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("price", "0"),
        ("price", "1.00"),
        ("price", "0.56001"),
        ("price", "-0.5"),
        ("count", "0"),
        ("count", "0.001"),
        ("count", "-1"),
    ],
)
def test_the_request_refuses_what_order_place_refuses_in_the_same_words(
    field: str, text: str
) -> None:
    """One set of rules: a price or count `order place` refuses as a flag is refused by the
    request the client sends, with the same code and message."""
    terms = {
        "ticker": "KXTEST-1",
        "side": "yes",
        "action": "buy",
        "count": "10",
        "price": "0.56",
    }
    with pytest.raises(TermsError) as flag:
        read_terms({**terms, field: text}, now=0.0)
    with pytest.raises(ValidationError) as request:
        _order(**{field: Decimal(text)})
    assert (request.value.code, request.value.message) == (flag.value.code, flag.value.message)


def test_create_result_parses_decimals_and_ignores_new_fields() -> None:
    result = decode_answer(
        CreateOrderResult,
        {
            "order_id": "o1",
            "client_order_id": "c1",
            "fill_count": "3.00",
            "remaining_count": "7.00",
            "average_fill_price": "0.5550",
            "average_fee_paid": "0.0175",
            "ts_ms": 1715793600123,
            "exchange_index": 0,
            "something_new": {"nested": True},
        },
    )
    assert result.fill_count == Decimal("3")
    assert result.remaining_count == Decimal("7")
    assert result.average_fill_price == Decimal("0.5550")
    assert result.average_fee_paid == Decimal("0.0175")
    assert result.ts_ms == 1715793600123
    resting = decode_answer(
        CreateOrderResult,
        {"order_id": "o2", "fill_count": "0.00", "remaining_count": "1.00", "ts_ms": 1},
    )
    assert resting.client_order_id is None
    assert resting.average_fill_price is None


def test_cancel_result_carries_a_per_item_error() -> None:
    ok = decode_cancel_result({"order_id": "o1", "reduced_by": "4.00", "ts_ms": 1})
    assert ok == CancelResult("o1", Decimal("4"), None)
    failed = decode_cancel_result(
        {"order_id": "o2", "reduced_by": "0.00", "error": {"code": "not_found", "message": "gone"}}
    )
    assert failed.reduced_by == 0
    assert failed.error == "not_found: gone"
