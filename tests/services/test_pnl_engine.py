"""The average-cost P&L engine on hand-computed sequences, to the cent."""

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.services.pnl import PnlEngine, replay_into, summarize
from kalshi_cli.store import FillRecord, SettlementRecord
from kalshi_cli.vocabulary.models import BookSide, decode_orderbook

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
