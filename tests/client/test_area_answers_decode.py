"""The Structs of the client's areas decode the spec's shapes (openapi.yaml 3.31.0) from bytes,
ignoring fields they do not know and refusing an answer without a field they need; a time sent
without an offset is UTC, never this machine's zone."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import httpx
import msgspec
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.api_keys import ApiKeyInfo
from kalshi_cli.client.communications import Quote, Rfq
from kalshi_cli.client.markets import Candle
from kalshi_cli.client.order_groups import OrderGroup
from kalshi_cli.client.subaccounts import SubaccountBalance, SubaccountTransfer
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.models import decode_answer

LATER = {"a_field_of_a_later_spec": [1, {"x": None}]}
QUOTE = {
    "id": "q1",
    "rfq_id": "r1",
    "market_ticker": "KXT",
    "contracts_fp": "10.00",
    "yes_bid_dollars": "0.4000",
    "no_bid_dollars": "0.5500",
    "created_ts": "2026-06-01T00:00:00Z",
    "updated_ts": "2026-06-01T00:00:01Z",
    "status": "open",
}


def _bytes(item: dict[str, Any]) -> bytes:
    return json.dumps({**item, **LATER}).encode()


def test_an_rfq_and_a_quote_read_the_spec_and_say_whose_they_are() -> None:
    rfq = decode_answer(
        Rfq,
        _bytes(
            {
                "id": "r1",
                "creator_id": "c1",
                "market_ticker": "KXT",
                "contracts_fp": "10.00",
                "target_cost_dollars": "4.5000",
                "status": "open",
                "created_ts": "2026-06-01T00:00:00Z",
                "creator_user_id": "u1",
            }
        ),
    )
    assert (rfq.rfq_id, rfq.contracts, rfq.target_cost, rfq.mine) == ("r1", D(10), D("4.5"), True)
    assert rfq.raw["a_field_of_a_later_spec"] == [1, {"x": None}]
    quote = decode_answer(Quote, _bytes({**QUOTE, "creator_id": "c2", "rfq_creator_id": "c1"}))
    assert (quote.quote_id, quote.yes_bid, quote.no_bid, quote.mine) == (
        "q1",
        D("0.40"),
        D("0.55"),
        False,
    )
    with pytest.raises(msgspec.ValidationError):
        decode_answer(Quote, b'{"id": "q1", "rfq_id": "r1", "market_ticker": "KXT"}')


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("yes_bid_dollars", "NaN"),
        ("no_bid_dollars", "Infinity"),
        ("yes_bid_dollars", "-0.1000"),
        ("no_bid_dollars", "1.5000"),
        ("contracts_fp", "NaN"),
        ("contracts_fp", "-1.00"),
    ],
)
def test_a_quote_priced_at_no_price_is_refused_not_offered_to_accept(
    field: str, value: str
) -> None:
    """No defaults in money: a quote whose bid is no price (not a finite number in [0, 1]) or
    whose size is no count is refused as it is read, never shown as `buy ... at NaN` for the
    RFQ's creator to accept."""
    with pytest.raises(msgspec.ValidationError, match=field):
        decode_answer(Quote, _bytes({**QUOTE, field: value}))


def test_a_candle_reads_null_prices_as_none() -> None:
    side = {"open_dollars": "0.40", "low_dollars": "0.39", "high_dollars": "0.45"}
    candle = decode_answer(
        Candle,
        _bytes(
            {
                "end_period_ts": 1780000000,
                "yes_bid": {**side, "close_dollars": "0.41"},
                "yes_ask": {**side, "close_dollars": "0.43"},
                "price": {"open_dollars": None, "close_dollars": None, "previous_dollars": "0.42"},
                "volume_fp": "0.00",
                "open_interest_fp": "7.00",
            }
        ),
    )
    assert (candle.end_ts, candle.yes_ask.close, candle.open_interest) == (
        1780000000,
        D("0.43"),
        D(7),
    )
    assert (candle.price.open, candle.price.close, candle.previous_price) == (
        None,
        None,
        D("0.42"),
    )


def test_a_group_a_key_and_the_subaccounts_read_the_spec() -> None:
    group = decode_answer(
        OrderGroup,
        _bytes({"id": "g1", "contracts_limit_fp": "25.00", "is_auto_cancel_enabled": True}),
    )
    assert (group.order_group_id, group.contracts_limit, group.auto_cancel, group.orders) == (
        "g1",
        D(25),
        True,
        (),
    )
    key = decode_answer(
        ApiKeyInfo, _bytes({"api_key_id": "k1", "name": "bot", "scopes": ["read"], "subaccount": 3})
    )
    assert (key.api_key_id, key.scopes, key.subaccount) == ("k1", ("read",), 3)
    balance = decode_answer(
        SubaccountBalance,
        _bytes(
            {"subaccount_number": 2, "exchange_index": 0, "balance": "12.3400", "updated_ts": 9}
        ),
    )
    assert balance == SubaccountBalance(2, D("12.34"), 9, exchange_index=0)
    transfer = decode_answer(
        SubaccountTransfer,
        _bytes(
            {
                "transfer_id": "t1",
                "from_subaccount": 0,
                "to_subaccount": 2,
                "amount_cents": 500,
                "created_ts": 9,
                "exchange_index": 0,
            }
        ),
    )
    assert transfer == SubaccountTransfer("t1", 0, 2, 500, 9)


def _client_answering(body: dict[str, Any]) -> KalshiClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    return KalshiClient(
        api_base="http://exchange.test/trade-api/v2", transport=httpx.MockTransport(answer)
    )


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's local zone hours from UTC, so a time read as local would show."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("far_from_utc")
def test_the_cutoff_and_the_schedule_read_a_time_without_an_offset_as_utc() -> None:
    client = _client_answering(
        {
            "market_settled_ts": "2026-06-01T00:00:00",
            "trades_created_ts": "2026-06-01T00:00:00Z",
            "orders_updated_ts": "2026-06-01T02:00:00+02:00",
        }
    )
    cutoff = client.historical.get_historical_cutoff()
    midnight = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
    assert (cutoff.market_settled_ts, cutoff.trades_created_ts, cutoff.orders_updated_ts) == (
        midnight,
        midnight,
        midnight,
    )
    assert cutoff.market_positions_last_updated_ts is None
    client = _client_answering(
        {
            "schedule": {
                "standard_hours": [],
                "maintenance_windows": [
                    {
                        "start_datetime": "2026-06-02T00:00:00",
                        "end_datetime": "2026-06-02T01:00:00",
                    },
                    {
                        "start_datetime": "2026-06-01T00:00:00Z",
                        "end_datetime": "2026-06-01T01:00:00Z",
                    },
                ],
            }
        }
    )
    windows = client.exchange.get_exchange_schedule().maintenance_windows
    assert [w.start.timestamp() for w in windows] == [midnight, midnight + 86400]  # by start


def test_a_cutoff_without_a_boundary_is_an_unexpected_answer() -> None:
    client = _client_answering({"market_settled_ts": "2026-06-01T00:00:00Z"})
    with pytest.raises(KalshiError, match="unexpected historical cutoff"):
        client.historical.get_historical_cutoff()


def test_a_schedule_without_its_maintenance_windows_is_an_unexpected_answer() -> None:
    """The spec requires the list: an answer without it says nothing of maintenance, and read
    as "none" it let `kalshi check exchange` pass and the loop quote into a window."""
    client = _client_answering({"schedule": {"standard_hours": []}})
    with pytest.raises(KalshiError, match="unexpected exchange schedule"):
        client.exchange.get_exchange_schedule()
