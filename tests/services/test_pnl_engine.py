"""The average-cost P&L engine on hand-computed sequences, to the cent."""

from decimal import Decimal as D

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    Fill,
    Orderbook,
    Settlement,
    decode_answer,
    decode_orderbook,
)
from kalshi_cli.vocabulary.units import BookSide

BID, ASK = BookSide.BID, BookSide.ASK


def test_buy_then_sell_yes_realizes_the_difference() -> None:
    e = PnlEngine()
    e.apply_fill("M", BID, D("0.40"), D("10"), D("0.17"))
    e.apply_fill("M", ASK, D("0.55"), D("4"), D("0.07"))
    m = e.market("M")
    assert m.position == D("6")
    assert m.basis == D("2.40")  # 6 x 0.40 left
    assert m.realized_gross == D("0.60")  # 4 x (0.55 - 0.40)
    assert m.fees == D("0.24")
    assert m.realized == D("0.36")


def test_average_cost_across_two_buys() -> None:
    e = PnlEngine()
    e.apply_fill("M", BID, D("0.30"), D("10"), D("0"))
    e.apply_fill("M", BID, D("0.50"), D("10"), D("0"))
    m = e.market("M")
    assert m.average_entry == D("0.4")
    e.apply_fill("M", ASK, D("0.45"), D("5"), D("0"))
    assert m.realized_gross == D("0.25")  # 5 x (0.45 - 0.40)
    assert m.basis == D("6.00")


def test_buying_no_is_an_ask_at_one_minus_price() -> None:
    e = PnlEngine()
    # buy 10 NO at 0.35 = ask YES at 0.65
    e.apply_fill("M", ASK, D("0.65"), D("10"), D("0"))
    m = e.market("M")
    assert m.position == D("-10")
    assert m.basis == D("3.50")
    # sell 10 NO at 0.50 = bid YES at 0.50
    e.apply_fill("M", BID, D("0.50"), D("10"), D("0"))
    assert m.position == 0
    assert m.realized_gross == D("1.50")  # 10 x (0.50 - 0.35)


def test_a_fill_through_zero_closes_then_opens_the_other_side() -> None:
    e = PnlEngine()
    e.apply_fill("M", BID, D("0.60"), D("5"), D("0"))
    e.apply_fill("M", ASK, D("0.70"), D("8"), D("0"))  # sells 5 YES, buys 3 NO at 0.30
    m = e.market("M")
    assert m.position == D("-3")
    assert m.realized_gross == D("0.50")
    assert m.basis == D("0.90")


def test_settlement_yes_pays_a_dollar_and_no_pays_nothing() -> None:
    e = PnlEngine()
    e.apply_fill("W", BID, D("0.40"), D("10"), D("0.17"))
    e.apply_fill("L", ASK, D("0.40"), D("10"), D("0.17"))  # 10 NO at 0.60
    e.apply_settlement("W", "yes")
    e.apply_settlement("L", "yes")
    assert e.market("W").realized_gross == D("6.00")
    assert e.market("L").realized_gross == D("-6.00")
    assert e.market("W").position == 0 and e.market("L").position == 0
    assert e.fees == D("0.34")
    assert e.realized == D("-0.34")


def test_marks_use_the_best_bid_of_the_held_side() -> None:
    e = PnlEngine()
    e.apply_fill("M", ASK, D("0.60"), D("10"), D("0"))  # 10 NO at 0.40
    book = decode_orderbook(
        "M", {"orderbook_fp": {"yes_dollars": [["0.55", "5"]], "no_dollars": [["0.42", "7"]]}}
    )
    bid, mid = e.market("M").mark(book)
    assert bid == D("0.42")
    assert mid == D("0.435")  # 1 - (0.55 + 0.58) / 2
    assert e.market("M").unrealized(bid) == D("0.20")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([BID, ASK]),
            st.integers(min_value=1, max_value=99),
            st.integers(min_value=1, max_value=50),
        ),
        max_size=30,
    ),
    st.sampled_from(["yes", "no"]),
)
def test_after_settlement_realized_equals_cash_flow(fills, result) -> None:
    """Whatever the path, realized P&L after settlement equals the cash the trades and the
    payout moved: nothing is lost to rounding."""
    e = PnlEngine()
    cash = D(0)
    position = D(0)
    for side, cents, count in fills:
        p = D(cents) / 100
        n = D(count)
        e.apply_fill("M", side, p, n, D(0))
        if side is BID:
            cash -= p * n
            position += n
        else:
            cash += p * n
            position -= n
    e.apply_settlement("M", result)
    # the pair structure: NO contracts cost 1 - p; cash above counts a sale of YES as +p, so
    # holding -k YES means k NO bought at (1-p) each minus $1 collateral per contract
    payout = position if (result == "yes" and position > 0) else D(0)
    if position < 0:
        payout = -position if result == "no" else D(0)
        cash -= -position  # each NO contract needed $1 of collateral beyond the +p received
    assert e.market("M").realized_gross == cash + payout


