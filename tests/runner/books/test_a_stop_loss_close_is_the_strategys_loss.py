"""When the stop-loss (the account's floor) closes contracts a strategy bought, the strategy
realized that loss: its part is closed at the stop-loss fill's price, with its share of the
fee, and its day's P&L (what its daily loss limit reads) counts it. A strategy stopped out at a
loss must not go on trading that day as if nothing was lost. A sale by hand or by another
program takes the contracts back at their own cost instead: its P&L is the seller's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.store import FillRecord
from kalshi_cli.strategy_api import FLAT, Holding
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.models import Market
from kalshi_cli.vocabulary.owners import MANUAL, STOP_LOSS
from kalshi_cli.vocabulary.units import BookSide
from tests.runner.books.parts import START as T0
from tests.runner.books.parts import TICKER, filled, loop_of

D = Decimal
TODAY = utc_day(T0)


def own(portfolio: Portfolio, name: str) -> Holding:
    return portfolio.view_for(TICKER, name).own


def stop_loss_fill(
    portfolio: Portfolio, book_side: BookSide, yes_price: str, count: int, fee: str, *, at: float
) -> None:
    portfolio.apply_fill(
        TICKER, book_side, D(yes_price), D(count), D(fee), ts=at, strategy=STOP_LOSS
    )


def test_a_stop_loss_close_realizes_the_strategys_loss_with_the_fee() -> None:
    portfolio = loop_of("mm")
    filled(portfolio, BookSide.BID, "0.60", 10, "mm", at=T0)
    stop_loss_fill(portfolio, BookSide.ASK, "0.20", 10, "0.10", at=T0 + 60)
    assert own(portfolio, "mm") == FLAT
    assert portfolio.owners.realized_today("mm", TODAY) == D("-4.10")  # 10 x -0.40 - 0.10


def test_a_partial_stop_loss_fill_charges_the_newest_parts_it_cuts_their_share() -> None:
    portfolio = loop_of("first", "second")
    filled(portfolio, BookSide.BID, "0.40", 5, "first", at=T0)
    filled(portfolio, BookSide.BID, "0.50", 5, "second", at=T0 + 1)
    stop_loss_fill(portfolio, BookSide.ASK, "0.30", 7, "0.07", at=T0 + 2)
    assert own(portfolio, "second") == FLAT
    assert own(portfolio, "first") == Holding(D(3), D("0.40"), D("1.20"), T0)
    assert portfolio.owners.realized_today("second", TODAY) == D("-1.05")  # 5 x -0.20 - 0.05
    assert portfolio.owners.realized_today("first", TODAY) == D("-0.22")  # 2 x -0.10 - 0.02


@pytest.mark.parametrize(("count", "loss"), [(4, "-2.40"), (1, "-0.60")])
def test_a_stop_loss_close_of_a_no_part_realizes_at_its_price(count: int, loss: str) -> None:
    """Down to a single contract, which is a close like any other."""
    portfolio = loop_of("mm")
    filled(portfolio, BookSide.ASK, "0.30", count, "mm", at=T0)  # NO at 0.70
    stop_loss_fill(portfolio, BookSide.BID, "0.90", count, "0", at=T0 + 60)  # NO sold at 0.10
    assert own(portfolio, "mm") == FLAT
    assert portfolio.owners.realized_today("mm", TODAY) == D(loss)


def test_the_stop_loss_takes_unowned_contracts_first_and_charges_only_what_it_cut() -> None:
    """The account holds 6 of the strategy's and 4 bought by hand; a stop-loss fill of 5 leaves
    5, so the strategy's part is cut by 1 (the parts never exceed what the account holds)."""
    portfolio = loop_of("mm")
    filled(portfolio, BookSide.BID, "0.60", 6, "mm", at=T0)
    filled(portfolio, BookSide.BID, "0.55", 4, None, at=T0 + 1)
    stop_loss_fill(portfolio, BookSide.ASK, "0.20", 5, "0.05", at=T0 + 60)
    assert own(portfolio, "mm").position == 5
    assert portfolio.owners.realized_today("mm", TODAY) == D("-0.41")  # 1 x -0.40 - 0.01


def test_a_sale_by_hand_takes_the_part_back_at_its_cost_and_realizes_nothing_for_it() -> None:
    portfolio = loop_of("mm")
    filled(portfolio, BookSide.BID, "0.60", 10, "mm", at=T0)
    filled(portfolio, BookSide.ASK, "0.20", 10, MANUAL, at=T0 + 60)
    assert own(portfolio, "mm") == FLAT
    assert portfolio.owners.realized_today("mm", TODAY) == D(0)


