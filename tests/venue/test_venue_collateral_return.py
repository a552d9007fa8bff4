"""A local venue (backtests, paper trading) nets an event as the exchange does: with netting on,
Kalshi's example of NO at 0.60 and NO at 0.70 in a mutually exclusive event takes $0.30 of the
balance, and settles to what netting off ends with."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.venue import LocalVenue, MarketInfo
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.fakes import ticks

D = Decimal
EVENT = "KXSOS-26"
A, C = f"{EVENT}-CLINTON", f"{EVENT}-KERRY"


def hedged(netting: bool) -> LocalVenue:
    infos = [
        MarketInfo(
            t,
            EVENT,
            "KXSOS",
            fee_type="quadratic",
            fee_multiplier="0",
            collateral_return_type="MECNET",
            mutually_exclusive=True,
        )
        for t in (A, C)
    ]
    venue = LocalVenue(ManualClock(), infos, balance=D(100))
    venue.client.subaccounts.set_subaccount_netting(0, netting)
    for ticker, bid in ((A, "0.40"), (C, "0.30")):  # YES bids: a NO costs 0.60 and 0.70
        venue.book_changed(ticker, ticks({D(bid): D(5)}), ticks({}))
        sell_yes = CreateOrder(ticker, BookSide.ASK, D(bid), D(1), time_in_force=TimeInForce.IOC)
        assert venue.client.orders.create_order(sell_yes).fill_count == 1
    return venue


def balance(venue: LocalVenue) -> Decimal:
    dollars = venue.client.portfolio.get_balance().balance_dollars
    assert dollars is not None
    return dollars


def test_a_netting_venue_holds_only_the_events_worst_case_and_settles_as_without() -> None:
    on, off = hedged(True), hedged(False)
    assert balance(on) == D("99.70")
    assert balance(off) == D("98.70")
    assert on.client.subaccounts.subaccount_netting() == {0: True}
    for venue in (on, off):
        venue.settle(A, "yes")
        venue.settle(C, "no")
    assert balance(on) == balance(off) == D("99.70")
