"""P&L behaviour that mutation testing found unpinned: each test fails on the named mutant.

- the mark of a YES position is the best YES bid's price (a mutant reading its size survived);
- a 1-contract position has a mark, an entry and an unrealized P&L (mutants turning the
  `position == 0` guards into `position == 1` survived);
- two settlements due before one fill are both applied first (a mutant applying one per fill
  survived); this is the realized P&L per fill that the daily circuit breaker adds up;
- released basis on an exact tie rounds half-even, both ways.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from kalshi_cli.services.pnl import (
    PnlEngine,
    fill_record_from_api,
    realized_per_fill,
    replay_into,
    settlement_record_from_api,
    summarize,
)
from kalshi_cli.store import FillRecord, SettlementRecord
from kalshi_cli.vocabulary.models import (
    BookSide,
    Fill,
    Orderbook,
    Settlement,
    decode_answer,
    decode_orderbook,
)

BID, ASK = BookSide.BID, BookSide.ASK


def fill(i: int, ticker: str, side: BookSide, trade: str, ts: float) -> FillRecord:
    """`trade`: "COUNT @ PRICE"."""
    count, _, price = trade.split()
    return FillRecord(f"f{i}", f"o{i}", None, ticker, side, D(price), D(count), D(0), True, ts)


def settlement(ticker: str, result: str, ts: float) -> SettlementRecord:
    return SettlementRecord(ticker, "E", result, D(0), D(0), D(0), D(0), D(0), D(0), ts)


def book() -> Orderbook:
    """Best YES bid 0.55 for 7 contracts, best NO bid 0.42 for 9: prices and sizes differ."""
    return decode_orderbook(
        "M", {"orderbook_fp": {"yes_dollars": [["0.55", "7"]], "no_dollars": [["0.42", "9"]]}}
    )


def engines(fills: list[FillRecord], settlements: list[SettlementRecord]) -> list[PnlEngine]:
    """The Decimal engine fed event by event, and the summary's end state (`kalshi pnl`)."""
    reference = PnlEngine()
    list(replay_into(reference, fills, settlements))
    return [reference, summarize(fills, settlements).engine]


@pytest.mark.parametrize("count", ["10", "1"])
def test_a_yes_position_is_marked_at_the_best_yes_bid_price(count: str) -> None:
    for engine in engines([fill(1, "M", BID, f"{count} @ 0.40", 1.0)], []):
        m = engine.market("M")
        bid, mid = m.mark(book())
        assert bid == D("0.55")  # the price, not the 7 contracts bid
        assert mid == D("0.565")  # (0.55 + (1 - 0.42)) / 2
        assert m.unrealized(bid) == D(count) * D("0.15")
        assert m.unrealized(mid) == D(count) * D("0.165")


@pytest.mark.parametrize("count", ["10", "1"])
def test_a_no_position_is_marked_at_the_best_no_bid_price(count: str) -> None:
    for engine in engines([fill(1, "M", ASK, f"{count} @ 0.60", 1.0)], []):  # NO at 0.40
        m = engine.market("M")
        bid, _ = m.mark(book())
        assert bid == D("0.42")
        assert m.unrealized(bid) == D(count) * D("0.02")


@pytest.mark.parametrize(("side", "price", "entry"), [(BID, "0.40", "0.4"), (ASK, "0.70", "0.3")])
def test_a_one_contract_position_has_its_entry_mark_and_unrealized(
    side: BookSide, price: str, entry: str
) -> None:
    for engine in engines([fill(1, "M", side, f"1 @ {price}", 1.0)], []):
        m = engine.market("M")
        assert m.position == (D(1) if side is BID else D(-1))
        assert m.average_entry == D(entry)
        bid, mid = m.mark(book())
        assert bid is not None and mid is not None
        assert m.unrealized(bid) == bid - D(entry)
        assert m.unrealized(mid) == mid - D(entry)
        assert m.unrealized(bid) != 0