def test_a_restart_and_a_late_given_fill_charge_the_stop_loss_once() -> None:
    """The strategy's buy was booked as nobody's (its answer lost), the stop-loss closed the
    account, then the lookup found the buy: the replay charges the strategy the loss once, and
    a loop rebuilt from the same fills holds the same day's P&L."""
    portfolio = Portfolio([Market(ticker=TICKER)])
    portfolio.owners.own("mm")
    portfolio.owners.keep_replay(TICKER)
    buy = FillRecord(
        "f-buy", "o-buy", None, TICKER, BookSide.BID, D("0.60"), D(10), D(0), False, T0
    )
    portfolio.apply_fill(
        TICKER,
        buy.book_side,
        buy.yes_price,
        buy.count,
        buy.fee,
        ts=T0,
        fill_id=buy.fill_id,
        strategy=None,
    )
    stop_loss_fill(portfolio, BookSide.ASK, "0.20", 10, "0.10", at=T0 + 60)
    assert portfolio.owners.realized_today("mm", TODAY) == D(0)
    portfolio.give_fills("mm", [buy])
    assert portfolio.owners.realized_today("mm", TODAY) == D("-4.10")
    portfolio.give_fills("mm", [buy])  # a second lookup finds it again
    assert portfolio.owners.realized_today("mm", TODAY) == D("-4.10")

    restarted = loop_of("mm")
    filled(restarted, BookSide.BID, "0.60", 10, "mm", at=T0)
    stop_loss_fill(restarted, BookSide.ASK, "0.20", 10, "0.10", at=T0 + 60)
    assert restarted.owners.realized_today("mm", TODAY) == D("-4.10")


def test_a_share_of_the_fee_is_kept_to_kalshis_four_places() -> None:
    """A stop-loss fill of 3 that cuts 1 contract of the strategy's carries a third of its
    $0.07 fee: $0.0233, not a repeating decimal in the day's figure `kalshi status` shows."""
    portfolio = loop_of("mm")
    filled(portfolio, BookSide.BID, "0.60", 1, "mm", at=T0)
    filled(portfolio, BookSide.BID, "0.60", 2, None, at=T0 + 1)
    stop_loss_fill(portfolio, BookSide.ASK, "0.20", 3, "0.07", at=T0 + 60)
    assert portfolio.owners.realized_today("mm", TODAY) == D("-0.4233")


def test_a_close_of_all_the_fills_contracts_carries_its_whole_fee_to_the_last_place() -> None:
    """Kalshi's fee strings have six places: a part that took every contract of the fill is
    charged all of it, not the fee rounded to four."""
    portfolio = loop_of("mm")
    filled(portfolio, BookSide.BID, "0.60", 10, "mm", at=T0)
    stop_loss_fill(portfolio, BookSide.ASK, "0.20", 10, "0.123456", at=T0 + 60)
    assert portfolio.owners.realized_today("mm", TODAY) == D("-4.123456")


def test_a_stop_loss_close_whose_answer_was_lost_is_charged_once_it_is_found() -> None:
    """The stop-loss's order was of unknown outcome; its fill was read first, as nobody's (a
    sale by hand: the part taken back at its cost). The lookup finds the order: the market is
    replayed with the fill the stop-loss's, and the strategy's day counts the loss."""
    portfolio = loop_of("mm")
    filled(portfolio, BookSide.BID, "0.60", 10, "mm", at=T0)
    portfolio.owners.keep_replay(TICKER)
    close = FillRecord(
        "f-close", "o-close", None, TICKER, BookSide.ASK, D("0.20"), D(10), D("0.10"), True, T0 + 60
    )
    portfolio.apply_fill(
        TICKER, close.book_side, close.yes_price, close.count, close.fee, ts=close.ts,
        strategy=None, fill_id=close.fill_id,
    )  # fmt: skip
    assert portfolio.owners.realized_today("mm", TODAY) == D(0)
    portfolio.give_fills(STOP_LOSS, [close])
    assert own(portfolio, "mm") == FLAT
    assert portfolio.owners.realized_today("mm", TODAY) == D("-4.10")


def test_the_shares_of_the_fee_of_a_close_cutting_several_parts_add_up_to_the_fee() -> None:
    """Three strategies own 1 YES each; the stop-loss sells the 3 at 0.21 for a fee of
    $0.0349 (0.07 x 3 x 0.21 x 0.79 = 0.034839, up to $0.0001). A third of it is $0.011633...:
    each share rounded alone is $0.0116, and the three days together were charged $0.0348 of
    the $0.0349 the account paid. The shares are rounded on their running total, so the
    strategies' losses add up to the account's to the last digit."""
    names = ("first", "second", "third")
    portfolio = loop_of(*names)
    for i, name in enumerate(names):
        filled(portfolio, BookSide.BID, "0.60", 1, name, at=T0 + i)
    account_before = portfolio.pnl.realized
    stop_loss_fill(portfolio, BookSide.ASK, "0.21", 3, "0.0349", at=T0 + 60)
    days = [portfolio.owners.realized_today(name, TODAY) for name in names]
    assert sum(days, D(0)) == portfolio.pnl.realized - account_before == D("-1.2049")
    assert sorted(days) == [D("-0.4017"), D("-0.4016"), D("-0.4016")]
