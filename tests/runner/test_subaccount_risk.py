"""What the risk rules count for a loop on a subaccount (`kalshi trade --subaccount N`,
docs/trade-loop.md "On a subaccount"), on the fakes: the daily circuit breaker is the account's
(it sums the day's realized P&L of every subaccount's fills in the state file, so a loss on 0
stops a loop on 1 for the day, also after a restart), while the stop-loss floor counts the
loop's own subaccount's positions only (another subaccount's position, however deep its loss,
is another book)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.store import FillRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.runner.fakes import START, Rig, make_rig, new_exchange, place_on_desk, trader

LAL = "KXNBAGAME-SIM-LALGSW-LAL"


def _loss(store: Store, fill_id: str, amount: str, subaccount: int) -> None:
    """A fill of the day that closed a position at a loss, booked on `subaccount`."""
    store.fills.record_fill(
        FillRecord(
            fill_id,
            f"o-{fill_id}",
            None,
            LAL,
            BookSide.ASK,
            Decimal("0.10"),
            Decimal("1"),
            Decimal("0"),
            True,
            START + 1,
            "spike",
            Decimal(amount),
            subaccount=subaccount,
        )
    )


def _on(rig: Rig, subaccount: int) -> Rig:
    # as `kalshi trade --subaccount N` sets the loop's client before the start
    rig.client.subaccount = subaccount
    return rig


@pytest.mark.parametrize(("loop_on", "loss_on"), [(1, 0), (0, 1), (1, 2), (1, 1)])
def test_the_breaker_trips_on_the_accounts_day_whatever_the_subaccount(
    tmp_path: Path, loop_on: int, loss_on: int
) -> None:
    rig = _on(make_rig(tmp_path / "s.db", risk={"daily_loss_limit": 5}), loop_on)
    rig.step()
    assert rig.store.trading.trading_state().state == "ACTIVE"
    _loss(rig.store, "f-loss", "-5", loss_on)
    rig.step()
    assert rig.store.trading.trading_state().state == "REDUCING"
    trips = rig.store.trading.risk_trips(rule="circuit_breaker")
    assert trips and "realized P&L -$5.00" in trips[0].detail
    sent = len(rig.client.requests)
    for _ in range(120):  # a minute: the spike scenario places an order within one otherwise
        rig.step(0.5)
    assert [r for r in rig.client.requests[sent:] if not r.reduce_only] == []


def test_the_breaker_adds_the_losses_of_every_subaccount(tmp_path: Path) -> None:
    """-3 on 0 and -2 on 1 are the account's -5: the limit, though neither reaches it alone."""
    rig = _on(make_rig(tmp_path / "s.db", risk={"daily_loss_limit": 5}), 1)
    rig.step()
    _loss(rig.store, "f-0", "-3", 0)
    rig.step()
    assert rig.store.trading.trading_state().state == "ACTIVE", "-3 alone is above the limit"
    assert not rig.loop.questions.risk.check_circuit_breaker()
    _loss(rig.store, "f-1", "-2", 1)
    rig.step()
    assert rig.store.trading.trading_state().state == "REDUCING"
    assert rig.loop.questions.risk.check_circuit_breaker()


def test_a_loop_on_1_started_after_a_days_loss_on_0_places_no_new_order(tmp_path: Path) -> None:
    """The loss was booked on 0 (by a loop on 0, or `kalshi pnl`) before the loop on 1 started:
    the new loop reads the same day's trip and sends nothing but reduce-only orders."""
    state = tmp_path / "s.db"
    first = _on(make_rig(state, risk={"daily_loss_limit": 5}), 0)
    first.step()
    _loss(first.store, "f-loss", "-6", 0)
    first.step()
    assert first.store.trading.trading_state().state == "REDUCING"
    first.store.close()
    later = _on(make_rig(state, risk={"daily_loss_limit": 5}, clock=ManualClock(START + 10)), 1)
    assert later.loop.questions.risk.check_circuit_breaker()
    for _ in range(120):
        later.step(0.5)
    assert [r for r in later.client.requests if not r.reduce_only] == []
    # the control: the same loop on a fresh state file trades within the minute
    fresh = _on(make_rig(tmp_path / "fresh.db", clock=ManualClock(START + 10)), 1)
    for _ in range(120):
        fresh.step(0.5)
    assert [r for r in fresh.client.requests if not r.reduce_only]


@pytest.mark.parametrize("loop_on", [0, 1])
def test_the_stop_loss_floor_counts_the_loops_subaccounts_positions_only(
    tmp_path: Path, loop_on: int
) -> None:
    """Subaccount 0 of the account buys 10 YES at 0.99 and the floor rises above the mark: a
    loop on 0 closes that position; a loop on 1 lists the fill (the listing covers every
    subaccount) but it is 0's book, not its own, so it holds no position and closes nothing."""
    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    me = trader(exchange)
    rig = make_rig(
        tmp_path / "s.db", exchange=exchange, clock=clock, account_id=me, params={"spike_share": 5}
    )
    _on(rig, loop_on)
    rig.step(0.1)
    place_on_desk(exchange, me, LAL, BookSide.BID, "0.99", "10", time_in_force=TimeInForce.IOC)
    rig.step(0.1)  # the loop reads the fill
    held = rig.loop.portfolio.position(LAL)
    sent = len(rig.client.requests)
    rig.loop.questions.risk.limits = RiskLimits(stop_loss_share=Decimal("0.99"))
    for _ in range(4):
        rig.step(0.1)
    closes = [r for r in rig.client.requests[sent:] if r.reduce_only]
    if loop_on == 0:
        assert held == 10
        assert closes and closes[0].book_side is BookSide.ASK
    else:
        assert held == 0
        assert closes == []


def test_a_loss_on_0_booked_by_another_process_stops_a_running_loop_on_1(tmp_path: Path) -> None:
    """A loop on 1 never reads 0's fills itself: 0's loss reaches the state file from another
    connection (`kalshi pnl` or `kalshi reconcile` bringing in every subaccount's fills, a
    loop on 0 before). The loop on 1 sees it on its next tick (runner/books/records.py re-reads on
    another connection's commit) and trips."""
    state = tmp_path / "s.db"
    rig = _on(make_rig(state, risk={"daily_loss_limit": 5}), 1)
    rig.step()
    rig.step()
    assert not rig.loop.questions.risk.check_circuit_breaker()
    with Store.open(state, clock=rig.clock) as other:
        _loss(other, "f-by-hand", "-5", 0)
    rig.step()
    assert rig.store.trading.trading_state().state == "REDUCING"
    sent = len(rig.client.requests)
    for _ in range(120):
        rig.step(0.5)
    assert [r for r in rig.client.requests[sent:] if not r.reduce_only] == []
