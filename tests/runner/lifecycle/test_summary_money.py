"""The loop's closing summary reads money and counts as every other report does: `-$0.33`,
`$1.20`, sub-cent digits kept (a fee total of $0.0175 is never shown as $0.02), every amount of
the summary to the places of the finest, and contracts to 2 places."""

from __future__ import annotations

from decimal import Decimal as D

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.runner.loop.summary import Summary
from kalshi_cli.vocabulary.models import Market, Orderbook
from kalshi_cli.vocabulary.units import ZERO, BookSide


def test_summary_money_is_dollars_to_the_cent_with_the_sign_first() -> None:
    summary = Summary(
        uptime_s=1.0,  # a duration
        ticks=1,
        orders=1,
        fills=1,
        denied=0,
        open_positions={"KXA": D("-5"), "KXB": D("15.00"), "KXC": D("0.5")},
        resting_orders=0,
        realized_pnl=D("-0.33"),
        daily_pnl=D("1.2"),
        unrealized_pnl=D("-0.0175"),
        trading_state="ACTIVE",
    )
    lines = summary.lines()
    assert "open positions  KXA -5.00, KXB +15.00, KXC +0.50" in lines
    assert "realized P&L    -$0.3300 this run, $1.2000 today" in lines
    assert "unrealized P&L  -$0.0175" in lines
    whole_cents = Summary(**{**summary.__dict__, "unrealized_pnl": D("2")})
    assert "realized P&L    -$0.33 this run, $1.20 today" in whole_cents.lines()
    assert "unrealized P&L  $2.00" in whole_cents.lines()


def test_an_unknown_mark_makes_the_unrealized_pnl_unknown_never_zero() -> None:
    """No defaults in money: a position whose held side has no bid (or whose book the loop no
    longer has) has no mark. The loop's summary counted it $0, so 10 YES bought at $0.60 in a
    market with no YES bid read as an unrealized P&L of $0.00; it is unknown, as `kalshi
    positions` and the dashboard say."""
    portfolio = Portfolio([Market(ticker="KXA"), Market(ticker="KXB")])
    portfolio.apply_fill("KXA", BookSide.BID, D("0.60"), D(10), ZERO, ts=1.0, strategy=None)
    portfolio.apply_fill("KXB", BookSide.BID, D("0.40"), D(5), ZERO, ts=1.0, strategy=None)
    marked = Orderbook("KXB", ((D("0.45"), D(3)),), ())
    assert portfolio.unrealized({"KXB": marked}) is None  # no book for KXA
    no_yes_bid = Orderbook("KXA", (), ((D("0.30"), D(2)),))
    assert portfolio.unrealized({"KXA": no_yes_bid, "KXB": marked}) is None
    both: dict[str, Orderbook | None] = {
        "KXA": Orderbook("KXA", ((D("0.55"), D(1)),), ()),
        "KXB": marked,
    }
    assert portfolio.unrealized(both) == D("-0.25")  # 10 x -0.05 + 5 x 0.05
    summary = Summary(
        uptime_s=1.0,
        ticks=1,
        orders=2,
        fills=2,
        denied=0,
        open_positions={"KXA": D(10), "KXB": D(5)},
        resting_orders=0,
        realized_pnl=ZERO,
        daily_pnl=ZERO,
        unrealized_pnl=None,
        trading_state="ACTIVE",
    )
    assert "unrealized P&L  unknown (a position without a mark)" in summary.lines()
    assert summary.to_json()["unrealized_pnl"] is None
