"""Collateral return in the exchange core: what a netting subaccount's resting orders hold, a
restart with netting state in place, and netting turned off (help.kalshi.com "Collateral
return"). The figures over HTTP are in test_collateral_return.py."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import (
    ExchangeError,
    PlaceResult,
    SimEvent,
    SimSeries,
)
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import NO_FEES
from tests.runner.fakes import place_on_desk
from tests.sim.test_core import ASK, BID, GTC, IOC, market
from tests.sim.test_journal import state


class Netted:
    """Accounts `a` (netting on) and `b` (off) with $`cash` each, and makers `m`, in a
    mutually exclusive event of markets A, B and C; no fees."""

    def __init__(self, cash: int = 100_00, journal: Path | None = None) -> None:
        self.clock = ManualClock()
        self.ex = Exchange(self.clock, fees=NO_FEES, journal=journal)
        if self.ex.restored:
            ids = {a.key_id: a.account_id for a in self.ex.accounts.accounts}
            self.a, self.b, self.m = ids["a"], ids["b"], ids["m"]
            return
        self.ex.reference.add_series(SimSeries("SER", "series"))
        self.ex.reference.add_event(SimEvent("X", "SER", "x", collateral_return_type="MECNET"))
        for ticker in "ABC":
            self.ex.add_market(market(ticker, event_ticker="X"))
        create = self.ex.accounts.create_account
        self.a = create(key_id="a", public_key_pem="", cash_cents=cash).account_id
        self.b = create(key_id="b", public_key_pem="", cash_cents=cash).account_id
        self.m = create(key_id="m", public_key_pem="", cash_cents=1_000_00).account_id
        self.ex.subaccounts.set_netting(self.a, 0, True)

    def place(  # noqa: PLR0917 (tests read best positionally)
        self, acct: str, ticker: str, side: BookSide, price: str, count: int, tif: TimeInForce = GTC
    ) -> PlaceResult:
        return place_on_desk(self.ex, acct, ticker, side, price, count, time_in_force=tif)

    def take(self, acct: str, ticker: str, side: BookSide, price: str, count: int) -> None:
        """`acct` takes `count` at `price` from a maker resting the other side."""
        self.place(self.m, ticker, BID if side is ASK else ASK, price, count)
        assert self.place(acct, ticker, side, price, count, IOC).fills

    def state(self) -> str:
        return state(self.ex)

    def held(self, acct: str) -> D:
        return self.ex.accounts.held_dollars(acct)

    def available(self, acct: str) -> D:
        return self.ex.accounts.cash_dollars(acct) - self.held(acct)


def refused(env: Netted, code: str, call: Callable[[], object]) -> None:
    """`call` is refused with a 400 `code` and changes nothing."""
    before = env.state()
    with pytest.raises(ExchangeError) as info:
        call()
    assert (info.value.status, info.value.code) == (400, code)
    assert env.state() == before


def _hedged(env: Netted) -> None:
    """`a` holds NO on A at 0.60 and NO on B at 0.70: one of them always pays $1, so $1 is
    returned and $0.30 taken."""
    env.take(env.a, "A", ASK, "0.40", 1)
    env.take(env.a, "B", ASK, "0.30", 1)
    assert env.ex.accounts.collateral.returned_dollars(env.a, "X") == 1


def test_a_resting_order_that_would_take_the_return_back_holds_it_so_no_balance_goes_negative() -> (
    None
):
    env = Netted(cash=1_00)
    _hedged(env)
    assert env.available(env.a) == D("0.70")
    # a YES bid on B closes the NO there: its fill gives $0.70 back but takes the $1 returned,
    # so it holds its price, as an order that opens a position does
    env.place(env.a, "B", BID, "0.30", 1)
    assert env.held(env.a) == D("0.30")
    refused(env, "insufficient_balance", lambda: env.place(env.a, "C", BID, "0.41", 1))
    env.place(env.a, "C", BID, "0.40", 1)
    assert env.available(env.a) == 0
    env.place(env.m, "B", ASK, "0.30", 1, IOC)  # the maker fill takes the return back
    assert env.ex.accounts.collateral.returned_dollars(env.a, "X") == 0
    assert env.available(env.a) == 0
    assert env.ex.accounts.account(env.a).cash_cents == 0


def test_the_return_is_what_settlement_pays_in_whole_cents_so_no_balance_goes_negative() -> None:
    """NO 3 at $0.50 on each of two markets whose YES settles at $0.2525 at least: one NO is
    sure to be paid 3 x $0.7475 = $2.2425, of which settlement pays $2.24 (the rest is its
    settlement fee), so $2.24 is returned. Had $2.2425 been, $0.742 of the $0.7425 available
    could be spent, and settlement, taking back what it never pays, would end the balance at
    $0.0020 below zero."""
    env = Netted(cash=1_50)
    for ticker in "DE":
        env.ex.add_market(market(ticker, event_ticker="X", settlement_floor=D("0.2525")))
    env.ex.add_market(market("F", "deci_cent", event_ticker="X"))
    env.take(env.a, "D", ASK, "0.50", 3)
    env.take(env.a, "E", ASK, "0.50", 3)
    assert env.ex.accounts.collateral.returned_dollars(env.a, "X") == D("2.24")
    assert env.available(env.a) == D("0.74")
    env.place(env.m, "F", ASK, "0.742", 1)
    refused(env, "insufficient_balance", lambda: env.place(env.a, "F", BID, "0.742", 1, IOC))
    env.ex.settlement.settle("D", "yes")
    env.ex.settlement.settle("E", "no")
    assert env.ex.accounts.collateral.returned_dollars(env.a, "X") == 0
    assert env.available(env.a) == D("0.74")


def test_an_account_without_netting_still_holds_nothing_for_an_order_its_position_covers() -> None:
    env = Netted()
    env.take(env.b, "B", ASK, "0.30", 1)
    env.place(env.b, "B", BID, "0.30", 1)
    assert env.held(env.b) == 0


def test_turning_netting_on_holds_the_price_of_the_orders_that_would_close_a_position() -> None:
    env = Netted(cash=1_00)
    env.take(env.b, "A", ASK, "0.40", 1)  # NO on A at 0.60
    env.place(env.b, "A", BID, "0.30", 1)  # closes it: nothing held without netting
    assert env.held(env.b) == 0
    env.ex.subaccounts.set_netting(env.b, 0, True)
    assert env.held(env.b) == D("0.30")
    env.ex.subaccounts.set_netting(env.b, 0, False)  # nothing was returned: held as before
    assert env.held(env.b) == 0


def test_turning_netting_on_is_refused_when_the_account_cannot_hold_its_closing_orders() -> None:
    env = Netted(cash=60)
    env.take(env.b, "A", ASK, "0.40", 1)
    env.place(env.b, "A", BID, "0.30", 1)
    refused(env, "insufficient_balance", lambda: env.ex.subaccounts.set_netting(env.b, 0, True))
    assert env.ex.subaccounts.netting(env.b) == {0: False}


@pytest.mark.parametrize("compact", [False, True], ids=["journal", "snapshot"])
def test_a_restart_mid_event_keeps_the_return_and_settlement_pays_what_netting_off_does(
    tmp_path: Path, compact: bool
) -> None:
    journal = tmp_path / "j.jsonl"
    env = Netted(journal=journal)
    for me in (env.a, env.b):
        env.take(me, "A", ASK, "0.40", 1)
        env.take(me, "B", ASK, "0.30", 1)
    env.place(env.a, "B", BID, "0.30", 1)  # held: it would take the return back
    if compact:
        env.ex.compact()
    before = env.state()
    env.ex.close()
    again = Netted(journal=journal)
    assert again.ex.restored
    assert again.state() == before
    assert again.ex.accounts.collateral.netting == {again.a}
    assert again.ex.accounts.collateral.returned == {again.a: {"X": D(1)}}
    assert again.held(again.a) == D("0.30")
    again.ex.desk.cancel_all(again.a)
    again.ex.settlement.settle("A", "yes")
    again.ex.settlement.settle("B", "no")
    again.ex.settlement.settle("C", "no")
    assert again.ex.accounts.collateral.returned == {}
    cash = again.ex.accounts.cash_dollars
    assert cash(again.a) == cash(again.b) == D("100.00") - D("1.30") + 1
    again.ex.close()


def test_turning_netting_off_returns_nothing_more_and_keeps_what_was_returned_until_undone() -> (
    None
):
    env = Netted()
    for me in (env.a, env.b):
        env.take(me, "A", ASK, "0.40", 1)
        env.take(me, "B", ASK, "0.30", 1)
    env.ex.subaccounts.set_netting(env.a, 0, False)
    returned = env.ex.accounts.collateral.returned_dollars
    assert returned(env.a, "X") == 1  # the positions held keep their return
    for me in (env.a, env.b):
        env.take(me, "C", ASK, "0.20", 1)  # NO on C: with netting on, $2 would be returned
    assert returned(env.a, "X") == 1
    cash = env.ex.accounts.cash_dollars
    assert cash(env.a) == cash(env.b) + 1
    env.take(env.a, "A", BID, "0.40", 1)  # NO on A sold back: NO on B and C still sure of $1
    env.take(env.b, "A", BID, "0.40", 1)
    assert returned(env.a, "X") == 1
    env.take(env.a, "B", BID, "0.30", 1)  # NO on C alone: sure of nothing, the $1 taken back
    env.take(env.b, "B", BID, "0.30", 1)
    assert returned(env.a, "X") == 0
    assert cash(env.a) == cash(env.b)
    assert env.ex.accounts.collateral.returned == {}
    env.place(env.a, "C", BID, "0.10", 1)  # nothing returned, netting off: held as without
    assert env.held(env.a) == 0
    env.ex.desk.cancel_all(env.a)
    env.ex.settlement.settle("C", "yes")
    assert cash(env.a) == cash(env.b)


@pytest.mark.parametrize("by", ["place", "amend"])
def test_a_fill_that_ends_the_return_frees_the_orders_its_position_covers_at_once(by: str) -> None:
    env = Netted()
    env.take(env.a, "A", ASK, "0.40", 5)
    env.take(env.a, "B", ASK, "0.40", 5)  # NO on A and on B: sure of $5
    env.ex.subaccounts.set_netting(env.a, 0, False)  # the $5 stays returned
    env.place(env.a, "A", ASK, "0.90", 5)  # NO at 0.10: it would close YES on A
    env.place(env.m, "A", ASK, "0.50", 10)
    if by == "place":
        env.place(env.a, "A", BID, "0.50", 10)
    else:
        order = env.place(env.a, "A", BID, "0.05", 1).order
        env.ex.desk.amend_order(
            env.a, order.order_id, ticker="A", book_side=BID, price=D("0.50"), count=D(10)
        )
    # YES 5 on A and NO 5 on B are sure of nothing: the return is taken back, and the NO bid
    # on A can only close the YES held, so it holds nothing (as worked out from scratch)
    assert env.ex.accounts.collateral.returned_dollars(env.a, "X") == 0
    assert env.held(env.a) == 0