def test_two_settlements_due_before_one_fill_are_both_applied_first() -> None:
    """A and B settle at t=10; B's next fill (t=11) finds B settled and flat, so selling 5
    YES opens a NO position and realizes nothing. Applying one settlement per fill would leave
    B's 5 YES open and book the sale as a close (+$1.00)."""
    fills = [
        fill(1, "A", BID, "2 @ 0.30", 1.0),
        fill(2, "B", BID, "5 @ 0.40", 2.0),
        fill(3, "B", ASK, "5 @ 0.60", 11.0),
    ]
    settlements = [settlement("A", "yes", 10.0), settlement("B", "no", 10.0)]
    per_fill = {f.fill_id: e.gross for f, e in realized_per_fill(fills, settlements)}
    assert per_fill == {"f1": 0, "f2": 0, "f3": 0}
    for engine in engines(fills, settlements):
        b = engine.market("B")
        assert b.realized_gross == D("-2.00")  # 5 YES at 0.40 settled NO
        assert b.position == D(-5) and b.basis == D("2.00")  # 5 NO at 0.40, opened after
        assert engine.market("A").realized_gross == D("1.40")
    summary = summarize(fills, settlements)
    day = summary.groups["day"]["1970-01-01"]
    assert (day.gross, day.fills, day.settlements) == (D("-0.60"), 3, 2)


def test_a_settlement_and_a_fill_in_the_same_second_settle_first() -> None:
    fills = [fill(1, "B", BID, "5 @ 0.40", 2.0), fill(2, "B", ASK, "5 @ 0.60", 10.0)]
    settlements = [settlement("B", "no", 10.0)]
    assert [e.gross for _, e in realized_per_fill(fills, settlements)] == [0, 0]
    for engine in engines(fills, settlements):
        assert engine.market("B").position == D(-5)


@pytest.mark.parametrize(
    ("second_price", "released"),
    [
        # basis 0.000003 over 0.02 contracts, close half: 0.0000015, a tie: up to the even 2
        ("0.0002", D("0.000002")),
        # basis 0.000005, close half: 0.0000025, a tie: down to the even 2
        ("0.0003", D("0.000002")),
    ],
)
def test_released_basis_on_an_exact_tie_rounds_half_even(second_price: str, released: D) -> None:
    first_price = "0.0001" if second_price == "0.0002" else "0.0002"
    fills = [
        fill(1, "M", BID, f"0.01 @ {first_price}", 1.0),
        fill(2, "M", BID, f"0.01 @ {second_price}", 2.0),
        fill(3, "M", ASK, "0.01 @ 0.5000", 3.0),  # close 0.01 of 0.02
    ]
    basis = D("0.01") * (D(first_price) + D(second_price))
    for engine in engines(fills, []):
        m = engine.market("M")
        assert m.basis == basis - released
        assert m.realized_gross == D("0.005") - released


# ------------------------------------------------------------- found by mutation testing
# (docs/mutation.md, `pnl.py`): each test below fails on the mutants it names.


def test_a_fill_body_becomes_the_record_the_state_file_keeps() -> None:
    """Every field of the exchange's fill reaches the stored record (`kalshi fills` shows it,
    `kalshi pnl` adds it up), with the order's client id and strategy, and its time from
    `created_time` to the millisecond: two fills of one second keep their order."""
    body = {
        "fill_id": "F1",
        "trade_id": "T1",
        "order_id": "O1",
        "market_ticker": "KX-A",
        "book_side": "ask",
        "count_fp": "3.00",
        "yes_price_dollars": "0.4200",
        "is_taker": True,
        "fee_cost": "0.0123",
        "created_time": "2026-11-22T10:00:01.250Z",
        "ts": 1795341601,
    }
    record = fill_record_from_api(
        decode_answer(Fill, body), client_order_id="c-1", strategy="spike"
    )
    assert record == FillRecord(
        "F1", "O1", "c-1", "KX-A", ASK, D("0.42"), D(3), D("0.0123"), True,
        1795341601.25, "spike", None,
    )  # fmt: skip
    assert record.realized_pnl is None
    bare = fill_record_from_api(decode_answer(Fill, body))
    assert (bare.client_order_id, bare.strategy) == (None, None)


def test_a_fill_body_without_created_time_takes_ts_or_zero() -> None:
    body = {
        "fill_id": "F1",
        "order_id": "O1",
        "market_ticker": "KX-A",
        "book_side": "bid",
        "count_fp": "1.00",
        "yes_price_dollars": "0.5000",
        "fee_cost": "0",
        "ts": 1795341601,
    }
    assert fill_record_from_api(decode_answer(Fill, body)).ts == 1795341601.0
    del body["ts"]
    assert fill_record_from_api(decode_answer(Fill, body)).ts == 0.0


