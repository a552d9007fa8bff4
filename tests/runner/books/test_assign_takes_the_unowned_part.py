"""`kalshi trade --assign NAME:TICKER` gives a strategy the part of the account's position that
no strategy owns, on the side held, at the account's average cost; a part another strategy
built stays that strategy's, and a view read before is read afresh."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.strategy_api import FLAT, Holding
from kalshi_cli.vocabulary.models import Market
from kalshi_cli.vocabulary.units import ZERO, BookSide
from tests.runner.books.parts import START, TICKER, filled, loop_of

D = Decimal


def test_the_contracts_no_strategy_owns_are_given_and_the_others_parts_stay_theirs() -> None:
    portfolio = loop_of("mm", "spike", "arb")
    filled(portfolio, BookSide.BID, "0.40", 1, "spike")
    filled(portfolio, BookSide.BID, "0.40", 2, "arb")
    filled(portfolio, BookSide.BID, "0.40", 1, None)  # bought by hand
    assert portfolio.view_for(TICKER, "mm").own == FLAT  # read before: kept until a change
    assert portfolio.assign("mm", TICKER, START + 5) == 1
    assert portfolio.view_for(TICKER, "mm").own == Holding(D(1), D("0.40"), D("0.40"), START + 5)
    assert portfolio.view_for(TICKER, "spike").own.position == 1
    assert portfolio.view_for(TICKER, "arb").own.position == 2
    assert portfolio.assign("mm", TICKER, START + 6) == 0  # nothing unowned is left


def test_a_no_position_is_given_as_no_at_the_accounts_average_cost() -> None:
    portfolio = loop_of("mm", "spike")
    filled(portfolio, BookSide.ASK, "0.30", 1, "spike")  # spike holds 1 NO, paid 0.70
    filled(portfolio, BookSide.ASK, "0.40", 3, None)  # 3 NO at 0.60, by hand
    filled(portfolio, BookSide.BID, "0.50", 2, "mm")  # mm's YES buy closes 2 of the 4 NO
    # the account holds 2 NO; spike's 1 is its own, the other 1 is nobody's
    whole = portfolio.view(TICKER).whole
    assert whole.position == -2
    assert portfolio.assign("mm", TICKER, START + 5) == 1
    own = portfolio.view_for(TICKER, "mm").own
    assert own == Holding(D(-1), whole.avg_entry_price, whole.avg_entry_price, START + 5)
    assert portfolio.view_for(TICKER, "spike").own.position == -1


def test_nothing_is_given_when_the_account_holds_nothing() -> None:
    portfolio = loop_of("mm")
    filled(portfolio, BookSide.BID, "0.40", 2, None)
    filled(portfolio, BookSide.ASK, "0.45", 2, None)
    assert portfolio.assign("mm", TICKER, START + 5) == 0
    assert portfolio.view_for(TICKER, "mm").own == FLAT


def test_a_part_given_leaves_the_strategys_parts_of_other_markets_its_own() -> None:
    other = "KXTEST-26JAN02-B"
    portfolio = Portfolio([Market(ticker=TICKER), Market(ticker=other)])
    portfolio.owners.own("mm")
    portfolio.apply_fill(other, BookSide.BID, D("0.30"), D(2), ZERO, ts=START, strategy="mm")
    filled(portfolio, BookSide.BID, "0.40", 1, None)  # bought by hand
    assert portfolio.assign("mm", TICKER, START + 5) == 1
    assert portfolio.view_for(other, "mm").own == Holding(D(2), D("0.30"), D("0.60"), START)


def test_the_unowned_contracts_are_added_to_the_part_the_strategy_already_holds() -> None:
    portfolio = loop_of("mm")
    filled(portfolio, BookSide.BID, "0.40", 1, "mm")
    filled(portfolio, BookSide.BID, "0.50", 1, None)  # bought by hand
    assert portfolio.assign("mm", TICKER, START + 5) == 1
    own = portfolio.view_for(TICKER, "mm").own
    assert (own.position, own.entry_cost, own.opened_at) == (D(2), D("0.85"), START)


def test_an_owner_with_no_part_anywhere_holds_none_of_the_accounts_position() -> None:
    """A name the parts have never met (no fill of its own, never named to the loop)."""
    portfolio = loop_of("mm")
    filled(portfolio, BookSide.BID, "0.40", 2, None)
    assert portfolio.view_for(TICKER, "never-ran").own == FLAT
