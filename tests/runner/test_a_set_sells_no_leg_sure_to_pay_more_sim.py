"""A set held to its settlement sells back no leg it would be better to hold: in a mutually
exclusive event (at most one market settles YES), a market determined YES makes every other
market's NO sure to pay $1 a contract, so a set's NO there is held to its settlement, never sold
into bids below that (`group_held_to_settlement`, its reason naming what it is sure to pay). A
market determined NO says nothing of the others (the event need not be exhaustive): the leg
is sold back by today's rule.

The set: NO 5 in A and B of a three-market event, killed before C left; A is then determined
(its result known, not yet settled: the simulator holds it for its settlement timer) and the
loop starts again.

A leg held so is judged again while the loop runs: once its bids bring more after the fee than
it is sure to be paid, it is sold back as any leg is (a YES on a floored market, its floor sure).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from kalshi_cli.services.reconcile import reconcile
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.conftest import SimHarness
from tests.runner.sim_rig import rig
from tests.runner.simproc import Book, client_for
from tests.runner.test_a_set_holds_a_leg_that_no_longer_trades_sim import (
    _recorded_as_held_to_settlement,
)
from tests.runner.test_calls_off_the_deciding_path_sim import Gate
from tests.runner.test_leg_sets_under_faults_sim import (
    FaultsAtLeg,
    Killed,
    _amounts,
    _done,
    _kill_between_legs,
    _never_twice,
    _no,
    _sales,
    _ticking,
    _until_done,
)
from tests.waiting import poll_until

EVENT = "KXHELD-SIM"
A, B, C = (f"{EVENT}-{c}" for c in "ABC")
TICKERS = [A, B, C]
A_DAY = 86_400  # A's settlement timer: it stays determined for the whole test


def _killed_mid_set(
    sim: SimHarness,
    tmp_path: Path,
    account: AccountInfo,
    tickers: list[str],
    *,
    faulting: str,
    legs: list[Intent],
) -> None:
    """The arbitrage's set of `legs` sent by a loop killed once the leg in `faulting` is
    reached: the legs before it done, the rest never sent."""
    transport = FaultsAtLeg(sim, {faulting: {}})
    _kill_between_legs(transport)
    killed = rig(
        sim, tmp_path, tickers, strategy="arbitrage", params={}, transport=transport,
        trader=account,
    )  # fmt: skip
    with killed as r, pytest.raises(Killed):
        r.loop.legs.execute(legs, last_data_at=r.loop.clock.wall())


def _killed_before_c_then_a_determined(sim: SimHarness, tmp_path: Path, result: str) -> AccountInfo:
    """Three markets of a mutually exclusive event, each bid NO 0.40 and asked NO 0.60; a set
    killed after A and B filled NO 5 each, before C left; A then determined `result`, and the
    start's reconcile run, as `kalshi trade` runs it."""
    for ticker in TICKERS:
        sim.create_market(
            ticker,
            event_ticker=EVENT,
            mutually_exclusive=True,
            collateral_return_type="MECNET",
            settlement_timer_seconds=A_DAY,
        )
    with client_for(sim.new_account(balance_cents=10_000_000)) as maker:
        for ticker in TICKERS:
            Book(maker, ticker).quote("0.40", "0.60")
    account = sim.new_account(balance_cents=10_000_000)
    _killed_mid_set(sim, tmp_path, account, TICKERS, faulting=C, legs=[_no(t) for t in TICKERS])
    httpx.post(f"{sim.admin_url}/markets/{A}/determine", json={"result": result}).raise_for_status()
    with client_for(account) as reader, Store.open(tmp_path / "state.db") as store:
        reconcile(reader, store)
    return account