def test_a_settlement_body_becomes_the_record_the_state_file_keeps() -> None:
    body = {
        "ticker": "KX-A",
        "event_ticker": "KX",
        "market_result": "no",
        "yes_count_fp": "2.00",
        "yes_total_cost_dollars": "0.8000",
        "no_count_fp": "5.00",
        "no_total_cost_dollars": "3.0500",
        "revenue": 500,
        "fee_cost": "0.0200",
        "settled_time": "2026-11-22T10:00:01.500Z",
    }
    record = settlement_record_from_api(decode_answer(Settlement, body))
    assert record == SettlementRecord(
        "KX-A", "KX", "no", D(2), D(5), D("0.80"), D("3.05"), D(5), D("0.02"), 1795341601.5
    )
    del body["settled_time"]
    assert settlement_record_from_api(decode_answer(Settlement, body)).settled_at == 0.0


def one_sided_book(side: str) -> Orderbook:
    """Bids on one side only: no bid on the other and no mid."""
    levels: dict[str, list[list[str]]] = {"yes_dollars": [], "no_dollars": []}
    levels[side] = [["0.55", "7"]]
    return decode_orderbook("M", {"orderbook_fp": levels})


@pytest.mark.parametrize(("side", "price"), [(BID, "0.40"), (ASK, "0.60")])
def test_a_position_with_no_bid_on_its_side_has_no_mark(side: BookSide, price: str) -> None:
    """A YES position against a book with only NO bids (and a NO position against only YES
    bids) has neither a bid nor a mid to be marked at: `kalshi pnl` shows no unrealized P&L
    rather than failing or inventing one."""
    other = "no_dollars" if side is BID else "yes_dollars"
    for engine in engines([fill(1, "M", side, f"3 @ {price}", 1.0)], []):
        m = engine.market("M")
        assert m.mark(one_sided_book(other)) == (None, None)
        assert m.unrealized(None) is None


def test_counts_made_before_the_pass_goes_on_in_decimal_are_kept() -> None:
    """A fill finer than the integer units (0.005 contracts at $0.1234567) switches the pass to
    Decimal after B has had its fill and its settlement counted: the `kalshi pnl` document
    still counts every fill and settlement of each market, to the last digit."""
    fills = [
        fill(1, "A", BID, "10 @ 0.40", 1.0),
        fill(2, "B", BID, "5 @ 0.40", 2.0),
        fill(3, "A", ASK, "0.005 @ 0.1234567", 4.0),
    ]
    document = summarize(fills, [settlement("B", "no", 3.0)]).to_json()
    assert document["by_market"] == {
        # released 4.00 x 0.005 / 10 = 0.002; sold for 0.005 x 0.1234567
        "A": {
            "realized_gross": "-0.0013827165",
            "fees": "0.0000",
            "realized": "-0.0013827165",
            "fills": 2,
            "settlements": 0,
        },
        "B": {
            "realized_gross": "-2.0000",
            "fees": "0.0000",
            "realized": "-2.0000",
            "fills": 1,
            "settlements": 1,
        },
    }
    assert document["by_day"]["1970-01-01"]["fills"] == 3
    assert document["by_day"]["1970-01-01"]["settlements"] == 1


def test_a_first_fill_finer_than_the_units_in_every_field_is_counted_exactly() -> None:
    """Price ($0.1234567), count (0.005) and fee ($0.000000001) all finer than the integer
    units: the pass must switch to Decimal at the first of them, not truncate the three to
    integers (which would count the fill as 0 contracts and no fee). The document writes
    each figure out in plain digits, as it promises, never as `1E-9`."""
    fills = [
        FillRecord("f1", "o1", None, "A", BID, D("0.1234567"), D("0.005"), D("1E-9"), True, 1.0),
        FillRecord("f2", "o2", None, "A", ASK, D("0.50"), D("0.005"), D(0), True, 2.0),
    ]
    summary = summarize(fills, [])
    assert summary.to_json()["by_market"]["A"] == {
        # bought 0.005 for 0.0006172835, sold them for 0.0025
        "realized_gross": "0.0018827165",
        "fees": "0.000000001",
        "realized": "0.0018827155",
        "fills": 2,
        "settlements": 0,
    }
    assert summary.to_json()["fees"] == "0.000000001"
    assert summary.engine.market("A").traded == D("0.01")
    assert summary.engine.market("A").position == 0
