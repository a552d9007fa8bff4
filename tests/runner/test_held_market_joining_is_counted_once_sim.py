"""A market of the loop's event that the account holds but the loop did not trade (counted in the
event's book as held elsewhere, runner/execution/elsewhere.py) and that then joins the loop is
counted once, by the loop's view: what the account holds there, and the loop's own orders there.
docs/trade-loop.md "Markets that open while the loop runs"."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.runner.config import Selection
from kalshi_cli.services.reconcile import reconcile
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.sim_rig import Rig, rig
from tests.runner.simproc import Book, client_for
from tests.waiting import wait_until

EVENT = "KXROLL-26JAN01"
FIRST, HELD = f"{EVENT}-A", f"{EVENT}-B"


def _placed(r: Rig, ticker: str) -> list[dict[str, object]]:
    return [e for e in r.events("order_placed") if e["ticker"] == ticker]


def _ticks_until(r: Rig, found: Any, what: str) -> Any:
    def tick() -> Any:
        r.loop.tick(r.feed.drain_messages())
        return found()

    return wait_until(tick, what)


HAND = ("80", "0.30")  # a buy of YES rested by hand in HELD: $24 lost if HELD settles NO


def _held_leg(r: Rig) -> Any:
    (limit,) = r.loop.executor.event_limits("market-maker", FIRST)
    return {leg.ticker: leg for leg in limit.held}[HELD]


def _held_and_paused(
    sim: SimHarness, tmp_path: Path, *, reconciled: bool, hand_order: bool = False
) -> tuple[AccountInfo, str | None]:
    """The account that buys 5 YES in HELD by hand, HELD then paused (as the loop starts, it
    does not trade it: the event's book counts it as held elsewhere); `reconciled`: the
    account's fills in the state file, as `kalshi trade`'s start reconciles them (and its orders,
    placed elsewhere). `hand_order`: a buy of YES also rested by hand in HELD before it is
    paused; its order id is returned beside the account."""
    maker = client_for(sim.new_account(balance_cents=10_000_000))
    trader = sim.new_account(balance_cents=10_000_000)
    buyer = client_for(trader)
    try:
        for ticker in (FIRST, HELD):
            sim.create_market(ticker)
            Book(maker, ticker).quote("0.40", "0.60")
        Book(buyer, HELD).order(BookSide.BID, "0.60", "5", TimeInForce.IOC)
        rested = (
            Book(buyer, HELD).order(BookSide.BID, HAND[1], HAND[0], TimeInForce.GTC)
            if hand_order
            else None
        )
        sim.set_status(HELD, "paused")
        if reconciled:
            with Store.open(tmp_path / "state.db") as store:
                reconcile(buyer, store)
    finally:
        maker.close()
        buyer.close()
    return trader, rested


@pytest.mark.parametrize("start_reconciled", [False, True])
def test_a_held_market_that_joins_the_loop_is_counted_once_with_the_loops_orders(
    sim: SimHarness, tmp_path: Path, start_reconciled: bool
) -> None:
    # HELD opens again (`activated`) and joins the loop, which quotes there (calls on workers)
    trader, _ = _held_and_paused(sim, tmp_path, reconciled=start_reconciled)
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={}, trader=trader,
             selection=Selection(event=EVENT), risk={"max_event_loss": "500"}, send_workers=2,
             settings={"new_markets_poll_s": 3600.0}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        before = _held_leg(r)
        assert (before.yes, before.no) == (Decimal(5), Decimal(0)), before
        sim.set_status(HELD, "open")

        def quoting_held() -> bool:
            return bool(_placed(r, HELD)) and bool(r.loop.portfolio.view(HELD).resting)

        _ticks_until(r, quoting_held, f"the loop's orders resting in {HELD}")
        (added,) = r.events("market_added")
        assert added["ticker"] == HELD and added["why"] == "activated", added
        view = r.loop.portfolio.view(HELD)
        # the account's position there is the loop's to count (its position limit reads it)
        assert view.position == Decimal(5), view
        after = _held_leg(r)
        # the 5 contracts once, at what they cost, and the loop's resting orders with them
        assert (after.yes, after.no, after.cost) == (Decimal(5), Decimal(0), before.cost), after
        assert after.losing_yes < 0 or after.losing_no < 0, after


def test_a_held_market_assigned_to_a_strategy_is_its_own_once_it_joins(
    sim: SimHarness, tmp_path: Path
) -> None:
    # `kalshi trade --assign market-maker:HELD` was run before: the start gives the account's
    # contracts in its markets to the strategy; a market that joins later is given them too
    trader, _ = _held_and_paused(sim, tmp_path, reconciled=True)
    with Store.open(tmp_path / "state.db") as store:
        store.trading.set_assignments({HELD: "market-maker"})
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={}, trader=trader,
             selection=Selection(event=EVENT), send_workers=2,
             settings={"new_markets_poll_s": 3600.0}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        assert not r.events("position_assigned")
        sim.set_status(HELD, "open")
        _ticks_until(r, lambda: r.events("market_added"), f"{HELD} taken on")
        (assigned,) = r.events("position_assigned")
        assert (assigned["ticker"], assigned["strategy"]) == (HELD, "market-maker"), assigned
        assert assigned["count"] == "5.00", assigned
        owned = r.loop.portfolio.view_for(HELD, "market-maker")
        assert owned.position == Decimal(5), owned


def _buys_of_yes(r: Rig, event: str) -> list[dict[str, object]]:
    return [
        e for e in r.events(event) if (e["ticker"], e["side"], e["action"]) == (HELD, "yes", "buy")
    ]


@pytest.mark.parametrize("start_reconciled", [False, True])
def test_an_order_rested_by_hand_in_a_market_that_joins_stays_in_its_events_worst_case(
    sim: SimHarness, tmp_path: Path, start_reconciled: bool
) -> None:
    # HELD, held (5 YES for $3) and with 80 YES at $0.30 rested by hand, opens again and joins
    # the loop (calls on workers); no message of the hand order comes after the join
    trader, rested = _held_and_paused(sim, tmp_path, reconciled=start_reconciled, hand_order=True)
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={}, trader=trader,
             selection=Selection(event=EVENT), risk={"max_event_loss": "36"}, send_workers=2,
             settings={"new_markets_poll_s": 3600.0}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        before = _held_leg(r)
        assert before.losing_no <= -Decimal("24"), before  # counted as held elsewhere
        sim.set_status(HELD, "open")
        _ticks_until(r, lambda: r.events("market_added"), f"{HELD} taken on")
        # the loop's books hold the hand order, and the event's worst case counts it
        resting = r.loop.portfolio.view(HELD).resting
        assert [(o.order_id, o.remaining) for o in resting] == [(rested, Decimal(80))], resting
        after = _held_leg(r)
        assert after.losing_no <= before.losing_no, after
        # the loop's bid of YES there, with it, would lose more than $36 if both settle NO:
        # refused by the event's limit, and never sent
        what = f"the loop's bid of YES in {HELD} judged"
        _ticks_until(
            r, lambda: _buys_of_yes(r, "order_placed") + _buys_of_yes(r, "risk_denied"), what
        )
        assert not _buys_of_yes(r, "order_placed"), _buys_of_yes(r, "order_placed")
        denied = _buys_of_yes(r, "risk_denied")
        assert {e["code"] for e in denied} == {"EVENT_LOSS"}, denied
        assert f"({FIRST} no, {HELD} no)" in str(denied[0]["detail"]), denied
