"""Whether a leg held to its settlement is worth selling now (runner/execution/open_sets.py
`SaleBack.beats_holding`) is judged on what it holds beyond the whole sets, and only that: the
sale's price is where the bids cover that many contracts, what it is sure of is that many
contracts' floor, and a leg holding no more than the whole sets has nothing to sell. The loop
tests reach it only with sets of no whole set (a set killed before its last leg went)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import TYPE_CHECKING, cast

from kalshi_cli.runner.execution.leg_worth import LegWorth
from kalshi_cli.runner.execution.open_sets import OpenSet, SaleBack
from kalshi_cli.strategy_api import MarketTerms
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import Action, Side

if TYPE_CHECKING:
    from kalshi_cli.runner.ports import MarketFeed

FLOORED, OTHER = "EV-FLOOR", "EV-OTHER"


class _Books:
    """The feed's books, as given."""

    def __init__(self, *books: Orderbook) -> None:
        self.books = {b.ticker: b for b in books}

    def book(self, ticker: str) -> Orderbook | None:
        return self.books.get(ticker)


def _sale_back(book: Orderbook, closed: frozenset[str] = frozenset()) -> SaleBack:
    # a YES of FLOORED is sure of its $0.25 floor a contract whatever the market settles
    worth = LegWorth(
        exclusive={},
        terms={FLOORED: MarketTerms(settlement_floor=D("0.25"))},
        results={},
        fee_rates=lambda ticker, at: (D("0.07"), D(0)),
        clock=ManualClock(),
    )
    return SaleBack(cast("MarketFeed", _Books(book)), closed, worth)


def _set(held: tuple[int, int]) -> OpenSet:
    """Both legs sent, YES of FLOORED first, holding `held`."""
    legs = [
        Intent(t, Side.YES, Action.BUY, D("0.50"), D(5), D("0.60"), "set s1")
        for t in (FLOORED, OTHER)
    ]
    s = OpenSet("s1", legs, [], decided_on=None, release=lambda: None)
    s.sent = len(legs)
    s.held = [D(h) for h in held]
    return s


# 2 contracts bid at $0.60 (they bring $1.20 less a $0.04 fee, above the $0.50 two floors are
# sure of), then 10 at $0.10
BOOK = Orderbook(FLOORED, ((D("0.60"), D(2)), (D("0.10"), D(10))), ())


def test_the_sale_is_priced_and_judged_on_what_the_leg_holds_beyond_the_whole_sets() -> None:
    # 5 held, 3 whole sets: the 2 beyond sell at $0.60; the 5 held would reach the $0.10 bids,
    # which bring less than the 5 floors' $1.25
    assert _sale_back(BOOK).beats_holding(_set((5, 3)), 0)


def test_one_contract_beyond_the_whole_sets_is_sold_once_its_bid_beats_its_floor() -> None:
    assert _sale_back(BOOK).beats_holding(_set((4, 3)), 0)


def test_a_leg_holding_no_more_than_the_whole_sets_has_nothing_to_sell() -> None:
    assert not _sale_back(BOOK).beats_holding(_set((3, 3)), 0)


def test_a_leg_whose_market_no_longer_trades_or_has_no_bids_is_not_sold() -> None:
    assert not _sale_back(BOOK, frozenset({FLOORED})).beats_holding(_set((5, 3)), 0)
    assert not _sale_back(Orderbook(FLOORED, (), ())).beats_holding(_set((5, 3)), 0)


def test_a_leg_whose_bids_bring_less_than_its_floor_stays_held() -> None:
    # the 2 beyond bid at $0.20 bring $0.40 less the fee: below the $0.50 their floor is sure of
    low = Orderbook(FLOORED, ((D("0.20"), D(10)),), ())
    assert not _sale_back(low).beats_holding(_set((5, 3)), 0)


def test_a_sale_back_is_priced_at_the_bid_whose_depth_covers_it() -> None:
    book = Orderbook(
        FLOORED, ((D("0.60"), D(2)), (D("0.50"), D(2)), (D("0.10"), D(10))), ((D("0.30"), D(1)),)
    )
    sale = _sale_back(book)
    assert sale.price(FLOORED, Side.YES, D(2)) == D("0.60")
    assert sale.price(FLOORED, Side.YES, D(3)) == D("0.50")  # 2 at $0.60 and 1 at $0.50
    assert sale.price(FLOORED, Side.YES, D(4)) == D("0.50")
    assert sale.price(FLOORED, Side.YES, D(20)) == D("0.10")  # no depth covers it: the last bid
    assert sale.price(FLOORED, Side.NO, D(1)) == D("0.30")
    assert sale.price(OTHER, Side.YES, D(1)) is None  # no book of it
