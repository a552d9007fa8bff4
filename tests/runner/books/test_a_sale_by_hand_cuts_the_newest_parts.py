"""A fill that leaves the account holding less than its strategies' parts together (a person
selling by hand) cuts the newest part first, each part cut at its own average cost, on the YES
side as on the NO side and down to a single contract; a part of one contract is a part like any
other, and so is the part of a strategy that does not run in this loop: its own, never the
loop's."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.strategy_api import FLAT, Holding
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.units import ZERO, BookSide
from tests.runner.books.parts import START as T0
from tests.runner.books.parts import TICKER, filled, loop_of

D = Decimal


def own(portfolio: Portfolio, name: str) -> Holding:
    return portfolio.view_for(TICKER, name).own


def test_a_sale_by_hand_cuts_the_newest_yes_part_first_each_at_its_own_cost() -> None:
    portfolio = loop_of("idle", "first", "second")  # idle holds nothing in the market
    filled(portfolio, BookSide.BID, "0.40", 5, "first", at=T0)
    filled(portfolio, BookSide.BID, "0.50", 5, "second", at=T0 + 1)
    filled(portfolio, BookSide.ASK, "0.45", 7, None, at=T0 + 2)  # 7 sold by hand: 3 left
    assert own(portfolio, "second") == FLAT
    assert own(portfolio, "first") == Holding(D(3), D("0.40"), D("1.20"), T0)
    assert own(portfolio, "idle") == FLAT


def test_a_purchase_by_hand_cuts_the_newest_no_part_first_each_at_its_own_cost() -> None:
    portfolio = loop_of("first", "second")
    filled(portfolio, BookSide.ASK, "0.30", 5, "first", at=T0)  # 5 NO at 0.70
    filled(portfolio, BookSide.ASK, "0.40", 5, "second", at=T0 + 1)  # 5 NO at 0.60
    filled(portfolio, BookSide.BID, "0.35", 7, None, at=T0 + 2)  # 7 YES bought by hand
    assert own(portfolio, "second") == FLAT
    assert own(portfolio, "first") == Holding(D(-3), D("0.70"), D("2.10"), T0)


def test_parts_of_one_contract_are_cut_kept_and_settled_like_any_other() -> None:
    portfolio = loop_of("first", "second")
    filled(portfolio, BookSide.BID, "0.40", 2, "first", at=T0)
    filled(portfolio, BookSide.BID, "0.50", 1, "second", at=T0 + 1)
    filled(portfolio, BookSide.ASK, "0.45", 1, None, at=T0 + 2)  # the newest part, one contract
    assert own(portfolio, "second") == FLAT
    assert own(portfolio, "first") == Holding(D(2), D("0.40"), D("0.80"), T0)
    filled(portfolio, BookSide.ASK, "0.45", 1, None, at=T0 + 3)  # the account holds one
    assert own(portfolio, "first") == Holding(D(1), D("0.40"), D("0.40"), T0)
    portfolio.apply_settlement(TICKER, "yes", ts=T0 + 60, fee=ZERO)
    assert own(portfolio, "first") == FLAT
    assert portfolio.owners.realized_today("first", utc_day(T0)) == D("0.60")  # 1 - 0.40


def test_an_older_part_of_one_contract_is_kept_when_a_sale_by_hand_cuts_a_newer_one() -> None:
    portfolio = loop_of("first", "second")
    filled(portfolio, BookSide.BID, "0.40", 1, "first", at=T0)
    filled(portfolio, BookSide.BID, "0.50", 5, "second", at=T0 + 1)
    filled(portfolio, BookSide.ASK, "0.45", 2, None, at=T0 + 2)  # 2 sold by hand: 4 left
    assert own(portfolio, "first") == Holding(D(1), D("0.40"), D("0.40"), T0)
    assert own(portfolio, "second") == Holding(D(3), D("0.50"), D("1.50"), T0 + 1)


def test_a_fill_of_a_strategy_this_loop_does_not_run_is_its_own_never_the_loops() -> None:
    """A strategy an earlier run ran (or the assistant) keeps its part when this loop does not
    run it: none of it is the loop's strategies' to exit, nor to be given one (`--assign`
    hands over what no strategy bought), and a sale by hand cuts it as the newest part, as a
    loop running it would, so no lineup splits the account otherwise."""
    portfolio = loop_of("mm")
    filled(portfolio, BookSide.BID, "0.40", 3, "elsewhere", at=T0)  # an earlier run's
    filled(portfolio, BookSide.BID, "0.50", 3, "mm", at=T0 + 1)
    assert portfolio.position(TICKER) == 6
    assert own(portfolio, "mm") == Holding(D(3), D("0.50"), D("1.50"), T0 + 1)
    assert portfolio.assign("mm", TICKER, T0 + 5) == 0
    filled(portfolio, BookSide.ASK, "0.45", 3, None, at=T0 + 6)  # 3 sold by hand
    assert own(portfolio, "mm") == FLAT
    assert own(portfolio, "elsewhere") == Holding(D(3), D("0.40"), D("1.20"), T0)


def test_a_strategy_buying_the_other_side_holds_no_part_and_cuts_the_holders() -> None:
    """The exchange nets YES and NO of one market: a strategy that buys 4 NO while another holds
    10 YES leaves the account 6 YES. The buyer holds no part (the account holds no NO), and the
    holder's part shrinks to what the account holds."""
    portfolio = loop_of("holder", "buyer")
    filled(portfolio, BookSide.BID, "0.40", 10, "holder", at=T0)
    filled(portfolio, BookSide.ASK, "0.45", 4, "buyer", at=T0 + 1)  # 4 NO at 0.55
    assert own(portfolio, "buyer") == FLAT
    assert own(portfolio, "holder") == Holding(D(6), D("0.40"), D("2.40"), T0)


def test_a_position_flipped_by_hand_ends_the_strategys_part_for_good() -> None:
    """A sale by hand past what the account holds turns 1 YES into 5 NO: the strategy's YES
    part ends there, and buying back to YES by hand gives it nothing back."""
    portfolio = loop_of("mm")
    filled(portfolio, BookSide.BID, "0.40", 1, "mm", at=T0)
    filled(portfolio, BookSide.ASK, "0.45", 6, None, at=T0 + 1)  # 5 NO, none of them mm's
    filled(portfolio, BookSide.BID, "0.50", 6, None, at=T0 + 2)  # 1 YES again, by hand
    assert portfolio.view(TICKER).whole.position == 1
    assert own(portfolio, "mm") == FLAT
