"""The exchange's answers decode from their bytes into the Structs of `models`: the spec's shape
and the shapes the wire has sent both read, unknown fields are ignored, a field a safety
decision rests on is never given a default, and `raw` is the item as sent."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import msgspec
import pytest

from kalshi_cli.client.fill_quarantine import FillQuarantine
from kalshi_cli.vocabulary.models import (
    Balance,
    ExchangeStatus,
    Fill,
    Market,
    Order,
    Position,
    PriceRange,
    Settlement,
    Trade,
    decode_answer,
    decode_orderbook,
    decode_orderbooks,
)
from kalshi_cli.vocabulary.units import BookSide


def _both(cls: type[Any], item: dict[str, Any]) -> Any:
    """`item` decoded from its bytes and from the dict, which must agree."""
    from_bytes = decode_answer(cls, json.dumps(item).encode())
    from_dict = decode_answer(cls, item)
    assert from_bytes == from_dict
    assert from_bytes.raw == item == from_dict.raw
    return from_bytes


SPEC_ORDER: dict[str, Any] = {
    "order_id": "o1",
    "user_id": "u1",
    "client_order_id": "c1",
    "ticker": "KXT",
    "side": "no",
    "action": "buy",
    "outcome_side": "no",
    "book_side": "ask",
    "type": "limit",
    "status": "resting",
    "yes_price_dollars": "0.6000",
    "no_price_dollars": "0.4000",
    "fill_count_fp": "1.00",
    "remaining_count_fp": "2.00",
    "initial_count_fp": "3.00",
    "taker_fill_cost_dollars": "0.4000",
    "maker_fill_cost_dollars": "0.0000",
    "taker_fees_dollars": "0.0168",
    "maker_fees_dollars": "0.0100",
    "expiration_time": None,
    "created_time": "2026-06-01T00:00:00Z",
    "subaccount_number": 2,
    "a_field_from_a_later_spec": {"anything": [1, 2]},
}


def test_an_order_of_the_spec_decodes_into_our_vocabulary() -> None:
    order = _both(Order, SPEC_ORDER)
    assert (order.book_side, order.yes_price) == (BookSide.ASK, D("0.6000"))
    assert (order.fill_count, order.remaining_count, order.initial_count) == (D(1), D(2), D(3))
    assert order.fees == D("0.0268")  # taker + maker
    assert (order.taker_fill_cost, order.maker_fill_cost) == (D("0.4000"), D(0))
    assert order.expiration_time is None  # nullable in the spec
    assert order.subaccount == 2
    assert order.raw["a_field_from_a_later_spec"] == {"anything": [1, 2]}


def test_an_older_order_without_book_side_is_read_from_its_side_and_action() -> None:
    # the older shape has neither `book_side` nor `outcome_side` (both came in 3.2x)
    older = {k: v for k, v in SPEC_ORDER.items() if k not in ("book_side", "outcome_side")}
    assert decode_answer(Order, older).book_side is BookSide.ASK  # buy NO sells YES
    bought_yes = {**older, "side": "yes"}
    assert decode_answer(Order, bought_yes).book_side is BookSide.BID


def test_an_order_without_book_side_reads_its_outcome_side_and_never_guesses_one() -> None:
    """`outcome_side` is the same bit as `book_side` (`yes` is a bid). An order naming no
    direction at all was read as a YES bid, so a resting ask counted toward the other side of
    the position limit; it is refused, as is one without its price (read as $0)."""
    newer = {k: v for k, v in SPEC_ORDER.items() if k not in ("book_side", "side", "action")}
    assert decode_answer(Order, newer).book_side is BookSide.ASK
    assert decode_answer(Order, {**newer, "outcome_side": "yes"}).book_side is BookSide.BID
    for left_out in (
        ("book_side", "outcome_side", "side", "action"),
        ("book_side", "outcome_side", "action"),  # `side` alone says no direction
        ("yes_price_dollars",),
    ):
        with pytest.raises(msgspec.ValidationError):
            decode_answer(Order, {k: v for k, v in SPEC_ORDER.items() if k not in left_out})
    for price in ("1.5", "-0.1", "NaN"):
        with pytest.raises(msgspec.ValidationError):
            decode_answer(Order, {**SPEC_ORDER, "yes_price_dollars": price})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", None),
        ("status", ""),
        ("fill_count_fp", None),
        ("fill_count_fp", ""),
        ("fill_count_fp", "lots"),
        ("remaining_count_fp", None),
        ("remaining_count_fp", "lots"),
        ("remaining_count_fp", "NaN"),
        ("remaining_count_fp", "Infinity"),
        ("remaining_count_fp", "-1.00"),
        ("fill_count_fp", "NaN"),
        ("fill_count_fp", "-1.00"),
    ],
)
def test_an_order_whose_safety_field_is_missing_empty_or_garbled_is_refused(
    field: str, value: Any
) -> None:
    absent = {k: v for k, v in SPEC_ORDER.items() if k != field}
    with pytest.raises(msgspec.ValidationError):
        decode_answer(Order, json.dumps(absent).encode())
    if value is not None:
        with pytest.raises(msgspec.ValidationError):
            decode_answer(Order, json.dumps({**SPEC_ORDER, field: value}).encode())


SPEC_POSITION: dict[str, Any] = {
    "ticker": "KXT",
    "total_traded_dollars": "1.0000",
    "position_fp": "-3.00",
    "market_exposure_dollars": "1.2000",
    "realized_pnl_dollars": "0.5000",
    "fees_paid_dollars": "0.0200",
    "last_updated_ts": "2026-06-01T00:00:00Z",
}


def test_a_position_without_its_size_is_refused_never_flat() -> None:
    position = _both(Position, SPEC_POSITION)
    assert (position.position, position.exposure, position.fees_paid) == (
        D(-3),
        D("1.2"),
        D("0.02"),
    )
    with pytest.raises(msgspec.ValidationError):
        decode_answer(Position, b'{"ticker": "KXT", "market_exposure_dollars": "0"}')


def test_a_fill_reads_the_spec_shape_and_the_wire_shapes() -> None:
    spec = {
        "fill_id": "f1",
        "trade_id": "t1",
        "order_id": "o1",
        "ticker": "KXT",
        "market_ticker": "KXT",
        "side": "yes",
        "action": "sell",
        "book_side": "ask",
        "count_fp": "2.00",
        "yes_price_dollars": "0.5200",
        "is_taker": True,
        "fee_cost": "0.017500",
        "ts": 1780000000,
    }
    fill = _both(Fill, spec)
    assert (fill.fill_id, fill.ticker, fill.signed_count, fill.fee) == (
        "f1",
        "KXT",
        D(-2),
        D("0.0175"),
    )
    # the wire has sent fills with only one of the tickers, without fill_id or book_side
    older = {k: v for k, v in spec.items() if k not in ("fill_id", "ticker", "book_side")}
    fill = decode_answer(Fill, json.dumps(older).encode())
    assert (fill.fill_id, fill.ticker, fill.book_side) == ("t1", "KXT", BookSide.ASK)
    only_ticker = {k: v for k, v in spec.items() if k != "market_ticker"}
    assert decode_answer(Fill, only_ticker).ticker == "KXT"


SPEC_FILL = {
    "fill_id": "f1",
    "trade_id": "t1",
    "order_id": "o1",
    "market_ticker": "KXT",
    "book_side": "ask",
    "count_fp": "2.00",
    "yes_price_dollars": "0.5200",
    "is_taker": True,
    "fee_cost": "0.017500",
}


@pytest.mark.parametrize(
    "without",
    [
        ("count_fp",),  # was 0 contracts
        ("yes_price_dollars",),  # was $0
        ("fee_cost",),  # was a $0 fee
        ("book_side",),  # with no side and action either: was "bought YES"
        ("order_id",),
        ("market_ticker",),
        ("fill_id", "trade_id"),
    ],
)
def test_a_fill_lacking_a_field_the_spec_requires_is_refused_never_zero(
    without: tuple[str, ...],
) -> None:
    lacking = {k: v for k, v in SPEC_FILL.items() if k not in without}
    with pytest.raises(msgspec.ValidationError):
        decode_answer(Fill, json.dumps(lacking).encode())
    with pytest.raises(ValueError):  # the WebSocket's path: an object already decoded
        decode_answer(Fill, lacking)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("count_fp", "0.00"),
        ("count_fp", "-2.00"),
        ("yes_price_dollars", "1.5"),
        ("count_fp", "NaN"),
        ("count_fp", "Infinity"),
        ("yes_price_dollars", "NaN"),
        ("fee_cost", "NaN"),
        ("fee_cost", "-1"),
    ],
)
def test_a_fill_with_a_count_or_price_no_fill_can_have_is_refused(field: str, value: str) -> None:
    with pytest.raises(ValueError):
        decode_answer(Fill, {**SPEC_FILL, field: value})


@pytest.mark.parametrize(
    ("field", "value"), [("count_fp", "NaN"), ("yes_price_dollars", "NaN"), ("fee_cost", "-1")]
)
def test_a_listed_fill_whose_count_or_price_is_not_a_number_is_quarantined(
    field: str, value: str
) -> None:
    """Not a finite number is as good as missing: the listing quarantines the fill, where a
    `decimal.InvalidOperation` escaped the quarantine and failed the whole read."""
    quarantine = FillQuarantine()
    assert quarantine.fill_or_none({**SPEC_FILL, field: value}) is None
    (held,) = quarantine.held.values()
    assert held.order_id == SPEC_FILL["order_id"]


SPEC_SETTLEMENT: dict[str, Any] = {
    "ticker": "KXT",
    "event_ticker": "KXT-EV",
    "market_result": "yes",
    "yes_count_fp": "3.00",
    "yes_total_cost_dollars": "1.2000",
    "no_count_fp": "0.00",
    "no_total_cost_dollars": "0.0000",
    "revenue": 300,
    "settled_time": "2026-06-01T00:00:00Z",
    "fee_cost": "0.0000",
}


def test_a_settlement_and_a_balance_read_cents_as_dollars() -> None:
    settlement = _both(Settlement, SPEC_SETTLEMENT)
    assert (settlement.revenue, settlement.yes_count) == (D("3.00"), D(3))
    spec = {"balance": 1234, "balance_dollars": "12.3456", "portfolio_value": 500, "updated_ts": 7}
    balance = _both(Balance, spec)
    assert (balance.balance, balance.portfolio_value) == (D("12.3456"), D("5.00"))
    # before spec 3.29: integer cents only
    assert decode_answer(Balance, b'{"balance": 1234}').balance == D("12.34")
    with pytest.raises(msgspec.ValidationError):
        decode_answer(Balance, b'{"portfolio_value": 500}')


@pytest.mark.parametrize(
    ("cls", "spec", "field"),
    [
        *[
            (Position, SPEC_POSITION, field)
            for field in (
                "position_fp",
                "market_exposure_dollars",
                "realized_pnl_dollars",
                "fees_paid_dollars",
                "total_traded_dollars",
            )
        ],
        *[
            (Settlement, SPEC_SETTLEMENT, field)
            for field in (
                "yes_count_fp",
                "yes_total_cost_dollars",
                "no_count_fp",
                "no_total_cost_dollars",
                "fee_cost",
            )
        ],
        (Balance, {"balance": 1234, "balance_dollars": "12.3456"}, "balance_dollars"),
    ],
)
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_money_that_is_no_finite_number_is_refused_naming_its_field(
    cls: type[Any], spec: dict[str, Any], field: str, value: str
) -> None:
    """No defaults in money, and no endless money: a position, settlement or balance with a
    figure that is no finite number does not decode, and the refusal names the wire field."""
    with pytest.raises(msgspec.ValidationError, match=f"`{field}` is not a finite number"):
        decode_answer(cls, json.dumps({**spec, field: value}).encode())


def test_a_market_gets_its_grid_and_the_fallbacks_of_the_old_parser() -> None:
    market = _both(
        Market,
        {
            "ticker": "KXT",
            "yes_sub_title": "Above 5",
            "yes_bid_dollars": "0.4500",
            "volume_fp": "10.00",
            "price_level_structure": "deci_cent",
            "settlement_bounds_type": "",
            "fractional_trading_enabled": False,
        },
    )
    assert (market.title, market.yes_bid, market.volume) == ("Above 5", D("0.45"), D(10))
    assert market.price_ranges == (PriceRange(D("0.001"), D("0.999"), D("0.001")),)
    assert market.settlement_bounds_type == "default"
    assert market.whole_contracts is True
    own = decode_answer(
        Market, {"ticker": "K", "price_ranges": [{"start": "0.1", "end": "0.5", "step": "0.05"}]}
    )
    assert own.price_ranges == (PriceRange(D("0.1"), D("0.5"), D("0.05")),)


def test_a_trade_and_the_exchange_status() -> None:
    trade = _both(
        Trade,
        {
            "trade_id": "t1",
            "ticker": "KXT",
            "count_fp": "4.00",
            "yes_price_dollars": "0.3300",
            "taker_book_side": "bid",
            "created_time": "2026-06-01T00:00:00Z",
            "is_block_trade": False,
        },
    )
    assert (trade.count, trade.yes_price, trade.taker_book_side) == (D(4), D("0.33"), "bid")
    status = _both(
        ExchangeStatus,
        {"exchange_active": True, "trading_active": False, "exchange_estimated_resume_time": None},
    )
    assert (status.exchange_active, status.trading_active) == (True, False)


def test_an_order_book_reads_either_wrapping_and_sorts_best_first() -> None:
    body = {"orderbook_fp": {"yes_dollars": [["0.40", "5.00"], ["0.45", "1.00"]], "no_dollars": []}}
    book = decode_orderbook("KXT", json.dumps(body).encode())
    assert [lv.price for lv in book.yes_bids] == [D("0.45"), D("0.40")]
    assert book.no_bids == ()
    item = {"ticker": "KXT", "orderbook_fp": {"yes_dollars": None, "no_dollars": [["0.5", "2"]]}}
    book = decode_orderbook("KXT", item)
    assert (book.yes_bids, book.best_no_bid) == ((), (D("0.5"), D(2)))


@pytest.mark.parametrize(
    "level",
    [["0.50", "Infinity"], ["0.50", "NaN"], ["NaN", "1.00"], ["1.50", "1.00"], ["0", "1.00"]],
)
@pytest.mark.parametrize("side", ["yes_dollars", "no_dollars"])
def test_an_order_book_with_a_level_that_is_no_price_and_size_is_refused(
    side: str, level: list[str]
) -> None:
    """No defaults in money: a REST book (the loop's polling fallback, the mark of `kalshi
    positions` and `pnl`) with an endless size or a price off (0, 1) was taken as sent (a NO
    bid at 1.50 marked a NO position at $1.50 a contract); it does not decode, as the WebSocket's
    snapshot of it is refused (feed/book.py)."""
    body = {"orderbook_fp": {"yes_dollars": [], "no_dollars": [], side: [["0.30", "2.00"], level]}}
    with pytest.raises(msgspec.ValidationError, match="level"):
        decode_orderbook("KXT", json.dumps(body).encode())
    with pytest.raises(msgspec.ValidationError, match="level"):
        decode_orderbooks(json.dumps({"orderbooks": [{"ticker": "KXT", **body}]}).encode())


@pytest.mark.parametrize(
    ("yes", "no"), [("0.6000", "0.4500"), ("0.5500", "0.4500")], ids=["crossed", "locked"]
)
def test_an_order_book_whose_best_bids_cross_is_refused_as_its_snapshot_is(
    yes: str, no: str
) -> None:
    """A YES bid and a NO bid that together pay $1 or more would have matched: no exchange
    holds both resting, a locked book (exactly $1) included, as the simulator matches it. The
    WebSocket's snapshot of such a book is refused (feed/book.py); a REST book (the loop's
    polling fallback, the mark of `kalshi positions`) was taken as sent, a YES bid above the
    YES ask nobody offers. It does not decode now, naming the market and the two bids."""
    from kalshi_cli.feed.book import CrossedBook, LocalBook
    from kalshi_cli.feed.messages import BookSnapshot

    sides = {"yes_dollars": [["0.20", "3.00"], [yes, "2.00"]], "no_dollars": [[no, "1.00"]]}
    body = {"orderbook_fp": sides}
    refused = rf"KXT: best YES bid {yes} and NO bid {no} cross"
    with pytest.raises(msgspec.ValidationError, match=refused):
        decode_orderbook("KXT", json.dumps(body).encode())
    with pytest.raises(msgspec.ValidationError, match=refused):
        decode_orderbooks(json.dumps({"orderbooks": [{"ticker": "KXT", **body}]}).encode())
    snapshot = BookSnapshot("KXT", [(D("0.20"), D(3)), (D(yes), D(2))], [(D(no), D(1))])
    with pytest.raises(CrossedBook):
        LocalBook("KXT").apply_snapshot(snapshot)
    # a tick short of locked is a book: the YES bid one cent under the implied YES ask
    sides["no_dollars"] = [[str(D(1) - D(yes) - D("0.01")), "1.00"]]
    book = decode_orderbook("KXT", json.dumps(body).encode())
    assert book.spread == D("0.01")


@pytest.mark.parametrize("empty", ["0", "0.00", "-0"])
def test_a_rest_book_level_of_no_contracts_is_no_bid_as_in_a_snapshot(empty: str) -> None:
    """A level the exchange lists with no contracts bids nothing: the WebSocket's snapshot of
    it leaves it out (feed/book.py), and so does a REST book. Kept, it was the best bid of a
    book the loop polls while its WebSocket is down and the mark of `kalshi positions`: a YES
    position marked at a 0.55 nobody bids, where the bid is 0.20."""
    from kalshi_cli.feed.book import LocalBook
    from kalshi_cli.feed.messages import BookSnapshot

    yes = [["0.55", empty], ["0.20", "4.00"]]
    no = [["0.30", "2.00"], ["0.40", empty]]
    book = decode_orderbook(
        "KXT", json.dumps({"orderbook_fp": {"yes_dollars": yes, "no_dollars": no}}).encode()
    )
    assert book.best_yes_bid == (D("0.20"), D(4))
    assert book.no_bids == ((D("0.30"), D(2)),)
    local = LocalBook("KXT")
    local.apply_snapshot(
        BookSnapshot("KXT", [(D(p), D(s)) for p, s in yes], [(D(p), D(s)) for p, s in no])
    )
    assert (dict(book.yes_bids), dict(book.no_bids)) == (local.yes, local.no)


def test_raw_is_decoded_from_the_bytes_only_when_read() -> None:
    order = decode_answer(Order, json.dumps(SPEC_ORDER).encode())
    assert "raw" not in order.__dict__  # nothing decoded to a dict yet
    assert order.raw["user_id"] == "u1"
    assert order.raw is order.raw  # decoded once