def test_a_floored_settlement_pays_both_sides_what_the_record_says() -> None:
    """A NO result on a market floored at 0.25: YES contracts got $0.25, NO ones $0.75, as
    the settlement records' revenue shows; the streaming summary and the engine (the trade
    loop's replay) agree on it."""
    fills = [
        FillRecord("f1", "o1", None, "Y", BID, D("0.40"), D("10"), D("0"), True, 1.0),
        FillRecord("f2", "o2", None, "N", BID, D("0.40"), D("4"), D("0"), True, 2.0),
        FillRecord("f3", "o3", None, "N", ASK, D("0.40"), D("8"), D("0"), True, 3.0),
    ]
    settlements = [
        SettlementRecord("Y", "E", "no", D(10), D(0), D("4.00"), D(0), D("2.50"), D(0), 9.0),
        SettlementRecord("N", "E", "no", D(0), D(4), D(0), D("2.40"), D("3.00"), D(0), 9.0),
    ]
    assert [s.yes_value for s in settlements] == [D("0.25"), D("0.25")]
    engine = PnlEngine()
    list(replay_into(engine, fills, settlements))
    summary = summarize(fills, settlements)
    for e in (engine, summary.engine):
        assert e.market("Y").realized_gross == D("2.50") - D("4.00")
        # 4 YES bought at 0.40 sold at 0.40, then 4 NO at 0.60 paid $0.75 each
        assert e.market("N").realized_gross == D("3.00") - D("2.40")
        assert e.market("Y").position == e.market("N").position == 0


def test_a_scalar_settlement_pays_what_its_revenue_says() -> None:
    """A scalar result (openapi Settlement `market_result` "scalar", `value` the cents a YES
    contract paid) at $0.65: 10 YES that cost $4.00 got $6.50, 4 NO that cost $2.40 got $1.40.
    Every figure reads the revenue: the engine, the summary, and the settlement's own realized
    P&L (the figure the daily circuit breaker adds)."""
    fills = [
        FillRecord("f1", "o1", None, "Y", BID, D("0.40"), D("10"), D("0"), True, 1.0),
        FillRecord("f2", "o2", None, "N", ASK, D("0.40"), D("4"), D("0"), True, 2.0),
    ]
    settlements = [
        SettlementRecord("Y", "E", "scalar", D(10), D(0), D("4.00"), D(0), D("6.50"), D(0), 9.0),
        SettlementRecord("N", "E", "scalar", D(0), D(4), D(0), D("2.40"), D("1.40"), D(0), 9.0),
    ]
    engine = PnlEngine()
    list(replay_into(engine, fills, settlements))
    summary = summarize(fills, settlements)
    for e in (engine, summary.engine):
        assert e.market("Y").realized_gross == D("2.50") == settlements[0].realized_pnl
        assert e.market("N").realized_gross == D("-1.00") == settlements[1].realized_pnl
        assert e.market("Y").position == e.market("N").position == 0


# -------------------------------------------------------------------- marks, settlements, records
# A position's mark is its side's best bid price; a 1-contract position has a mark, an entry and an
# unrealized P&L; two settlements due before one fill are both applied first (the realized P&L per
# fill the daily circuit breaker adds up); released basis on an exact tie rounds half-even; the
# fill and settlement bodies become the records the state file keeps.


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
        decode_answer(Fill, body), read_at=1795341700.0, client_order_id="c-1", strategy="spike"
    )
    assert record == FillRecord(
        "F1", "O1", "c-1", "KX-A", ASK, D("0.42"), D(3), D("0.0123"), True,
        1795341601.25, "spike", None,
    )  # fmt: skip
    assert record.realized_pnl is None
    bare = fill_record_from_api(decode_answer(Fill, body), read_at=1795341700.0)
    assert (bare.client_order_id, bare.strategy) == (None, None)


def test_a_fill_body_without_created_time_takes_ts_or_the_time_of_its_read() -> None:
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
    read_at = 1795341700.5
    assert fill_record_from_api(decode_answer(Fill, body), read_at=read_at).ts == 1795341601.0
    del body["ts"]
    assert fill_record_from_api(decode_answer(Fill, body), read_at=read_at).ts == read_at


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
    del body["settled_time"]  # no time, no day to book it in: refused, never dated 1970
    with pytest.raises(msgspec.ValidationError, match="settled_time"):
        decode_answer(Settlement, body)


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
    assert summary.engine.market("A").position == 0