@pytest.mark.slow
def test_a_leg_sure_to_pay_a_dollar_is_held_not_sold_into_the_bids(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A determined YES: B's NO 5 is sure to pay $5, its bids pay $2. Both are held to their
    settlement, nothing is sold, and the set stays broken. Before, B's NO 5 was sold at $0.40."""
    account = _killed_before_c_then_a_determined(sim, tmp_path, "yes")
    with rig(sim, tmp_path, TICKERS, strategy="arbitrage", params={}, trader=account) as again:
        done = _until_done(again)
        assert done["status"] == "broken", done
        assert _sales(again) == []
        held = {e["ticker"]: e for e in again.events("group_held_to_settlement")}
        assert set(held) == {A, B}
        kept = held[B]
        assert Decimal(str(kept["count"])) == 5
        assert _amounts(kept["held"]) == {f"{A} no": 5, f"{B} no": 5, f"{C} no": 0}
        assert "sure to pay $5.00" in str(kept["reason"]), kept
        assert f"{A} determined yes" in str(kept["reason"]), kept
        positions = {p.ticker: -p.position for p in again.client.portfolio.get_positions()}
        assert (positions.get(A), positions.get(B)) == (Decimal(5), Decimal(5))
        _recorded_as_held_to_settlement(again, frozenset({0, 1}))
        _never_twice(again)


@pytest.mark.slow
def test_a_leg_a_no_result_elsewhere_says_nothing_of_is_sold_back_as_before(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A determined NO: B may still settle YES (a mutually exclusive event need not have a
    YES), so nothing is sure of B's NO: it is sold back into the bids, A's held."""
    account = _killed_before_c_then_a_determined(sim, tmp_path, "no")
    with rig(sim, tmp_path, TICKERS, strategy="arbitrage", params={}, trader=account) as again:
        done = _until_done(again)
        assert done["status"] == "broken", done
        assert _sales(again) == [(B, Decimal(5), Decimal(5))]
        assert [e["ticker"] for e in again.events("group_held_to_settlement")] == [A]
        _never_twice(again)


FLOORED = "KXFLOORSET-SIM"
FA, FB = f"{FLOORED}-A", f"{FLOORED}-B"  # A's YES is paid $0.50 whatever its result


def _yes(ticker: str) -> Intent:
    # the book bids YES 0.40 and asks 0.60, 100 deep
    return Intent(
        ticker,
        Side.YES,
        Action.BUY,
        Decimal("0.60"),
        Decimal(5),
        Decimal("0.70"),
        "a set of one YES in each market",
        strategy="arbitrage",
        time_in_force=TimeInForce.IOC,
    )


@pytest.mark.slow
def test_a_leg_held_to_settlement_is_sold_once_its_bids_beat_what_it_is_sure_of(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A set of YES 5 in A (floored at $0.50) and B, killed after A filled: the next loop finds
    A's YES 5 sure of $2.50 and its $0.40 bids bringing less after the fee, so it holds them.
    A's bids then rise to $0.70 ($3.50, less the fee, beats $2.50): the held leg is judged
    again and sold back, and the set ends flat. Before, it was held until its settlement."""
    sim.create_market(FA, event_ticker=FLOORED, settlement_floor_dollars="0.50")
    sim.create_market(FB, event_ticker=FLOORED)
    with client_for(sim.new_account(balance_cents=10_000_000)) as maker:
        books = {t: Book(maker, t) for t in (FA, FB)}
        for book in books.values():
            book.quote("0.40", "0.60")
        account = sim.new_account(balance_cents=10_000_000)
        _killed_mid_set(sim, tmp_path, account, [FA, FB], faulting=FB, legs=[_yes(FA), _yes(FB)])
        with rig(sim, tmp_path, [FA, FB], strategy="arbitrage", params={}, trader=account) as again:
            held = _until_done(again)
            assert held["status"] == "broken", held
            (kept,) = again.events("group_held_to_settlement")
            assert kept["ticker"] == FA
            assert "sure to pay $2.50" in str(kept["reason"]), kept
            assert _sales(again) == []

            books[FA].quote("0.70", "0.80")
            assert poll_until(lambda: bool(_sales(again)), between=lambda: _ticking(again))
            assert _sales(again) == [(FA, Decimal(5), Decimal(5))]
            assert poll_until(lambda: len(_done(again)) == 2, between=lambda: _ticking(again))
            assert _done(again)[-1]["status"] == "flat", _done(again)
            assert again.store.leg_sets.unfinished(0) == []
            positions = {p.ticker: p.position for p in again.client.portfolio.get_positions()}
            assert positions.get(FA, Decimal(0)) == 0
            _never_twice(again)


@pytest.mark.slow
def test_a_held_leg_worth_selling_waits_for_the_sets_sale_on_its_way(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A set of YES 5 in A (floored at $0.50) and C, killed before B left: the next loop holds
    A (its $0.40 bids bring less than its floor) and sells C back. While C's sale is held in the
    network, A's bids rise past its floor and the loop ticks: A is judged again only once C's
    answer is booked, so the set never has two orders out, and A is sold once."""
    fc = f"{FLOORED}-C"
    sim.create_market(FA, event_ticker=FLOORED, settlement_floor_dollars="0.50")
    for ticker in (FB, fc):
        sim.create_market(ticker, event_ticker=FLOORED)
    with client_for(sim.new_account(balance_cents=10_000_000)) as maker:
        books = {t: Book(maker, t) for t in (FA, FB, fc)}
        for book in books.values():
            book.quote("0.40", "0.60")
        account = sim.new_account(balance_cents=10_000_000)
        _killed_mid_set(
            sim, tmp_path, account, [FA, fc, FB], faulting=FB, legs=[_yes(FA), _yes(fc), _yes(FB)]
        )
        gate = Gate()
        gate.holds = lambda request: request.method == "POST" and fc.encode() in request.content
        again = rig(
            sim, tmp_path, [FA, fc, FB], strategy="arbitrage", params={}, trader=account,
            transport=gate, send_workers=2,
        )  # fmt: skip
        with again as r:
            try:
                assert poll_until(gate.held.is_set, between=lambda: _ticking(r))
                (kept,) = r.events("group_held_to_settlement")
                assert kept["ticker"] == FA
                books[FA].quote("0.70", "0.80")

                def risen() -> bool:
                    book = r.feed.book(FA)
                    # the requote cancels before it places: the book may have no bid between
                    bids = book.yes_bids if book is not None else ()
                    return bool(bids) and bids[0].price == Decimal("0.70")

                assert poll_until(risen, between=lambda: _ticking(r))
                for _ in range(3):
                    _ticking(r)
                sells = [i.ticker for i in r.store.orders.intents() if i.action is Action.SELL]
                assert sells == [fc]
            finally:
                gate.open.set()
            assert poll_until(lambda: len(_sales(r)) == 2, between=lambda: _ticking(r))
            assert _sales(r) == [(fc, Decimal(5), Decimal(5)), (FA, Decimal(5), Decimal(5))]
            assert poll_until(
                lambda: r.store.leg_sets.unfinished(0) == [], between=lambda: _ticking(r)
            )
            _never_twice(r)
